"""From a run's events to what the client receives: chat chunks or one chat completion, text completion
chunks or one text completion. (The gRPC center sends the events themselves: cluster/server.py.)

Chunks are built as plain dicts and serialised once: one goes out per token and per stream, and pydantic
models cost several times more on this hot path.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator, Iterable

from deepfort.engines.base import PromptLogprobs, TokenLogprob
from deepfort.protocol import (
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    ChatCompletionTokenLogprob,
    ChatMessageOut,
    ChoiceLogprobs,
    Completion,
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    RouteInfo,
    TopLogprob,
    Usage,
)
from deepfort.serving.run import Run


def to_wire_logprobs(
    items: list[TokenLogprob] | tuple[TokenLogprob, ...],
) -> list[ChatCompletionTokenLogprob]:
    return [
        ChatCompletionTokenLogprob(
            token=lp.token,
            logprob=lp.logprob,
            bytes=lp.bytes,
            top_logprobs=[TopLogprob(token=t.token, logprob=t.logprob, bytes=t.bytes) for t in lp.top],
        )
        for lp in items
    ]


def _chat_request(run: Run) -> ChatCompletionRequest:
    request = run.call.request
    assert isinstance(request, ChatCompletionRequest)
    return request


def _text_request(run: Run) -> CompletionRequest:
    request = run.call.request
    assert isinstance(request, CompletionRequest)
    return request


# -- chat


def _choice_chunk(
    index: int, delta: dict[str, object], *, logprobs: object = None, finish: str | None = None
) -> dict[str, object]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}


def _text_delta(content: str, reasoning: str) -> dict[str, object]:
    body: dict[str, object] = {}
    if content:
        body["content"] = content
    if reasoning:
        body["reasoning_content"] = body["reasoning"] = reasoning
    return body


class _ChunkWriter:
    """``ChatCompletionChunk`` JSON texts for one response; the first carries the route."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._first = True

    def chunk(self, choices: list[dict[str, object]], usage: Usage | None = None) -> str:
        run = self.run
        body: dict[str, object] = {
            "id": run.id,
            "object": "chat.completion.chunk",
            "created": run.created,
            "model": run.model,
            "choices": choices,
            "usage": None if usage is None else usage.model_dump(),
            "system_fingerprint": None,
        }
        if self._first and run.route is not None:
            body["route"] = run.route.as_dict()
        self._first = False
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


async def chat_chunks(run: Run) -> AsyncIterator[str]:
    """``ChatCompletionChunk`` JSON texts: a role chunk per choice, then one per event, a finish chunk per
    choice (none for a cancelled one), and the usage when ``stream_options.include_usage`` asks."""
    request = _chat_request(run)
    writer = _ChunkWriter(run)
    for index in range(len(run.choices)):
        yield writer.chunk([_choice_chunk(index, {"role": "assistant", "content": ""})])
    async for event in run.events():
        logprobs = None
        if request.logprobs and event.logprobs:
            logprobs = ChoiceLogprobs(content=to_wire_logprobs(event.logprobs)).model_dump()
        if event.content or event.reasoning or logprobs is not None:
            delta = _text_delta(event.content, event.reasoning)
            yield writer.chunk([_choice_chunk(event.index, delta, logprobs=logprobs)])
        if event.finish_reason not in (None, "cancelled"):
            yield writer.chunk([_choice_chunk(event.index, {}, finish=event.finish_reason)])
    options = request.stream_options
    if options is not None and options.include_usage:
        yield writer.chunk([], usage=run.usage())


async def chat_completion(run: Run) -> ChatCompletion:
    """The whole answer. A choice the external review flagged is withheld (its text left out)."""
    request = _chat_request(run)
    async for _ in run.events():
        pass
    choices = []
    for index, choice in enumerate(run.choices):
        content, reasoning = ("", "") if choice.withheld else run.answer(index)
        choices.append(
            ChatChoice(
                index=index,
                message=ChatMessageOut(
                    content=(content or None) if run.splits_reasoning else content,
                    reasoning_content=reasoning or None,
                    reasoning=reasoning or None,
                ),
                logprobs=ChoiceLogprobs(content=to_wire_logprobs(choice.logprobs))
                if request.logprobs
                else None,
                finish_reason=choice.finish_reason,
            )
        )
    route = run.route
    return ChatCompletion(
        id=run.id,
        created=run.created,
        model=run.model,
        choices=choices,
        usage=run.usage(),
        route=None if route is None else RouteInfo.model_validate(route.as_dict()),
        conversation_id=run.call.conversation_id,
    )


