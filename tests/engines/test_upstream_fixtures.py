"""Recorded-style streams of each server family, replayed over real HTTP into UpstreamEngine.

Each fixture in tests/data/upstream is the body a server family sends, byte for byte in its own style
(field names, nulls, keep-alive comments, line endings). The table says what deepfort must make of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from deepfort.engines.messages import MessageEvent, MessageUsage
from deepfort.engines.upstream import UpstreamEngine
from deepfort.engines.upstream_chunks import ThinkInContent
from deepfort.errors import CenterUnavailableError, DeepfortError, UpstreamError
from tests.engines.replay_server import ReplayServer, fixture

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def replay_server() -> Iterator[ReplayServer]:
    server = ReplayServer()
    yield server
    server.stop()


@pytest.fixture
def replay(replay_server: ReplayServer) -> ReplayServer:
    replay_server.reset()
    return replay_server


@dataclass
class Answer:
    reasoning: str = ""
    content: str = ""
    finish_reason: str | None = "stop"


@dataclass
class Case:
    fixture: str
    answers: dict[int, Answer]
    usage: MessageUsage | None = None
    think_in_content: ThinkInContent = "auto"
    prompt_opens_reasoning: bool = False
    id: str = field(default="")


CASES = [
    Case(
        "vllm_reasoning.sse",
        {0: Answer("The user asks for the capital of France.\n", "\n\nParis.")},
        MessageUsage(prompt_tokens=14, completion_tokens=15),
    ),
    Case(
        "vllm_both_fields.sse",  # reasoning and reasoning_content carry the same text: counted once
        {0: Answer("Two plus two is four.", "4", "length")},
        MessageUsage(prompt_tokens=11, completion_tokens=8, reasoning_tokens=6),
    ),
    Case(
        "deepseek_api.sse",
        {0: Answer("Hmm, 9.11 vs 9.8: compare tenths.", "9.8 is greater.")},
        MessageUsage(prompt_tokens=17, completion_tokens=42, reasoning_tokens=37),
    ),
    Case(
        "sglang_reasoning.sse",
        {0: Answer("Count the r's in strawberry: three.", "There are 3.")},
        MessageUsage(prompt_tokens=13, completion_tokens=24, reasoning_tokens=18),
    ),
    Case(
        "llama_server_reasoning.sse",
        {0: Answer("Okay, a greeting.", "Hello!")},
        MessageUsage(prompt_tokens=9, completion_tokens=12),
    ),
    Case(
        "ollama_reasoning.sse",
        {0: Answer("Okay, the user says hi.", "Hi there!")},
        MessageUsage(prompt_tokens=11, completion_tokens=27),
    ),
    Case("crlf_think_in_content.sse", {0: Answer("The user greets.", "Hello!")}),
    Case(
        "crlf_think_in_content.sse",
        {0: Answer("", "<think>\nThe user greets.\n</think>\n\nHello!")},
        think_in_content="never",
        id="crlf_think_in_content.sse-never",
    ),
    Case(
        "prompt_opened_no_space.sse",
        {0: Answer("Let me think about it.", "Answer: 42")},
        think_in_content="always",
        prompt_opens_reasoning=True,
    ),
    Case(
        "prompt_opened_no_space.sse",  # auto cannot see a block the template opened: all content
        {0: Answer("", "Let me think about it.\n</think>\n\nAnswer: 42")},
        id="prompt_opened_no_space.sse-auto",
    ),
    Case(
        "multi_choice_think.sse",
        {0: Answer("Tails", "T", "stop"), 1: Answer("Heads it is", "H, heads", "length")},
        MessageUsage(prompt_tokens=8, completion_tokens=16),
    ),
]


async def _collect(engine: UpstreamEngine, events: list[MessageEvent]) -> MessageUsage | None:
    stream = await engine.open_chat(BODY, "0f6b2c1d8a7e4d5f9b0c1e2d3c4b5a69")
    try:
        async for event in stream:
            events.append(event)
    finally:
        await stream.aclose()
    return stream.usage


def _replay(server: ReplayServer, events: list[MessageEvent], **options: object) -> MessageUsage | None:
    async def run() -> MessageUsage | None:
        engine = UpstreamEngine(server.v1, **options)  # type: ignore[arg-type]
        try:
            return await _collect(engine, events)
        finally:
            await engine.close()

    return asyncio.run(run())


def _answers(events: list[MessageEvent]) -> dict[int, Answer]:
    answers: dict[int, Answer] = {}
    for event in events:
        answer = answers.setdefault(event.index, Answer(finish_reason=None))
        assert answer.finish_reason is None, f"choice {event.index} has an event after its finish_reason"
        answer.reasoning += event.reasoning
        answer.content += event.content
        answer.finish_reason = event.finish_reason
    return answers


@pytest.mark.parametrize("piece", [None, 7], ids=["per-event", "7-byte-pieces"])
@pytest.mark.parametrize("case", CASES, ids=[case.id or case.fixture for case in CASES])
def test_fixture_stream(replay: ReplayServer, case: Case, piece: int | None) -> None:
    replay.script.stream = fixture(case.fixture)
    replay.script.piece = piece
    events: list[MessageEvent] = []
    usage = _replay(
        replay,
        events,
        think_in_content=case.think_in_content,
        prompt_opens_reasoning=case.prompt_opens_reasoning,
    )
    assert all(events), "empty events are never yielded"
    assert _answers(events) == case.answers
    assert usage == case.usage


@pytest.mark.parametrize(
    ("name", "abort", "error", "message", "before"),
    [
        (
            "vllm_error.sse",
            False,
            UpstreamError,
            "EngineCore encountered an issue",
            Answer("Let me", "", None),
        ),
        ("llama_server_error.sse", False, UpstreamError, "KV cache is full", None),
        ("garbage.sse", False, UpstreamError, "not JSON", Answer("", "Hel", None)),
        ("cut_off.sse", False, CenterUnavailableError, "ended before", Answer("First,", "The answer", None)),
        ("cut_off.sse", True, CenterUnavailableError, "broke off", Answer("First,", "The answer", None)),
    ],
    ids=["vllm-error-object", "llama-server-error-field", "garbage", "cut-off-clean-end", "cut-off-dropped"],
)
def test_broken_stream(
    replay: ReplayServer,
    name: str,
    abort: bool,
    error: type[DeepfortError],
    message: str,
    before: Answer | None,
) -> None:
    replay.script.stream = fixture(name)
    replay.script.abort = abort
    events: list[MessageEvent] = []
    with pytest.raises(error, match=message) as caught:
        _replay(replay, events)
    assert type(caught.value) is error
    assert _answers(events) == ({0: before} if before else {})
