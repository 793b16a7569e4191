"""``deepfort data synth`` against the real app in process (httpx ASGITransport) whose teacher model is the
scripted engine: new questions too close to the seeds or to each other dropped, reasoning kept, resumed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepfort.training.dataset.records import DataError, Message, Record, write_jsonl
from deepfort.training.dataset.rouge import lcs, rouge_l
from deepfort.training.dataset.synth import SynthOptions, Teacher, parse_questions, synthesize
from deepfort.training.dataset.text import tokens
from tests.conftest import InProcess, in_process

TEACHER = {
    "models": [{"id": "teacher", "engine": "scripted", "n_ctx": 4096, "reasoning_parser": "deepseek_r1"}]
}
SEEDS = [
    "How do I reset my password?",
    "How long does a refund take?",
    "Can I change my delivery address after ordering?",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with in_process(TEACHER, tmp_path_factory.mktemp("teacher")) as app:
        yield app


def seeds() -> list[Record]:
    return [Record((Message("user", q), Message("assistant", "..."))) for q in SEEDS]


def test_synth_keeps_new_questions_with_the_teachers_reasoning_and_resumes(
    served: InProcess, tmp_path: Path
) -> None:
    engine = served.engine("teacher")
    engine.reset()
    teacher = Teacher(served.client, "http://test/v1", "teacher", api_key="unused")
    out = tmp_path / "synth.jsonl"
    engine.enqueue(
        [
            "Here are new questions:\n1. How do I reset my password quickly?\n",
            "2. What payment methods do you accept?\n3) What payment methods do you accept?\n",
            "4. Is there a student discount on annual plans?",
        ]
    )
    engine.enqueue(["<think>Cards, PayPal", " and Alipay.</think>", "We accept cards, PayPal and Alipay."])
    engine.enqueue(["<think>Check the plan page.</think>Yes, 30% off with a student ID."])
    options = SynthOptions(n=2, k=2, per_request=4, concurrency=1, seed=7)
    result = served.run(synthesize(seeds(), out, teacher, options))

    assert (result.generated, result.too_close_to_seed, result.too_close_to_generated, result.rounds) == (
        2,
        1,
        1,
        1,
    )
    assert not result.gave_up
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines == [
        {
            "messages": [
                {"role": "user", "content": "What payment methods do you accept?"},
                {
                    "role": "assistant",
                    "content": "We accept cards, PayPal and Alipay.",
                    "reasoning_content": "Cards, PayPal and Alipay.",
                },
            ],
            "source": "synth",
        },
        {
            "messages": [
                {"role": "user", "content": "Is there a student discount on annual plans?"},
                {
                    "role": "assistant",
                    "content": "Yes, 30% off with a student ID.",
                    "reasoning_content": "Check the plan page.",
                },
            ],
            "source": "synth",
        },
    ]
    prompt = str(engine.requests[0].prompt)
    assert "Here are example questions" in prompt and "Write 4 new questions" in prompt
    assert sum(seed in prompt for seed in SEEDS) == 2
    assert "What payment methods do you accept?" in str(engine.requests[1].prompt)

    # A crash in the middle of a line, then a second run for one more: the old records stay, the cut line
    # goes, and the old questions count against the new ones.
    with out.open("a", encoding="utf-8") as handle:
        handle.write('{"messages": [{"role": "user", "con')
    engine.enqueue(["1. What payment methods do you accept?\n2. Do you ship to Hong Kong and Macau?"])
    engine.enqueue(["Yes, in 3 to 5 days."])
    again = served.run(synthesize(seeds(), out, teacher, SynthOptions(n=3, k=2, concurrency=1)))
    assert (again.existing, again.generated, again.too_close_to_generated) == (2, 1, 1)
    after = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert after[:2] == lines
    assert after[2]["messages"] == [
        {"role": "user", "content": "Do you ship to Hong Kong and Macau?"},
        {"role": "assistant", "content": "Yes, in 3 to 5 days."},
    ]


def test_a_teacher_that_refuses_is_an_error_with_its_message(served: InProcess, tmp_path: Path) -> None:
    teacher = Teacher(served.client, "http://test/v1", "no-such-model")
    with pytest.raises(DataError, match=r"teacher http://test/v1/chat/completions answered 404"):
        served.run(synthesize(seeds(), tmp_path / "out.jsonl", teacher, SynthOptions(n=1, concurrency=1)))


def test_a_seed_file_without_questions_is_refused(served: InProcess, tmp_path: Path) -> None:
    teacher = Teacher(served.client, "http://test/v1", "teacher")
    write_jsonl(tmp_path / "seed.jsonl", [])
    with pytest.raises(DataError, match="no questions"):
        served.run(synthesize([], tmp_path / "out.jsonl", teacher, SynthOptions(n=1)))


def test_parse_questions_reads_numbered_and_bulleted_lists_in_both_languages() -> None:
    reply = "以下是新的问题：\n1、如何申请退货？\n2. 运费由谁承担？\n- Q: Do you ship abroad?\n\n"
    reply += "问题3：能开发票吗？"
    assert parse_questions(reply) == [
        "如何申请退货？",
        "运费由谁承担？",
        "Do you ship abroad?",
        "能开发票吗？",
    ]


@pytest.mark.parametrize(
    ("a", "b", "score"),
    [
        ("How do I reset my password?", "How do I reset my password quickly?", 12 / 13),
        ("如何申请退货？", "怎样申请退货", 2 * (4 / 6) * (4 / 6) / (4 / 6 + 4 / 6)),
        ("What payment methods do you accept?", "Is there a student discount?", 0.0),
        ("", "anything", 0.0),
    ],
)
def test_rouge_l_on_our_tokens(a: str, b: str, score: float) -> None:
    assert rouge_l(tokens(a), tokens(b)) == pytest.approx(score)


_WORDS = st.lists(st.sampled_from(["a", "b", "c", "d", "退", "货"]), max_size=12)


@given(a=_WORDS, b=_WORDS, at_least=st.floats(0.0, 1.0))
def test_the_shared_token_bound_never_hides_a_score_over_the_threshold(
    a: list[str], b: list[str], at_least: float
) -> None:
    full = rouge_l(a, b)
    bounded = rouge_l(a, b, at_least=at_least)
    assert bounded == full or (bounded == 0.0 and full < at_least)
    assert lcs(a, b) == lcs(b, a) <= min(len(a), len(b))
