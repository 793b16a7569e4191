"""`template`: render a sandboxed Jinja2 template over inputs and upstream outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from deepfort.aigc.workflow.nodes.base import Node, NodeContext, NodeResult, Param
from deepfort.aigc.workflow.spec import ValueType


class TemplateNode(Node):
    """Params: `template` (the text; rendered by the node, not before it) and optional `vars` (extra
    names for the template). Output: `text`."""

    type_name = "template"
    control = True  # rendering is cheap and never waits; no need to hold a slot
    params_schema: ClassVar[Mapping[str, Param]] = {
        "template": Param("string", required=True),
        "vars": Param("object", default={}),
    }
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = {"text": "string"}
    raw_params = frozenset({"template"})

    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
        extra = params.get("vars") or {}
        text = ctx.render(str(params["template"]), extra=extra)
        return NodeResult({"text": text if isinstance(text, str) else str(text)})
