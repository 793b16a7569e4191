"""The golden-set suite: the existing checkers through the suite, and judge checkers scored from a judge
model's reply, read strictly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepfort.errors import ConfigError
from deepfort.evals.base import Generation, Item
from deepfort.evals.golden import load_golden
from deepfort.evals.suites import SUITES
from deepfort.evals.suites.golden import Golden

ROWS = [
    {"question": "中国的首都是哪里？", "answers": ["北京", "Beijing"]},
    {"question": "What is 6 x 7?", "checker": {"type": "number", "value": 42}},
    {"question": "Name a prime above 10", "checker": {"type": "regex", "pattern": "\\b(11|13|17|19)\\b"}},
    {"question": "Say OK", "checker": {"type": "exact", "value": "OK"}},
    {"question": "Which ocean is the largest?", "checker": {"type": "contains", "value": "Pacific"}},
    {
        "question": "用一句话解释 GDP",
        "checker": {"type": "judge", "criteria": "说出它是一国一定时期内生产的最终产品和服务的总价值"},
    },
]


@pytest.fixture
def golden_file(tmp_path: Path) -> Path:
    path = tmp_path / "golden.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ROWS), encoding="utf-8")
    return path


@pytest.fixture
def items(golden_file: Path) -> list[Item]:
    return Golden().load(golden_file)


def test_registered() -> None:
    assert SUITES.get("golden") is Golden


def test_load(items: list[Item]) -> None:
    assert [item.id for item in items] == [f"golden/{n}" for n in range(1, 7)]
    assert items[0].prompt == "中国的首都是哪里？"
    assert [item.target for item in items] == [
        "北京 | Beijing",
        "number: 42",
        "regex: \\b(11|13|17|19)\\b",
        "exact: OK",
        "contains: Pacific",
        "judge: 说出它是一国一定时期内生产的最终产品和服务的总价值",
    ]


@pytest.mark.parametrize(
    ("index", "content", "correct"),
    [
        (0, "中国的首都是北京。", True),
        (0, "<think>上海？不对。</think>是北京", True),
        (0, "<think>北京</think>上海", False),
        (1, "6 x 7 = 42", False),  # the number checker reads the first number: 6
        (1, "42", True),
        (2, "13 is prime.", True),
        (2, "12", False),
        (3, "OK.", True),
        (3, "OK, sure", False),
        (4, "The Pacific Ocean.", True),
    ],
)
def test_checkers(items: list[Item], index: int, content: str, correct: bool) -> None:
    verdict = Golden().judge(items[index], Generation(content))
    assert verdict.correct is correct
    assert verdict.extracted is not None
    assert (verdict.detail == "") is correct


def test_an_empty_answer_is_unparsed(items: list[Item]) -> None:
    verdict = Golden().judge(items[0], Generation("", reasoning="北京", finish_reason="length"))
    assert (verdict.correct, verdict.extracted, verdict.truncated) == (False, None, True)
    assert verdict.detail == "empty answer (cut by max_tokens)"


def test_only_judge_items_with_an_answer_ask_the_judge(items: list[Item]) -> None:
    suite = Golden()
    assert all(suite.judge_request(item, Generation("北京")) is None for item in items[:5])
    assert suite.judge_request(items[5], Generation("<think>嗯</think>")) is None
    request = suite.judge_request(items[5], Generation("<think>想一想</think>GDP 是国内生产总值。"))
    assert request is not None
    (message,) = request.messages
    assert message["role"] == "user"
    prompt = message["content"]
    assert "用一句话解释 GDP" in prompt and "最终产品和服务的总价值" in prompt
    assert "GDP 是国内生产总值。" in prompt and "想一想" not in prompt
    assert prompt.endswith('exactly "VERDICT: PASS" or "VERDICT: FAIL".')


@pytest.mark.parametrize(
    ("reply", "correct", "extracted"),
    [
        ("The answer names total output over a period.\nVERDICT: PASS", True, "GDP 是国内生产总值。"),
        ("It only expands the acronym.\n\nVERDICT: FAIL", False, "GDP 是国内生产总值。"),
        ("Good enough.\n**VERDICT: PASS**\n", True, "GDP 是国内生产总值。"),
        ("<think>VERDICT: FAIL? no</think>Meets the criteria.\nVERDICT: PASS", True, "GDP 是国内生产总值。"),
        ("VERDICT: PASS\nOn reflection it misses the period.", False, None),  # not the last line
        ("The verdict is pass.", False, None),
        ("VERDICT: PASS or FAIL", False, None),
        ("verdict: pass", False, None),
        ("", False, None),
    ],
)
def test_judge_verdict_is_read_strictly(
    items: list[Item], reply: str, correct: bool, extracted: str | None
) -> None:
    answer = Generation("GDP 是国内生产总值。")
    verdict = Golden().judge_verdict(items[5], answer, Generation(reply))
    assert (verdict.correct, verdict.extracted) == (correct, extracted)
    if extracted is None:
        assert verdict.detail.startswith("the judge's reply has no VERDICT line")


def test_a_judge_item_without_a_judge_reply_is_never_a_pass(items: list[Item]) -> None:
    verdict = Golden().judge(items[5], Generation("GDP 是国内生产总值。"))
    assert (verdict.correct, verdict.extracted) == (False, None)


@pytest.mark.parametrize(
    ("checker", "error"),
    [
        ({"type": "judge"}, "checker must be one of .*judge \\(criteria\\)"),
        (
            {"type": "judge", "criteria": "  "},
            "golden.jsonl:1: a judge checker's `criteria` must be a non-empty string",
        ),
        ({"type": "judge", "criteria": 3}, "`criteria` must be a non-empty string"),
    ],
)
def test_judge_checkers_are_validated(tmp_path: Path, checker: dict[str, object], error: str) -> None:
    path = tmp_path / "golden.jsonl"
    path.write_text(json.dumps({"question": "Q", "checker": checker}) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        load_golden(path, judge=True)


def test_load_golden_refuses_judge_items_where_no_judge_can_score_them(golden_file: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"golden\.jsonl:6: a judge checker needs a judge model: .*--judge-url"
    ):
        load_golden(golden_file)
    assert len(load_golden(golden_file, judge=True)) == 6


def test_check_refuses_a_judge_item(golden_file: Path) -> None:
    judged = load_golden(golden_file, judge=True)[5]
    assert judged.judged
    with pytest.raises(ValueError, match="judge model"):
        judged.check("anything")


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        Golden().load(tmp_path / "missing.jsonl")
