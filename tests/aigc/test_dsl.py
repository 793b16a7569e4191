"""The workflow DSL: valid documents load; every malformed one is reported with its line, node and reason."""

from __future__ import annotations

import json
import textwrap

import pytest

from deepfort.aigc.workflow import (
    WorkflowValidationError,
    bind_inputs,
    default_registry,
    load_workflow,
    parse_workflow,
)
from deepfort.errors import InvalidRequestError

VALID = textwrap.dedent(
    """\
    version: 2
    name: story
    inputs:
      text: {type: string, required: true}
      shots: {type: integer, default: 3}
    nodes:
      - id: outline
        type: template
        params: {template: "Outline {{ inputs.text }} in {{ inputs.shots }} shots"}
        timeout: 5
        retry: {max: 2, backoff: 0.5}
      - id: check
        type: condition
        params: {if: "inputs.shots > 2", then: long, else: short}
      - id: long
        type: template
        params: {template: "long {{ nodes.outline.text }}"}
        on_error: continue
        default: {text: ""}
      - id: short
        type: template
        params: {template: "short"}
        on_error: {fail_branch: rescue}
      - id: rescue
        type: template
        params: {template: "rescued"}
      - id: each
        type: iterate
        params:
          over: "{{ inputs.text.split() }}"
          parallel: 2
          collect: "{{ nodes.word.text }}"
          body:
            nodes:
              - {id: word, type: template, params: {template: "{{ index }}{{ item }}{{ nodes.outline.text}}"}}
    edges:
      - outline -> check
      - {from: outline, to: each}
    outputs:
      summary: "{{ nodes.long.text }}"
      words: "{{ nodes.each.results }}"
    """
)


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkflowValidationError) as info:
        parse_workflow(text, default_registry())
    return [str(problem) for problem in info.value.problems]


def test_valid_yaml_loads_with_specs() -> None:
    version = load_workflow(VALID, default_registry())
    workflow = version.workflow
    assert (workflow.name, workflow.version) == ("story", 2)
    outline = workflow.graph.node("outline")
    assert outline.timeout == 5.0 and outline.retry.max == 2 and outline.line == 7
    assert workflow.graph.node("long").on_error.default == {"text": ""}
    assert workflow.graph.node("short").on_error.target == "rescue"
    assert workflow.inputs["text"].required and not workflow.inputs["shots"].required
    assert len(version.digest) == 64


def test_json_document_loads_and_hash_is_content_based() -> None:
    import yaml

    as_json = json.dumps(yaml.safe_load(VALID), indent=1)
    from_json = load_workflow(as_json, default_registry())
    assert from_json.digest == load_workflow(VALID, default_registry()).digest
    changed = load_workflow(VALID.replace("version: 2", "version: 3"), default_registry())
    assert changed.digest != from_json.digest


def test_published_version_is_frozen() -> None:
    version = load_workflow(VALID, default_registry())
    with pytest.raises(AttributeError):
        version.digest = "x"  # type: ignore[misc]


TEXT_INPUT = "{text: {type: string}}"


def doc(nodes: str, *, edges: str = "[]", inputs: str = TEXT_INPUT, outputs: str = "{}") -> str:
    """A one-graph document; `BODY` in `nodes` stands for a one-node iterate body."""
    nodes = nodes.replace("BODY", "{nodes: [{id: w, type: template, params: {template: x}}]}")
    body = textwrap.indent(nodes, "  ")
    return f"name: t\ninputs: {inputs}\nnodes:\n{body}\nedges: {edges}\noutputs: {outputs}\n"


A = '- {id: a, type: template, params: {template: "x"}}'
B_REF_A = '- {id: b, type: template, params: {template: "{{ nodes.a.text }}"}}'

