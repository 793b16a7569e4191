"""From wire requests to engine requests: sampling, stop strings, JSON constraints, thinking budget."""

from __future__ import annotations

from typing import Protocol

from deepfort.engines.base import SamplingParams, StructuredOutput, ThinkingBudget
from deepfort.protocol import (
    AssistantMessage,
    ChatMessage,
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


def sampling_params(request: SamplingFields, *, seed_offset: int = 0) -> SamplingParams:
    """OpenAI's defaults (temperature 1, top_p 1); each extra choice of ``n`` gets the next seed."""
    return SamplingParams(
        temperature=1.0 if request.temperature is None else request.temperature,
        top_p=1.0 if request.top_p is None else request.top_p,
        top_k=request.top_k or 0,
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
