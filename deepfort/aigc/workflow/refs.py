"""References and expressions: `{{ nodes.<id>.<field> }}`, `{{ inputs.<name> }}`, `{{ item }}`, `{{ index }}`.

Every string param is a sandboxed Jinja2 template. A string that is exactly one `{{ expression }}` keeps the
expression's native value (a list stays a list); any other string renders to text. Load-time checks read
the Jinja AST, so syntax errors and unknown names are found before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2 import nodes as jnodes
from jinja2.sandbox import SandboxedEnvironment

_SINGLE = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}).)*)\}\}\s*$", re.DOTALL)


class WorkflowEnvironment(SandboxedEnvironment):
    """Sandboxed, strict about undefined names, and `a.b` on a mapping reads the key first, so an output
    field named `items` or `values` is the field, not the dict method."""

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@dataclass(frozen=True)
class Ref:
    """One name a template reads: `kind` is `nodes`, `inputs`, `item` or `index`."""

    kind: str
    name: str | None = None
    field: str | None = None


def single_expression(text: str) -> str | None:
    """The expression of a string that is exactly one `{{ ... }}`, else None."""
    match = _SINGLE.match(text)
    return match.group("expr").strip() if match else None


def _attr_name(node: jnodes.Node) -> str | None:
    if isinstance(node, jnodes.Getattr):
        return node.attr
    if isinstance(node, jnodes.Getitem) and isinstance(node.arg, jnodes.Const):
        value = node.arg.value
        return value if isinstance(value, str) else None
    return None


def references(env: SandboxedEnvironment, text: str, *, expression: bool = False) -> list[Ref]:
    """The references in a template (or a bare expression). Raises `TemplateSyntaxError`."""
    source = "{{ " + text + " }}" if expression else text
    tree = env.parse(source)
    refs: list[Ref] = []
    seen_inner: set[int] = set()
    for node in tree.find_all((jnodes.Getattr, jnodes.Getitem)):
        inner = node.node  # type: ignore[attr-defined]
        if (
            isinstance(inner, jnodes.Getattr | jnodes.Getitem)
            and isinstance(inner.node, jnodes.Name)
            and inner.node.name == "nodes"
            and (name := _attr_name(inner)) is not None
        ):
            refs.append(Ref("nodes", name, _attr_name(node)))
            seen_inner.add(id(inner))
    for node in tree.find_all((jnodes.Getattr, jnodes.Getitem)):
        inner = node.node  # type: ignore[attr-defined]
        if (
            isinstance(inner, jnodes.Name)
            and inner.name in ("nodes", "inputs")
            and id(node) not in seen_inner
        ):
            name = _attr_name(node)
            if name is not None:
                refs.append(Ref(inner.name, name))
    for name_node in tree.find_all(jnodes.Name):
        if name_node.name in ("item", "index") and name_node.ctx == "load":
            refs.append(Ref(name_node.name))
    return refs


def evaluate(env: SandboxedEnvironment, expression: str, scope: Mapping[str, Any]) -> Any:
    """The native value of a bare expression."""
    return env.compile_expression(expression, undefined_to_none=False)(**scope)


def render_value(env: SandboxedEnvironment, value: Any, scope: Mapping[str, Any]) -> Any:
    """Render every string inside a param value; a single `{{ expr }}` keeps its native type."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        expr = single_expression(value)
        if expr is not None:
            result = evaluate(env, expr, scope)
            if isinstance(result, StrictUndefined):
                str(result)  # raises UndefinedError with the missing name
            return result
        return env.from_string(value).render(**scope)
    if isinstance(value, list):
        return [render_value(env, item, scope) for item in value]
    if isinstance(value, dict):
        return {key: render_value(env, item, scope) for key, item in value.items()}
    return value


__all__ = [
    "Ref",
    "TemplateSyntaxError",
    "WorkflowEnvironment",
    "evaluate",
    "references",
    "render_value",
    "single_expression",
]
