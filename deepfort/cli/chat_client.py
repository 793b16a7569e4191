"""The two ends ``deepfort chat`` can talk to, behind one small interface: models loaded in this process,
or an OpenAI-compatible server reached over HTTP (deepfort, vLLM, llama-server, ...)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

import httpx
from pydantic import ValidationError

from deepfort.app.node import Node
from deepfort.catalog import local_model
from deepfort.config import Settings
from deepfort.errors import DeepfortError
from deepfort.protocol import ChatCompletionChunk, ChatCompletionRequest, ReasoningEffort
from deepfort.serving.assemble import chat_chunks
from deepfort.serving.call import Caller

Message = dict[str, str]


@dataclass(frozen=True)
class ChatOptions:
    max_tokens: int | None = None
    temperature: float | None = None
    reasoning_effort: ReasoningEffort | None = None

    def request(self, model: str, messages: list[Message]) -> ChatCompletionRequest:
        body = {
            "model": model,
            "messages": messages,
            "stream": True,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "reasoning_effort": self.reasoning_effort,
        }
        return ChatCompletionRequest.model_validate(body)


class ChatBackend(Protocol):
    model: str

    def stream(self, messages: list[Message]) -> AsyncGenerator[tuple[str, str], None]:
        """Answer the conversation, yielding ``(reasoning_delta, content_delta)`` as they arrive.

        Raises :class:`DeepfortError` (or an ``httpx`` error) when the answer cannot be produced."""
        ...

    async def aclose(self) -> None: ...


def _deltas(chunk: ChatCompletionChunk) -> tuple[str, str]:
    reasoning, content = "", ""
    for choice in chunk.choices:
        delta = choice.delta
        reasoning += delta.reasoning_content or delta.reasoning or ""
        content += delta.content or ""
    return reasoning, content


class InProcessBackend:
    """Loads one model with the same pool and chat service as ``deepfort serve``."""

    def __init__(self, node: Node, options: ChatOptions) -> None:
        self.node = node
        self.pipeline = node.pipeline
        self.options = options
        self.model = node.pool.default.id

    @classmethod
    async def open(cls, settings: Settings, model: str | None, options: ChatOptions) -> InProcessBackend:
        # Only the named model (or the first) is loaded.
        node = Node(
            settings.model_copy(update={"role": "standalone", "centers": []}), [local_model(settings, model)]
        )
        try:
            await node.pool.start()
        except BaseException:
            await node.close()
            raise
        return cls(node, options)

    async def stream(self, messages: list[Message]) -> AsyncGenerator[tuple[str, str], None]:
        run = await self.pipeline.execute(self.options.request(self.model, messages), Caller())
        try:
            async for chunk in chat_chunks(run):
                yield _deltas(ChatCompletionChunk.model_validate_json(chunk))
        finally:
            await run.close()

    async def aclose(self) -> None:
        await self.node.close()


def _error_message(body: object, fallback: str) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or fallback)
    return fallback


class HttpBackend:
    """Streams ``POST {url}/chat/completions`` as server-sent events."""

    def __init__(self, client: httpx.AsyncClient, model: str, options: ChatOptions) -> None:
        self.client = client
        self.model = model
        self.options = options

    @classmethod
    async def open(cls, url: str, model: str | None, options: ChatOptions) -> HttpBackend:
        # No read timeout: a long answer (or a queue wait) may take minutes between events.
        client = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=httpx.Timeout(30.0, read=None))
        try:
            if model is None:
                model = await cls._first_model(client)
        except BaseException:
            await client.aclose()
            raise
        return cls(client, model, options)

    @staticmethod
    async def _first_model(client: httpx.AsyncClient) -> str:
        response = await client.get("/models")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            raise DeepfortError(_error_message(body, f"GET /models: HTTP {response.status_code}"))
        try:
            return str(body["data"][0]["id"])
        except (TypeError, KeyError, IndexError):
            raise DeepfortError(f"{client.base_url} lists no models; name one with --model") from None

    async def stream(self, messages: list[Message]) -> AsyncGenerator[tuple[str, str], None]:
        body = self.options.request(self.model, messages).model_dump(mode="json", exclude_none=True)
        async with self.client.stream("POST", "/chat/completions", json=body) as response:
            if response.is_error:
                await response.aread()
                try:
                    error: object = response.json()
                except ValueError:
                    error = None
                raise DeepfortError(_error_message(error, f"HTTP {response.status_code}"))
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, comments and other SSE fields
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                yield _deltas(self._parse(data))

    @staticmethod
    def _parse(data: str) -> ChatCompletionChunk:
        try:
            event = json.loads(data)
            if isinstance(event, dict) and "error" in event:
                raise DeepfortError(_error_message(event, "the server reported an error"))
            return ChatCompletionChunk.model_validate(event)
        except (json.JSONDecodeError, ValidationError) as exc:
            raise DeepfortError(f"unreadable event from the server: {exc}") from exc

    async def aclose(self) -> None:
        await self.client.aclose()
