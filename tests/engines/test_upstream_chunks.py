"""The stream logic under UpstreamEngine without HTTP: SSE framing and chunk normalisation, including
property tests that any chunking of the same stream gives the same result."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepfort.engines.messages import MessageEvent
from deepfort.engines.sse import ServerEvent, SSEDecoder
from deepfort.engines.upstream_chunks import ChunkReader, ThinkInContent
from deepfort.errors import UpstreamError
from tests.engines.replay_server import FIXTURES


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({cut % (len(text) + 1) for cut in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def decode(pieces: list[str]) -> list[ServerEvent]:
    decoder = SSEDecoder()
    return [event for piece in pieces for event in decoder.feed(piece)]


FIXTURE_TEXTS = {path.name: path.read_text() for path in sorted(FIXTURES.glob("*.sse"))}


@given(name=st.sampled_from(sorted(FIXTURE_TEXTS)), cuts=st.lists(st.integers(min_value=0), max_size=40))
def test_sse_any_chunking_gives_the_same_events(name: str, cuts: list[int]) -> None:
    text = FIXTURE_TEXTS[name]
    assert decode(split(text, cuts)) == decode([text])


def test_sse_framing_rules() -> None:
    stream = (
        "\ufeff: keep-alive\r\n\r\n"
        'data:{"a":1}\r\r'  # CR line endings, no space after the colon
        "id: 7\nretry: 100\ndata: first\ndata: second\n\n"  # data lines join with \n
        'event: error\ndata: {"error": "boom"}\n\n'
        'error: {"code":500,"message":"llama.cpp style"}\n\n'
        'data: "a\u2028b\u0085c"\n\n'  # separators JSON may carry raw are not line ends
        "data: never finished"
    )
    assert decode([stream]) == [
        ServerEvent('{"a":1}'),
        ServerEvent("first\nsecond"),
        ServerEvent('{"error": "boom"}', "error"),
        ServerEvent('{"code":500,"message":"llama.cpp style"}', "error"),
        ServerEvent('"a\u2028b\u0085c"'),
    ]


def chunk(index: int, content: str | None = None, finish: str | None = None, **delta: object) -> ServerEvent:
    choice = {"index": index, "delta": {"content": content, **delta}, "finish_reason": finish}
    return ServerEvent(json.dumps({"object": "chat.completion.chunk", "choices": [choice]}))


def totals(events: list[MessageEvent]) -> tuple[str, str, str | None]:
    return (
        "".join(e.reasoning for e in events),
        "".join(e.content for e in events),
        next((e.finish_reason for e in events if e.finish_reason), None),
    )


def read(reader: ChunkReader, events: list[ServerEvent]) -> list[MessageEvent]:
    out = [message for event in events for message in reader.feed_event(event)]
    return out + reader.finish()


THINK_CASES: list[tuple[ThinkInContent, bool, str, tuple[str, str]]] = [
    ("auto", False, "  <think>\nweigh it </think>\n\nIt is 4.", ("weigh it", "It is 4.")),
    ("auto", False, "<thinking> is not the tag", ("", "<thinking> is not the tag")),
    ("always", True, "weigh it\n</think>It is 4.", ("weigh it", "It is 4.")),
    ("never", False, "<think>x</think>y", ("", "<think>x</think>y")),
]


@pytest.mark.parametrize(("mode", "opened", "text", "expected"), THINK_CASES)
@given(cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_think_in_content_any_chunking(
    mode: ThinkInContent, opened: bool, text: str, expected: tuple[str, str], cuts: list[int]
) -> None:
    pieces = [chunk(0, piece) for piece in split(text, cuts)] + [chunk(0, None, "stop")]
    events = read(ChunkReader(mode, prompt_opens_reasoning=opened), pieces)
    assert totals(events) == (*expected, "stop")
    assert events[-1].finish_reason == "stop"


def test_auto_leaves_content_alone_once_the_server_parsed_reasoning() -> None:
    events = read(ChunkReader("auto"), [chunk(0, None, reasoning="r"), chunk(0, "<think>not mine", "stop")])
    assert totals(events) == ("r", "<think>not mine", "stop")


def test_done_without_finish_reason_flushes_held_text() -> None:
    reader = ChunkReader("auto")
    events = read(reader, [chunk(0, "<think>a</thi"), ServerEvent("[DONE]")])
    assert reader.done and reader.complete
    assert totals(events) == ("a</thi", "", None)


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (ServerEvent('{"object":"error","message":"flat error","type":"x","code":500}'), "flat error"),
        (ServerEvent('{"error":"plain"}'), "plain"),
        (ServerEvent("[1, 2]"), "unreadable stream chunk"),
        (ServerEvent('{"choices": {"index": 0}}'), "unreadable choices"),
        (ServerEvent("not json", "error"), "not json"),
    ],
)
def test_unreadable_or_failed_chunks(event: ServerEvent, text: str) -> None:
    with pytest.raises(UpstreamError, match=text):
        ChunkReader().feed_event(event)


def test_text_after_finish_is_an_upstream_error() -> None:
    reader = ChunkReader()
    reader.feed_event(chunk(0, "a", "stop"))
    assert reader.feed_event(chunk(0, "", "stop")) == []  # a repeated empty finish is harmless
    with pytest.raises(UpstreamError, match="after it finished"):
        reader.feed_event(chunk(0, "more"))