CASES = [
    # Found by schemathesis: the YAML reader refuses control characters before parsing starts.
    ("control characters", "\u00f2\u0010Z", "line 0: not valid YAML/JSON: unacceptable character #x0010"),
    (
        "unknown node type",
        doc("- {id: a, type: teleport}"),
        "line 4, node a: unknown node type 'teleport' "
        "(known: condition, http, image, iterate, llm, storyboard, template, tts, video)",
    ),
    (
        "unknown node ref",
        doc('- {id: a, type: template, params: {template: "{{ nodes.ghost.text }}"}}'),
        "line 4, node a: param 'template': unknown node 'ghost'",
    ),
    ("not upstream", doc(A + "\n" + B_REF_A), "line 5, node b: param 'template': nodes.a is not upstream"),
    ("cycle", doc(A + "\n" + B_REF_A, edges="[a -> b, b -> a]"), "line 4, node a: cycle: a -> b -> a"),
    (
        "unknown output field",
        doc(A + "\n" + B_REF_A.replace("text", "txt"), edges="[a -> b]"),
        "line 5, node b: param 'template': node 'a' has no output 'txt' (outputs: text)",
    ),
    (
        "undeclared input",
        doc('- {id: a, type: template, params: {template: "{{ inputs.nope }}"}}'),
        "line 4, node a: param 'template': unknown input 'nope'",
    ),
    (
        "type mismatch ref",
        doc('- {id: a, type: iterate, params: {over: "{{ inputs.text }}", body: BODY}}'),
        "line 4, node a: param 'over': expects list, but inputs.text is string",
    ),
    (
        "type mismatch node output",
        doc(
            A + '\n- {id: it, type: iterate, params: {over: "{{ nodes.a.text }}", body: BODY}}',
            edges="[a -> it]",
        ),
        "line 5, node it: param 'over': expects list, but nodes.a.text is string",
    ),
    (
        "literal type mismatch",
        doc('- {id: a, type: iterate, params: {over: [1], parallel: "two", body: BODY}}'),
        "line 4, node a: param 'parallel' expects integer, got 'two'",
    ),
    (
        "missing required param",
        doc("- {id: a, type: template}"),
        "line 4, node a: missing required param 'template'",
    ),
    (
        "unknown param",
        doc('- {id: a, type: template, params: {template: "x", colour: red}}'),
        "line 4, node a: unknown param 'colour' for template (known: template, vars)",
    ),
    ("duplicate id", doc(A + "\n" + A), "line 5, node a: duplicate node id"),
    (
        "bad id",
        doc('- {id: "a b", type: template, params: {template: x}}'),
        "line 4: node id 'a b' must be a name",
    ),
    ("bad edge", doc(A, edges="[a -> zz]"), "line 5: edge a -> zz names unknown node 'zz'"),
    (
        "bad on_error",
        doc("- {id: a, type: template, params: {template: x}, on_error: shrug}"),
        "line 4, node a: on_error must be abort, continue or {fail_branch: <id>}",
    ),
    (
        "fail branch unknown",
        doc("- {id: a, type: template, params: {template: x}, on_error: {fail_branch: zz}}"),
        "line 4, node a: names node 'zz', which is not in the same graph",
    ),
    (
        "bad retry",
        doc("- {id: a, type: template, params: {template: x}, retry: {max: -1}}"),
        "line 4, node a: retry must be",
    ),
    (
        "bad timeout",
        doc("- {id: a, type: template, params: {template: x}, timeout: 0}"),
        "line 4, node a: timeout must be a positive number",
    ),
    (
        "condition without branch",
        doc('- {id: a, type: condition, params: {if: "true"}}'),
        "line 4, node a: condition needs `then` or `else`",
    ),
    (
        "condition branch unknown",
        doc('- {id: a, type: condition, params: {if: "true", then: zz}}'),
        "line 4, node a: names node 'zz', which is not in the same graph",
    ),
    (
        "item outside body",
        doc('- {id: a, type: template, params: {template: "{{ item }}"}}'),
        "line 4, node a: param 'template': `item` is only defined inside an iterate body",
    ),
    (
        "template syntax",
        doc('- {id: a, type: template, params: {template: "{{ nodes.a. }}"}}'),
        "line 4, node a: param 'template': template syntax error",
    ),
    (
        "collect outside body",
        doc(
            A + '\n- {id: it, type: iterate, params: {over: [1], collect: "{{ nodes.a.text }}", body: BODY}}',
            edges="[a -> it]",
        ),
        "line 5, node it: param 'collect' references nodes.a, which is not in the body",
    ),
    (
        "body node not upstream",
        doc(
            "- id: it\n  type: iterate\n  params:\n    over: [1]\n    body:\n      nodes:\n"
            '        - {id: w, type: template, params: {template: "{{ nodes.v.text }}"}}\n'
            "        - {id: v, type: template, params: {template: x}}"
        ),
        "line 10, node w: param 'template': nodes.v is not upstream",
    ),
    (
        "unknown output ref",
        doc(A, outputs='{o: "{{ nodes.zz.text }}"}'),
        "line 6: output 'o': unknown node 'zz'",
    ),
    ("bad input type", doc(A, inputs="{n: {type: float}}"), "line 2: input 'n' has unknown type 'float'"),
    (
        "bad input default",
        doc(A, inputs="{n: {type: integer, default: x}}"),
        "line 2: input 'n': default 'x' is not a integer",
    ),
    ("empty nodes", "name: t\nnodes: []\n", "line 2: `nodes` must be a non-empty list"),
    (
        "unknown top key",
        "name: t\nnodez: []\nnodes: [" + A[2:] + "]\n",
        "line 1: unknown top-level key 'nodez'",
    ),
    ("yaml syntax", "name: t\nnodes: [\n", "line 3: not valid YAML/JSON"),
]


@pytest.mark.parametrize(("case", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_malformed_workflow_is_reported(case: str, text: str, expected: str) -> None:
    problems = problems_of(text)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_all_problems_reported_at_once() -> None:
    text = doc('- {id: a, type: teleport}\n- {id: b, type: template, params: {template: "{{ inputs.zz }}"}}')
    problems = problems_of(text)
    assert len(problems) == 2 and "node a" in problems[0] and "node b" in problems[1]


def test_bind_inputs_fills_defaults_and_rejects_missing() -> None:
    workflow = parse_workflow(VALID, default_registry())
    assert bind_inputs(workflow, {"text": "hi"}) == {"text": "hi", "shots": 3}
    with pytest.raises(InvalidRequestError, match="missing required input 'text'"):
        bind_inputs(workflow, {})
    with pytest.raises(InvalidRequestError, match="input 'shots' expects integer"):
        bind_inputs(workflow, {"text": "hi", "shots": "many"})
