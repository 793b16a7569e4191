"""`llm`: one chat completion through the serving layer (local, routed or center), optionally as JSON.

`ServingChat` adapts deepfort's chat pipeline to the `ChatFunction` the media nodes use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from deepfort.aigc.workflow.nodes.base import NodeContext, NodeResult, Param
from deepfort.aigc.workflow.nodes.media import MediaNode
from deepfort.aigc.workflow.spec import ValueType
from deepfort.errors import ConfigError

if TYPE_CHECKING:
    from deepfort.serving.pipeline import ChatPipeline


class ServingChat:
    """A `ChatFunction` over the chat pipeline: builds a ChatCompletionRequest and collects the answer
    (with the same guards, records, metrics and audit as an HTTP request)."""

    def __init__(self, pipeline: ChatPipeline, default_model: str | None = None) -> None:
        self.pipeline = pipeline
        self.default_model = default_model

    async def __call__(
        self,
        messages: Sequence[Mapping[str, str]],
        model: str | None = None,
        json_schema: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> str:
        from deepfort.protocol import ChatCompletionRequest
        from deepfort.serving.assemble import chat_completion
        from deepfort.serving.call import Caller

        model = model or self.default_model
        if not model:
            raise ConfigError("the llm node needs a model (param `model` or the default model)")
        body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages]}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": dict(json_schema)},
            }
        run = await self.pipeline.execute(ChatCompletionRequest.model_validate(body), Caller())
        try:
            completion = await chat_completion(run)
        finally:
            await run.close()
        return completion.choices[0].message.content or ""


class LlmNode(MediaNode):
    """Params: `prompt`, `system`, `model` (default: the services' default), `json_schema` (ask for JSON;
    the output `json` then holds the parsed value, or null when the answer does not parse), `max_tokens`.
    Output: `text`, `json`."""

    type_name = "llm"
    params_schema: ClassVar[Mapping[str, Param]] = {
        "prompt": Param("string", required=True),
        "system": Param("string"),
        "model": Param("string"),
        "json_schema": Param("object"),
        "max_tokens": Param("integer", default=512),
    }
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = {"text": "string", "json": "any"}

    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
        messages = []
        if params.get("system"):
            messages.append({"role": "system", "content": str(params["system"])})
        messages.append({"role": "user", "content": str(params["prompt"])})
        schema = params.get("json_schema")
        text = await self.svc.require_chat()(
            messages,
            model=params.get("model") or self.svc.default_model,
            json_schema=schema,
            max_tokens=int(params["max_tokens"]),
        )
        parsed: Any = None
        if schema is not None:
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                parsed = None
        return NodeResult({"text": text, "json": parsed})
