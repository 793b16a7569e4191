"""Load-time checks over a parsed graph: implied edges, cycles, and every reference in params and outputs
(unknown node or field, not upstream, undeclared input, `item` outside a body, type mismatch)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError

from deepfort.aigc.workflow.graph import build_graph, implied_targets
from deepfort.aigc.workflow.nodes import NodeRegistry
from deepfort.aigc.workflow.refs import Ref, WorkflowEnvironment, references, single_expression
from deepfort.aigc.workflow.spec import InputSpec, NodeSpec, SubGraph, ValueType, types_compatible
from deepfort.errors import InvalidRequestError

_PLAIN_REF = re.compile(r"^(?:nodes\.\w+(?:\.\w+)?|inputs\.\w+|item|index)$")


@dataclass(frozen=True)
class Problem:
    line: int
    node: str | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}, node {self.node}" if self.node else f"line {self.line}"
        return f"{where}: {self.reason}"


class WorkflowValidationError(InvalidRequestError):
    """A workflow document failed its load-time checks; `problems` lists each with line and node id."""

    default_code = "invalid_workflow"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: p.line))
        super().__init__("invalid workflow: " + "; ".join(str(p) for p in self.problems))


class GraphChecker:
    def __init__(self, registry: NodeRegistry, inputs: Mapping[str, InputSpec], problems: list[Problem]):
        self.registry = registry
        self.inputs = inputs
        self.problems = problems
        self.env = WorkflowEnvironment()

    def check(self, sub: SubGraph, *, outer: Mapping[str, NodeSpec], in_body: bool) -> None:
        """Check one graph. `outer` holds the nodes a body may read (the iterate node's upstream)."""
        ids = {spec.id: spec for spec in sub.nodes}
        for spec in sub.nodes:
            for target in implied_targets(spec, self.registry):
                if target not in ids:
                    self.add(spec, f"names node {target!r}, which is not in the same graph")
        graph = build_graph(sub, self.registry)
        cycle = graph.find_cycle()
        if cycle is not None:
            self.add(ids[cycle[0]], "cycle: " + " -> ".join(cycle))
            return
        for spec in sub.nodes:
            visible = {**outer, **{a: ids[a] for a in graph.ancestors(spec.id)}}
            cls = self.registry.get(spec.type)
            for name, value in spec.params.items():
                if name in cls.subgraph_params and isinstance(value, SubGraph):
                    self.check(value, outer=visible, in_body=True)
                elif name not in cls.body_scoped_params and name not in cls.node_ref_params:
                    expected = cls.params_schema[name].type if name in cls.params_schema else "any"
                    expression = name in cls.expression_params
                    self.check_value(spec, name, value, expected, visible, ids, in_body, expression)

    def check_outputs(self, sub: SubGraph, outputs: Mapping[str, str], line: int) -> None:
        ids = {spec.id: spec for spec in sub.nodes}
        for name, text in outputs.items():
            for reason in self.ref_problems(text, False, ids, ids, False, "any"):
                self.problems.append(Problem(line, None, f"output {name!r}: {reason}"))

    def add(self, spec: NodeSpec, reason: str) -> None:
        self.problems.append(Problem(spec.line, spec.id, reason))

    def check_value(
        self,
        spec: NodeSpec,
        param: str,
        value: Any,
        expected: ValueType,
        visible: Mapping[str, NodeSpec],
        local: Mapping[str, NodeSpec],
        in_body: bool,
        expression: bool,
    ) -> None:
        if isinstance(value, str):
            is_expr = expression and "{{" not in value and "{%" not in value
            for reason in self.ref_problems(value, is_expr, visible, local, in_body, expected):
                self.add(spec, f"param {param!r}: {reason}")
        elif isinstance(value, list):
            for item in value:
                self.check_value(spec, param, item, "any", visible, local, in_body, False)
        elif isinstance(value, dict):
            for item in value.values():
                self.check_value(spec, param, item, "any", visible, local, in_body, False)

    def ref_problems(
        self,
        text: str,
        expression: bool,
        visible: Mapping[str, NodeSpec],
        known: Mapping[str, NodeSpec],
        in_body: bool,
        expected: ValueType,
    ) -> list[str]:
        try:
            refs = references(self.env, text, expression=expression)
        except TemplateSyntaxError as exc:
            return [f"template syntax error: {exc.message}"]
        problems: list[str] = []
        for ref in refs:
            problems.extend(self.one_ref(ref, visible, known, in_body))
        plain = text.strip() if expression else single_expression(text)
        if not problems and plain is not None and _PLAIN_REF.match(plain) and len(refs) == 1:
            produced = self.ref_type(refs[0], visible)
            if not types_compatible(produced, expected):
                problems.append(f"expects {expected}, but {plain} is {produced}")
        return problems

    def one_ref(
        self, ref: Ref, visible: Mapping[str, NodeSpec], known: Mapping[str, NodeSpec], in_body: bool
    ) -> list[str]:
        if ref.kind in ("item", "index"):
            return [] if in_body else [f"`{ref.kind}` is only defined inside an iterate body"]
        if ref.kind == "inputs":
            return [] if ref.name in self.inputs else [f"unknown input {ref.name!r}"]
        if ref.name is None or ref.name not in visible:
            if ref.name in known:
                return [f"nodes.{ref.name} is not upstream (no path of edges leads from it here)"]
            return [f"unknown node {ref.name!r}"]
        declared = self.registry.get(visible[ref.name].type).outputs_schema
        if ref.field is not None and declared is not None and ref.field not in declared:
            fields = ", ".join(sorted(declared))
            return [f"node {ref.name!r} has no output {ref.field!r} (outputs: {fields})"]
        return []

    def ref_type(self, ref: Ref, visible: Mapping[str, NodeSpec]) -> ValueType:
        if ref.kind == "index":
            return "integer"
        if ref.kind == "inputs" and ref.name is not None:
            return self.inputs[ref.name].type
        if ref.kind == "nodes" and ref.name is not None:
            if ref.field is None:
                return "object"
            declared = self.registry.get(visible[ref.name].type).outputs_schema
            return declared.get(ref.field, "any") if declared else "any"
        return "any"
