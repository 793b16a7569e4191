"""`condition`: evaluate `if` and switch off the branch not taken.

The branch not taken (`else` when true, `then` when false) gets a `node_skipped` event, and so does every
node that is then reachable only through skipped nodes. A node with at least one live incoming edge runs,
so a join after an if/else runs once; references to the skipped side read as undefined there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from deepfort.aigc.workflow.nodes.base import Node, NodeContext, NodeResult, Param
from deepfort.aigc.workflow.refs import single_expression
from deepfort.aigc.workflow.spec import NodeSpec, ValueType


class ConditionNode(Node):
    """Params: `if` (a reference `{{ ... }}` or a bare expression such as `inputs.n > 3`), `then` and
    `else` (ids of nodes this one leads to; at least one). Output: `result` (boolean)."""

    type_name = "condition"
    control = True
    params_schema: ClassVar[Mapping[str, Param]] = {
        "if": Param("any", required=True),
        "then": Param("string"),
        "else": Param("string"),
    }
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = {"result": "boolean"}
    raw_params = frozenset({"if"})
    expression_params = frozenset({"if"})
    node_ref_params = frozenset({"then", "else"})

    @classmethod
    def check(cls, spec: NodeSpec) -> list[str]:
        if spec.params.get("then") is None and spec.params.get("else") is None:
            return ["condition needs `then` or `else`"]
        return []

    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
        test = params["if"]
        if isinstance(test, str):
            test = ctx.evaluate(single_expression(test) or test)
        result = bool(test)
        not_taken = params.get("else") if result else params.get("then")
        return NodeResult({"result": result}, skip=frozenset({not_taken}) if not_taken else frozenset())
