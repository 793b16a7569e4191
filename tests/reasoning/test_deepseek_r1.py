from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfort.reasoning import (
    DeepSeekR1ReasoningParser,
    ReasoningDelta,
    UnknownReasoningParserError,
    get_parser,
    parser_names,
)

START, END = "<think>", "</think>"


def stream(chunks: list[str], *, opened: bool = False) -> list[ReasoningDelta]:
    """Feed chunks one by one; the last element is what finish() flushed."""
    parser = DeepSeekR1ReasoningParser(prompt_opens_reasoning=opened)
    return [parser.feed(chunk) for chunk in chunks] + [parser.finish()]


def total(deltas: list[ReasoningDelta]) -> tuple[str, str]:
    summed = sum(deltas, ReasoningDelta())
    return summed.reasoning, summed.content


def reference(text: str, opened: bool) -> tuple[str, str]:
    """The documented rules, written for a whole text rather than a stream."""
    stripped = text.lstrip()
    if stripped.startswith(START):
        body = stripped[len(START) :]
    elif opened:
        body = text
    else:
        return "", text
    end = body.find(END)
    if end < 0:
        return body.strip(), ""
    return body[:end].strip(), body[end + len(END) :].lstrip()


# (id, prompt_opens_reasoning, chunks, reasoning, content)
CASES = [
    ("opened-only-end-tag", True, ["Let me", " think", END, "Answer"], "Let me think", "Answer"),
    ("opened-strips-whitespace", True, ["\n", "x \n", "</think>\n\n", "y"], "x", "y"),
    ("opened-redundant-start-tag", True, ["<th", "ink>\na", "</think>b"], "a", "b"),
    ("opened-no-end-tag", True, ["just thinking"], "just thinking", ""),
    ("opened-empty", True, [], "", ""),
    ("normal", False, ["<think>a</think>b"], "a", "b"),
    ("normal-whitespace", False, ["<think>\n", "a\n\n", "</think>\n\n", "b c"], "a", "b c"),
    ("leading-whitespace-before-tag", False, ["\n ", "<think>a</think>b"], "a", "b"),
    ("inner-whitespace-kept", False, ["<think>a \n b</think>c \n d"], "a \n b", "c \n d"),
    ("cut-off", False, ["<think>", "abc"], "abc", ""),
    ("cut-off-partial-end-tag", False, ["<think>abc", " </thi"], "abc </thi", ""),
    ("cut-off-trailing-whitespace", False, ["<think>abc \n"], "abc", ""),
    ("cut-off-partial-start-tag", False, ["<thin"], "", "<thin"),
    ("opened-cut-off-partial-start-tag", True, [" <thin"], "<thin", ""),
    ("content-only", False, ["Hello", " world"], "", "Hello world"),
    ("content-leading-whitespace-verbatim", False, ["\n", "Hello"], "", "\nHello"),
    ("whitespace-only", False, [" \n"], "", " \n"),
    ("later-tags-in-content", False, ["Hi <think>x</think>"], "", "Hi <think>x</think>"),
    ("only-first-end-tag", False, ["<think>a</think>b</think>c<think>d"], "a", "b</think>c<think>d"),
    ("start-tag-inside-reasoning", False, ["<think>a<think>b</think>c"], "a<think>b", "c"),
    ("lone-angle-brackets", False, ["<think>a < b <", "</think>c"], "a < b <", "c"),
    ("empty-reasoning", False, ["<think></think>answer"], "", "answer"),
    ("whitespace-only-content", False, ["<think>a</think>", "\n\n"], "a", ""),
    ("cjk", False, ["<think>思考", "</think>答案"], "思考", "答案"),
    ("cjk-whitespace", False, ["<think>\u3000思考\u3000</think>\u3000答案"], "思考", "答案"),
    ("empty-stream", False, [], "", ""),
]


