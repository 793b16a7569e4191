"""Message-level engines: servers that take an OpenAI request body and render their own prompts, and
the one event stream every generation is read through.

The in-process llama.cpp engine works on token prompts (:class:`deepfort.engines.base.Engine`); its
generations are adapted to this same stream by :mod:`deepfort.engines.local`, so one assembler turns
events into SSE chunks, a whole response or gRPC events, whoever produced them. A center is different: an
OpenAI-compatible server (vLLM, SGLang, llama-server, Ollama, DeepSeek's API) or another deepfort node
over gRPC owns its template and tokenizer, so the edge hands it the request as a dict and reads back
normalised events:

- ``open_chat`` sends the request and returns only once the far side has accepted it; a refusal (bad
  request, unknown model, queue full, unreachable) is raised there as a :class:`DeepfortError`, before
  the edge has sent any status line to its own client.
- The returned :class:`MessageStream` yields :class:`MessageEvent` values in order: text and reasoning
  already separated (whatever field or ``<think>`` convention the server used), one event with a
  ``finish_reason`` per choice, and ``usage`` set once the stream has ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from deepfort.engines.base import PromptLogprobs, TokenLogprob


@dataclass(frozen=True)
class MessageEvent:
    """A piece of one choice's answer. ``finish_reason`` is set on the last event of that choice.

    ``logprobs``, ``prompt_logprobs``, ``tokens`` and ``queue_s`` come from engines that see tokens (the
    local one): the log-probabilities of the tokens this event carries, once those of the prompt (when
    the request asked), how many tokens were generated, and on the first generated token the seconds
    the request waited for a slot."""

    index: int = 0
    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    logprobs: tuple[TokenLogprob, ...] = ()
    prompt_logprobs: PromptLogprobs | None = None
    tokens: int = 0
    queue_s: float | None = None

    def __bool__(self) -> bool:
        return bool(
            self.content
            or self.reasoning
            or self.finish_reason
            or self.logprobs
            or self.prompt_logprobs is not None
        )


@dataclass(frozen=True)
class MessageUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0


class MessageStream(Protocol):
    """An accepted generation on a message-level engine."""

    @property
    def usage(self) -> MessageUsage | None:
        """Token counts reported by the far side; set when the stream has ended (None if it sent none)."""
        ...

    def __aiter__(self) -> AsyncIterator[MessageEvent]: ...

    def cancel(self) -> None:
        """The client went away: stop the far side's generation (idempotent, never raises)."""
        ...

    async def aclose(self) -> None:
        """Release the connection; safe to call more than once."""
        ...


class MessageEngine(Protocol):
    """A center reachable by messages: ``open_chat`` for chat completions, plus discovery and health."""

    @property
    def target(self) -> str:
        """Where requests go, for logs and the route header (e.g. ``http://vllm:8000/v1``)."""
        ...

    async def open_chat(self, body: dict[str, Any], request_id: str) -> MessageStream:
        """Send an OpenAI chat-completions body (``model`` already set to the far side's name; ``stream``
        is forced on by the engine) and wait until the far side accepts it."""
        ...

    async def list_models(self) -> list[str]:
        """Model ids the far side serves."""
        ...

    async def health(self) -> bool:
        """True when the far side answers its health probe in time."""
        ...

    async def close(self) -> None: ...