# -- text completions


class _TextLogprobs:
    """A text completion's ``logprobs`` object, token by token. ``text_offset`` counts characters of the
    returned text from ``offset`` on, through the tokens' bytes, so a character split over two tokens
    starts at the first. With the echoed prompt's logprobs first (as OpenAI's legacy API and vLLM send
    them): its first token has no logprob and no alternatives, and each other prompt token's
    alternatives include the token itself (unless a likelier one reads the same)."""

    def __init__(self, offset: int = 0) -> None:
        self.out = CompletionLogprobs()
        self.offset = offset
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def _token(self, text: str, data: list[int], logprob: float | None, top: dict[str, float] | None) -> None:
        out = self.out
        out.tokens.append(text)
        out.token_logprobs.append(logprob)
        out.top_logprobs.append(top)
        out.text_offset.append(self.offset)
        self.offset += len(self._decoder.decode(bytes(data)))

    def prompt(self, prompt: PromptLogprobs) -> None:
        self._token(prompt.first, prompt.first_bytes, None, None)
        for lp in prompt.tokens:
            top = _top(lp)
            top.setdefault(lp.token, lp.logprob)
            self._token(lp.token, lp.bytes, lp.logprob, top)

    def generated(self, items: Iterable[TokenLogprob]) -> CompletionLogprobs:
        for lp in items:
            self._token(lp.token, lp.bytes, lp.logprob, _top(lp))
        return self.out


def _top(lp: TokenLogprob) -> dict[str, float]:
    """Alternatives by text; where several tokens read the same (pieces of one character), the likeliest."""
    top: dict[str, float] = {}
    for t in lp.top:
        top.setdefault(t.token, t.logprob)
    return top


def _completion(run: Run, choices: list[CompletionChoice], usage: Usage | None = None) -> Completion:
    return Completion(id=run.id, created=run.created, model=run.model, choices=choices, usage=usage)


async def text_chunks(run: Run) -> AsyncIterator[str]:
    """``Completion`` JSON texts: each choice's echoed prompt, then one per event, a chunk's
    ``text_offset`` counting from the start of that chunk's text. A choice whose prompt is scored (echo
    with logprobs) sends its echo with the first event instead, which carries the prompt's logprobs
    (vLLM's order)."""
    request = _text_request(run)
    scored = request.prompt_logprobs is not None
    for index, echo in enumerate(run.echoes):
        if echo and not scored:
            yield _completion(
                run, [CompletionChoice(index=index, text=echo, finish_reason=None)]
            ).model_dump_json()
    async for event in run.events():
        text = event.content
        logprobs = None
        if event.prompt_logprobs is not None:
            text = run.echoes[event.index] + text
            writer = _TextLogprobs()
            writer.prompt(event.prompt_logprobs)
            logprobs = writer.generated(event.logprobs)
        elif request.logprobs is not None and event.logprobs:
            logprobs = _TextLogprobs().generated(event.logprobs)
        finish = event.finish_reason if event.finish_reason != "cancelled" else None
        if text or logprobs is not None or finish is not None:
            choice = CompletionChoice(index=event.index, text=text, logprobs=logprobs, finish_reason=finish)
            yield _completion(run, [choice]).model_dump_json()
    options = request.stream_options
    if options is not None and options.include_usage:
        yield _completion(run, [], usage=run.usage()).model_dump_json()


async def text_completion(run: Run) -> Completion:
    request = _text_request(run)
    async for _ in run.events():
        pass
    choices = []
    for index, choice in enumerate(run.choices):
        echo = run.echoes[index]
        text = "" if choice.withheld else run.answer(index)[0]
        logprobs = None
        if request.logprobs is not None:
            if choice.prompt_logprobs is not None:
                writer = _TextLogprobs()
                writer.prompt(choice.prompt_logprobs)
            else:
                writer = _TextLogprobs(len(echo))
            logprobs = writer.generated(choice.logprobs)
        choices.append(
            CompletionChoice(
                index=index, text=echo + text, logprobs=logprobs, finish_reason=choice.finish_reason
            )
        )
    return _completion(run, choices, usage=run.usage())
