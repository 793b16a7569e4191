"""Load a workflow from YAML or JSON text and check it before anything runs.

Document shape::

    version: 1
    name: story
    inputs: {text: {type: string, required: true}, shots: {type: integer, default: 4}}
    nodes:
      - {id: outline, type: template, params: {template: "Shots for {{ inputs.text }}"},
         timeout: 30, retry: {max: 2, backoff: 1}, on_error: abort}
      - {id: polish, type: template, params: {template: "{{ nodes.outline.text }}"},
         on_error: continue, default: {text: ""}}
    edges: ["outline -> polish"]          # or {from: outline, to: polish}
    outputs: {script: "{{ nodes.polish.text }}"}

`on_error` is `abort` (the default), `continue` (the node's output becomes its `default`) or
`{fail_branch: <node id>}`. Every problem found is reported at once as `line N, node <id>: reason`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml
from jinja2 import TemplateSyntaxError

from deepfort.aigc.workflow.nodes import NodeRegistry
from deepfort.aigc.workflow.nodes.base import Node
from deepfort.aigc.workflow.spec import (
    VALUE_TYPES,
    Edge,
    InputSpec,
    NodeSpec,
    OnError,
    RetryPolicy,
    SubGraph,
    ValueType,
    Workflow,
    WorkflowVersion,
    value_matches,
)
from deepfort.aigc.workflow.validate import GraphChecker, Problem, WorkflowValidationError
from deepfort.errors import InvalidRequestError

_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = {"version", "name", "description", "inputs", "nodes", "edges", "outputs"}
_NODE_KEYS = {"id", "type", "params", "timeout", "retry", "on_error", "default", "description"}


class _Lines:
    """Source lines of the mappings and sequence items of a composed YAML document."""

    def __init__(self) -> None:
        self._lines: dict[int | tuple[int, int], int] = {}

    def of(self, value: object, fallback: int = 0) -> int:
        return self._lines.get(id(value), fallback)

    def item(self, seq: list[Any], index: int, fallback: int = 0) -> int:
        return self._lines.get((id(seq), index), fallback)

    def plain(self, node: yaml.Node, loader: yaml.SafeLoader) -> Any:
        if isinstance(node, yaml.MappingNode):
            mapping: dict[Any, Any] = {}
            self._lines[id(mapping)] = node.start_mark.line + 1
            for key, value in node.value:
                mapping[self.plain(key, loader)] = self.plain(value, loader)
            return mapping
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = []
            self._lines[id(items)] = node.start_mark.line + 1
            for index, child in enumerate(node.value):
                self._lines[(id(items), index)] = child.start_mark.line + 1
                items.append(self.plain(child, loader))
            return items
        return loader.construct_object(node, deep=True)


def _compose(text: str) -> tuple[Any, _Lines]:
    loader: yaml.SafeLoader | None = None
    try:
        # The reader already refuses control characters here, before any parsing.
        loader = yaml.SafeLoader(text)
        root = loader.get_single_node()
        lines = _Lines()
        return (lines.plain(root, loader) if root is not None else None), lines
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise WorkflowValidationError([Problem(line, None, f"not valid YAML/JSON: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()


class _Parser:
    def __init__(self, registry: NodeRegistry, lines: _Lines) -> None:
        self.registry = registry
        self.lines = lines
        self.problems: list[Problem] = []
        self.all_ids: set[str] = set()

    def problem(self, line: int, node: str | None, reason: str) -> None:
        self.problems.append(Problem(line, node, reason))

    def inputs(self, raw: Any, line: int) -> dict[str, InputSpec]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.problem(line, None, "`inputs` must be a mapping of name -> {type, default, required}")
            return {}
        specs: dict[str, InputSpec] = {}
        for name, decl in raw.items():
            decl = {} if decl is None else decl
            where = self.lines.of(decl, self.lines.of(raw, line))
            if not isinstance(decl, dict):
                self.problem(where, None, f"input {name!r} must be a mapping")
                continue
            kind = decl.get("type", "any")
            if kind not in VALUE_TYPES:
                self.problem(where, None, f"input {name!r} has unknown type {kind!r}")
                continue
            default = decl.get("default")
            if default is not None and not value_matches(default, kind):
                self.problem(where, None, f"input {name!r}: default {default!r} is not a {kind}")
            required = bool(decl.get("required", "default" not in decl))
            specs[str(name)] = InputSpec(str(name), kind, required, default)
        return specs

    def graph(self, raw_nodes: Any, raw_edges: Any, line: int) -> SubGraph:
        nodes: list[NodeSpec] = []
        if not isinstance(raw_nodes, list) or not raw_nodes:
            self.problem(line, None, "`nodes` must be a non-empty list")
            raw_nodes = []
        for index, raw in enumerate(raw_nodes):
            spec = self.node(raw, self.lines.item(raw_nodes, index, line))
            if spec is not None:
                nodes.append(spec)
        ids = {spec.id for spec in nodes}
        edges: list[Edge] = []
        raw_edges = raw_edges or []
        if not isinstance(raw_edges, list):
            self.problem(line, None, "`edges` must be a list")
            raw_edges = []
        for index, raw in enumerate(raw_edges):
            where = self.lines.item(raw_edges, index, line)
            if isinstance(raw, str) and "->" in raw:
                source, _, target = (part.strip() for part in raw.partition("->"))
            elif isinstance(raw, dict) and {"from", "to"} <= raw.keys():
                source, target = str(raw["from"]), str(raw["to"])
            else:
                self.problem(where, None, f"edge {raw!r} must be 'a -> b' or {{from: a, to: b}}")
                continue
            missing = [end for end in (source, target) if end not in ids]
            if missing:
                self.problem(where, None, f"edge {source} -> {target} names unknown node {missing[0]!r}")
                continue
            edges.append(Edge(source, target))
        return SubGraph(tuple(nodes), tuple(edges))

    def node(self, raw: Any, line: int) -> NodeSpec | None:
        if not isinstance(raw, dict):
            self.problem(line, None, "a node must be a mapping with `id` and `type`")
            return None
        line = self.lines.of(raw, line)
        node_id = raw.get("id")
        if not isinstance(node_id, str) or not _ID.match(node_id):
            self.problem(line, None, f"node id {node_id!r} must be a name (letters, digits, _)")
            return None
        if node_id in self.all_ids:
            self.problem(line, node_id, "duplicate node id")
            return None
        self.all_ids.add(node_id)
        for key in sorted(set(raw) - _NODE_KEYS):
            self.problem(line, node_id, f"unknown key {key!r}")
        type_name = raw.get("type")
        if not isinstance(type_name, str) or type_name not in self.registry:
            known = ", ".join(self.registry.known())
            self.problem(line, node_id, f"unknown node type {type_name!r} (known: {known})")
            return None
        cls = self.registry.get(type_name)
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            self.problem(line, node_id, "`params` must be a mapping")
            params = {}
        params = self.params(cls, dict(params), line, node_id)
        spec = NodeSpec(
            id=node_id,
            type=type_name,
            params=params,
            timeout=self.timeout(raw.get("timeout"), line, node_id),
            retry=self.retry(raw.get("retry"), line, node_id),
            on_error=self.on_error(raw, line, node_id),
            line=line,
        )
        for reason in cls.check(spec):
            self.problem(line, node_id, reason)
        return spec

    def params(self, cls: type[Node], params: dict[str, Any], line: int, node_id: str) -> dict[str, Any]:
        for name in sorted(set(params) - set(cls.params_schema)):
            known = ", ".join(sorted(cls.params_schema)) or "none"
            self.problem(line, node_id, f"unknown param {name!r} for {cls.type_name} (known: {known})")
        for name, decl in cls.params_schema.items():
            if name not in params:
                if decl.required:
                    self.problem(line, node_id, f"missing required param {name!r}")
                continue
            value = params[name]
            if name in cls.subgraph_params:
                params[name] = self.subgraph(value, line, node_id, name)
            elif not _has_template(value) and not value_matches(value, decl.type):
                self.problem(line, node_id, f"param {name!r} expects {decl.type}, got {value!r}")
        return params

    def subgraph(self, raw: Any, line: int, node_id: str, name: str) -> SubGraph:
        if not isinstance(raw, dict) or "nodes" not in raw:
            self.problem(line, node_id, f"param {name!r} must be a mapping with `nodes` (and `edges`)")
            return SubGraph((), ())
        return self.graph(raw.get("nodes"), raw.get("edges"), self.lines.of(raw, line))

    def timeout(self, raw: Any, line: int, node_id: str) -> float | None:
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
            self.problem(line, node_id, f"timeout must be a positive number of seconds, got {raw!r}")
            return None
        return float(raw)

    def retry(self, raw: Any, line: int, node_id: str) -> RetryPolicy:
        if raw is None:
            return RetryPolicy()
        attempts = raw.get("max", 0) if isinstance(raw, dict) else None
        backoff = raw.get("backoff", 0) if isinstance(raw, dict) else None
        if not (isinstance(attempts, int) and not isinstance(attempts, bool) and attempts >= 0) or not (
            isinstance(backoff, int | float) and not isinstance(backoff, bool) and backoff >= 0
        ):
            self.problem(line, node_id, "retry must be {max: int >= 0, backoff: seconds >= 0}")
            return RetryPolicy()
        return RetryPolicy(attempts, float(backoff))

    def on_error(self, raw: Mapping[str, Any], line: int, node_id: str) -> OnError:
        value = raw.get("on_error", "abort")
        if value == "abort":
            return OnError()
        if value == "continue":
            return OnError("continue", default=raw.get("default"))
        if (
            isinstance(value, dict)
            and set(value) == {"fail_branch"}
            and isinstance(value["fail_branch"], str)
        ):
            return OnError("fail_branch", target=value["fail_branch"])
        self.problem(
            line, node_id, f"on_error must be abort, continue or {{fail_branch: <id>}}, got {value!r}"
        )
        return OnError()


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list):
        return any(_has_template(item) for item in value)
    if isinstance(value, dict):
        return any(_has_template(item) for item in value.values())
    return False


def parse_workflow(text: str, registry: NodeRegistry) -> Workflow:
    """Parse and check a workflow document; raises `WorkflowValidationError` listing every problem."""
    raw, lines = _compose(text)
    if not isinstance(raw, dict):
        raise WorkflowValidationError([Problem(1, None, "a workflow must be a mapping")])
    parser = _Parser(registry, lines)
    top = lines.of(raw, 1)
    for key in sorted(set(raw) - _TOP_KEYS):
        parser.problem(top, None, f"unknown top-level key {key!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        parser.problem(top, None, "`name` must be a non-empty string")
    version = raw.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        parser.problem(top, None, f"`version` must be a positive integer, got {version!r}")
    inputs = parser.inputs(raw.get("inputs"), lines.of(raw.get("inputs"), top))
    graph = parser.graph(raw.get("nodes"), raw.get("edges"), lines.of(raw.get("nodes"), top))
    outputs = raw.get("outputs") or {}
    if not isinstance(outputs, dict) or not all(isinstance(v, str) for v in outputs.values()):
        parser.problem(lines.of(outputs, top), None, "`outputs` must map names to references")
        outputs = {}
    checker = GraphChecker(registry, inputs, parser.problems)
    checker.check(graph, outer={}, in_body=False)
    checker.check_outputs(graph, outputs, lines.of(outputs, top))
    if parser.problems:
        raise WorkflowValidationError(parser.problems)
    return Workflow(str(name), int(version), inputs, graph, dict(outputs), raw)


def load_workflow(text: str, registry: NodeRegistry) -> WorkflowVersion:
    """Parse, check and publish: the immutable version a run executes."""
    return WorkflowVersion.publish(parse_workflow(text, registry))


def bind_inputs(workflow: Workflow, values: Mapping[str, Any]) -> dict[str, Any]:
    """Fill defaults and check a run's inputs against the declarations."""
    problems: list[str] = []
    bound: dict[str, Any] = {}
    for name in sorted(set(values) - set(workflow.inputs)):
        problems.append(f"unknown input {name!r}")
    for name, spec in workflow.inputs.items():
        if name in values:
            value = values[name]
            if not value_matches(value, spec.type):
                problems.append(f"input {name!r} expects {spec.type}, got {value!r}")
            bound[name] = value
        elif spec.required:
            problems.append(f"missing required input {name!r}")
        else:
            bound[name] = spec.default
    if problems:
        raise InvalidRequestError("; ".join(problems), param="inputs")
    return bound


__all__ = [
    "Problem",
    "TemplateSyntaxError",
    "ValueType",
    "WorkflowValidationError",
    "bind_inputs",
    "load_workflow",
    "parse_workflow",
]
