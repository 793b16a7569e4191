"""From wire requests to engine requests: sampling, stop strings, JSON constraints, thinking budget."""

from __future__ import annotations

from typing import Protocol, TypeVar

from deepfort.config import SamplingDefaults
from deepfort.engines.base import SamplingParams, StructuredOutput, ThinkingBudget
from deepfort.protocol import (
    AssistantMessage,
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    ReasoningEffort,
    ResponseFormat,
    TextPart,
)
from deepfort.reasoning import ReasoningParser

# reasoning_effort -> most reasoning tokens before `</think>` is forced; None: no limit.
EFFORT_BUDGET: dict[str, int | None] = {"none": 0, "minimal": 0, "low": 512, "medium": 2048, "high": None}


class SamplingFields(Protocol):
    """The sampling fields chat and text completion requests share."""

    temperature: float | None
    top_p: float | None
    top_k: int | None
    min_p: float | None
    seed: int | None
    presence_penalty: float
    frequency_penalty: float
    repetition_penalty: float | None


R = TypeVar("R", ChatCompletionRequest, CompletionRequest)

# The request fields a model's SamplingDefaults may fill, besides max_tokens.
_DEFAULTED = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty")


def _left_out(request: ChatCompletionRequest | CompletionRequest, name: str) -> bool:
    return name not in request.model_fields_set or getattr(request, name) is None


def with_defaults(request: R, defaults: SamplingDefaults | None) -> R:
    """``request`` with the sampling fields it leaves out taken from the model's ``defaults`` (a copy;
    ``request`` itself is not changed). A field is left out when it is absent or null. ``max_tokens`` is
    filled only when the request sets neither it nor ``max_completion_tokens``; a text completion's own
    default of 16 counts as left out. Fields the defaults leave unset keep OpenAI's defaults."""
    if defaults is None:
        return request
    update: dict[str, float | int] = {}
    for name in _DEFAULTED:
        value = getattr(defaults, name)
        if value is not None and _left_out(request, name):
            update[name] = value
    limited = isinstance(request, ChatCompletionRequest) and request.max_completion_tokens is not None
    if defaults.max_tokens is not None and _left_out(request, "max_tokens") and not limited:
        update["max_tokens"] = defaults.max_tokens
    return request.model_copy(update=update) if update else request


def sampling_params(request: SamplingFields, *, seed_offset: int = 0) -> SamplingParams:
    """OpenAI's defaults (temperature 1, top_p 1); each extra choice of ``n`` gets the next seed."""
    return SamplingParams(
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        top_k=request.top_k,
        min_p=request.min_p or 0.0,
        seed=None if request.seed is None else request.seed + seed_offset,
        presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty,
        repetition_penalty=1.0 if request.repetition_penalty is None else request.repetition_penalty,
    )


def stop_list(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else [s for s in stop if s]


def structured_output(fmt: ResponseFormat | None) -> StructuredOutput | None:
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return StructuredOutput(schema=None)
    assert fmt.json_schema is not None
    return StructuredOutput(schema=fmt.json_schema.schema_ or {"type": "object"})


def thinking_budget(
    parser: type[ReasoningParser] | None,
    *,
    prompt_opens: bool,
    effort: ReasoningEffort | None,
    budget: int | None,
) -> ThinkingBudget | None:
    if parser is None:
        return None
    limit = budget if budget is not None else (EFFORT_BUDGET[effort] if effort is not None else None)
    return ThinkingBudget(
        max_tokens=limit, start_tag=parser.start_tag, end_tag=parser.end_tag, started=prompt_opens
    )


def _text(content: str | list[TextPart] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content)


def template_messages(messages: list[ChatMessage]) -> list[dict[str, object]]:
    """Plain dicts for the chat template. Earlier reasoning is dropped, as DeepSeek's API documents: the
    model sees only the answers of previous turns."""
    out: list[dict[str, object]] = []
    for message in messages:
        role = "system" if message.role == "developer" else message.role
        item: dict[str, object] = {"role": role, "content": _text(message.content)}
        if isinstance(message, AssistantMessage) and message.name:
            item["name"] = message.name
        out.append(item)
    return out
