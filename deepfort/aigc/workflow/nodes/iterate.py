"""`iterate`: run a sub-graph once per list item, with bounded parallelism and per-item failure.

Inside the body, `{{ item }}` and `{{ index }}` are the current element and its position, and body nodes
may reference each other and the iterate node's upstream nodes. An item whose body fails (a body node with
`on_error: abort`) is recorded in `errors` and its slot in `results` is null; the other items go on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from jinja2 import TemplateSyntaxError

from deepfort.aigc.workflow.nodes.base import BodyFailedError, Node, NodeContext, NodeResult, Param
from deepfort.aigc.workflow.refs import WorkflowEnvironment, references
from deepfort.aigc.workflow.spec import NodeSpec, SubGraph, ValueType


class IterateNode(Node):
    """Params: `over` (a list), `body` (`{nodes, edges}`), `parallel` (items at once, default 1),
    `collect` (a template read in each item's scope; default: every body node's output).
    Output: `results` (one per item, in order), `errors` ([{index, node, error}]), `failed` (count)."""

    type_name = "iterate"
    control = True  # waits on its body's nodes, which take the slots
    params_schema: ClassVar[Mapping[str, Param]] = {
        "over": Param("list", required=True),
        "body": Param("object", required=True),
        "parallel": Param("integer", default=1),
        "collect": Param("string"),
    }
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = {
        "results": "list",
        "errors": "list",
        "failed": "integer",
    }
    raw_params = frozenset({"body", "collect"})
    subgraph_params = frozenset({"body"})
    body_scoped_params = frozenset({"collect"})

    @classmethod
    def check(cls, spec: NodeSpec) -> list[str]:
        problems: list[str] = []
        parallel = spec.params.get("parallel", 1)
        if isinstance(parallel, int) and parallel < 1:
            problems.append("param 'parallel' must be at least 1")
        body = spec.params.get("body")
        collect = spec.params.get("collect")
        if isinstance(body, SubGraph) and isinstance(collect, str):
            body_ids = {node.id for node in body.nodes}
            try:
                refs = references(WorkflowEnvironment(), collect)
            except TemplateSyntaxError as exc:
                return [*problems, f"param 'collect': template syntax error: {exc.message}"]
            for ref in refs:
                if ref.kind == "nodes" and ref.name not in body_ids:
                    problems.append(f"param 'collect' references nodes.{ref.name}, which is not in the body")
        return problems

    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
        items = list(params["over"])
        body: SubGraph = params["body"]
        collect: str | None = params.get("collect")
        gate = asyncio.Semaphore(int(params.get("parallel") or 1))
        results: list[Any] = [None] * len(items)
        errors: list[dict[str, Any]] = []
        done = 0

        async def one(index: int, item: Any) -> None:
            nonlocal done
            async with gate:
                try:
                    scope = await ctx.run_body(body, item, index)
                except BodyFailedError as exc:
                    errors.append({"index": index, "node": exc.node_id, "error": exc.error})
                else:
                    if collect is None:
                        results[index] = {node.id: scope.get(node.id) for node in body.nodes}
                    else:
                        results[index] = ctx.render(collect, {"nodes": scope, "item": item, "index": index})
                done += 1
                ctx.progress(done, len(items))

        tasks = [asyncio.create_task(one(index, item)) for index, item in enumerate(items)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        errors.sort(key=lambda error: int(error["index"]))
        return NodeResult({"results": results, "errors": errors, "failed": len(errors)})