@pytest.mark.parametrize(
    ("opened", "chunks", "reasoning", "content"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_table(opened: bool, chunks: list[str], reasoning: str, content: str) -> None:
    assert total(stream(chunks, opened=opened)) == (reasoning, content)
    assert DeepSeekR1ReasoningParser(prompt_opens_reasoning=opened).parse("".join(chunks)) == ReasoningDelta(
        reasoning, content
    )
    assert reference("".join(chunks), opened) == (reasoning, content)


SPLIT_TEXTS = [
    ("<think>a</think>b", False, "a", "b"),
    ("\n<think>\nx y\n</think>\n\nz", False, "x y", "z"),
    ("x y \n</think>\n z", True, "x y", "z"),
]


@pytest.mark.parametrize(("text", "opened", "reasoning", "content"), SPLIT_TEXTS)
def test_tags_split_at_every_position(text: str, opened: bool, reasoning: str, content: str) -> None:
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            chunks = [text[:i], text[i:j], text[j:]]
            assert total(stream(chunks, opened=opened)) == (reasoning, content), chunks
    assert total(stream(list(text), opened=opened)) == (reasoning, content)


@pytest.mark.parametrize(
    ("opened", "chunks", "expected"),
    [
        pytest.param(
            False,
            ["<th", "ink>", "Hel", "lo </", "think>", " Wor", "ld"],
            [("", ""), ("", ""), ("Hel", ""), ("lo", ""), ("", ""), ("", "Wor"), ("", "ld"), ("", "")],
            id="split-tags",
        ),
        pytest.param(
            False,
            ["<think>a\n", "b <", "/x", "</thi", "nk>"],
            [("a", ""), ("\nb", ""), (" </x", ""), ("", ""), ("", ""), ("", "")],
            id="whitespace-and-false-partial-released",
        ),
        pytest.param(
            True,
            ["a</", "b", "</"],
            [("a", ""), ("</b", ""), ("", ""), ("</", "")],
            id="cut-off-flushes-partial-tag",
        ),
        pytest.param(
            False,
            ["  ", "Hi", " <think>"],
            [("", ""), ("", "  Hi"), ("", " <think>"), ("", "")],
            id="content-emitted-at-once",
        ),
    ],
)
def test_holds_back_only_what_is_undecided(
    opened: bool, chunks: list[str], expected: list[tuple[str, str]]
) -> None:
    assert [(d.reasoning, d.content) for d in stream(chunks, opened=opened)] == expected


@pytest.mark.parametrize(
    ("opened", "chunks"),
    [
        pytest.param(False, [START, "thinking", END, "answer"], id="both-tags"),
        pytest.param(True, ["thinking", END, "answer"], id="opened-end-tag"),
        pytest.param(True, [START, "thinking", END, "answer"], id="opened-redundant-start-tag"),
    ],
)
def test_bare_tag_delta_is_empty(opened: bool, chunks: list[str]) -> None:
    deltas = stream(chunks, opened=opened)
    for chunk, delta in zip(chunks, deltas, strict=False):
        if chunk in (START, END):
            assert delta == ReasoningDelta()
            assert not delta
        else:
            assert delta


def test_in_reasoning_follows_the_stream() -> None:
    parser = DeepSeekR1ReasoningParser()
    assert not parser.in_reasoning
    parser.feed("<think>")
    assert parser.in_reasoning
    parser.feed("a</think>")
    assert not parser.in_reasoning
    assert DeepSeekR1ReasoningParser(prompt_opens_reasoning=True).in_reasoning


def test_feed_after_finish_is_an_error() -> None:
    parser = DeepSeekR1ReasoningParser()
    parser.finish()
    assert parser.finish() == ReasoningDelta()
    with pytest.raises(RuntimeError):
        parser.feed("late")


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n", True),
        ("<｜User｜>hi<｜Assistant｜><think>", True),
        ("<｜Assistant｜><think>\n\n  ", True),
        ("<|im_start|>assistant\n<think>x</think>", False),
        ("<|im_start|>assistant\n<think>x</think>\n", False),
        ("<|im_start|>assistant\n<think>\n\n</think>\n\n", False),
        ("<|im_start|>user\nwhat does <think> do?<|im_end|>\n<|im_start|>assistant\n", False),
        ("<|im_start|>assistant\n", False),
        ("", False),
    ],
)
def test_prompt_opens_reasoning(prompt: str, expected: bool) -> None:
    assert DeepSeekR1ReasoningParser.prompt_opens_reasoning(prompt) is expected


def test_registry() -> None:
    assert get_parser("deepseek_r1") is DeepSeekR1ReasoningParser
    assert "deepseek_r1" in parser_names()


def test_unknown_parser_name_lists_known_ones() -> None:
    with pytest.raises(UnknownReasoningParserError, match=r"'nope'.*deepseek_r1") as info:
        get_parser("nope")
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ValueError)


def test_reasoning_delta() -> None:
    assert not ReasoningDelta()
    assert ReasoningDelta(reasoning="r")
    assert ReasoningDelta(content="c")
    assert ReasoningDelta("a", "b") + ReasoningDelta("c", "d") == ReasoningDelta("ac", "bd")


PIECES = [START, END, "<", "</", "think", ">", " ", "\n", "\u3000", "a", "答案", "思考"]
texts = st.one_of(st.lists(st.sampled_from(PIECES), max_size=30).map("".join), st.text())


@st.composite
def chunkings(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=len(text) + 2)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)  # a deadline would assert on timing
@given(text=texts, opened=st.booleans(), data=st.data())
def test_any_chunking_matches_whole_text(text: str, opened: bool, data: st.DataObject) -> None:
    whole = DeepSeekR1ReasoningParser(prompt_opens_reasoning=opened).parse(text)
    assert (whole.reasoning, whole.content) == reference(text, opened)
    chunks = data.draw(chunkings(text))
    assert "".join(chunks) == text
    assert total(stream(chunks, opened=opened)) == (whole.reasoning, whole.content)


tagless = (
    st.lists(st.sampled_from(PIECES[2:]), max_size=15)
    .map("".join)
    .filter(lambda s: START not in s and END not in s)
)


@settings(max_examples=300, deadline=None)  # a deadline would assert on timing
@given(
    lead=st.sampled_from(["", " ", "\n"]),
    reasoning=tagless,
    content=tagless,
    opened=st.booleans(),
    data=st.data(),
)
def test_consumed_tags_never_leak(
    lead: str, reasoning: str, content: str, opened: bool, data: st.DataObject
) -> None:
    # With the prompt opening reasoning the model may or may not repeat the start tag.
    start = data.draw(st.sampled_from(["", START])) if opened else START
    text = f"{lead}{start}{reasoning}{END}{content}"
    deltas = stream(data.draw(chunkings(text)), opened=opened)
    for piece in [*(d.reasoning for d in deltas), *(d.content for d in deltas), *total(deltas)]:
        assert START not in piece
        assert END not in piece
    assert total(deltas) == (reasoning.strip(), content.lstrip())
