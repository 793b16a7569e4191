"""The maths suites: answer equivalence (normalisation, exact rationals, math-verify), the GSM8K and
MATH-500 readers, prompts and judging. The worker-process tests start a process: marked e2e."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from deepfort.errors import ConfigError
from deepfort.evals.base import Generation
from deepfort.evals.suites import SUITES
from deepfort.evals.suites.maths import (
    GSM8K,
    MATH,
    IsolatedVerifier,
    normalise_answer,
    same_answer,
    verify_here,
)

DATA = Path(__file__).parents[1] / "data" / "evals"


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("\\$1{,}000", "1000"),
        ("1000 dollars", "1000"),
        ("\\dfrac12", "\\frac{1}{2}"),
        ("\\tfrac{3}4", "\\frac{3}{4}"),
        ("50\\%", "50"),
        ("90^\\circ", "90"),
        ("90°", "90"),
        ("x = 5", "5"),
        ("\\left( 1, 2 \\right)", "(1,2)"),
        ("5\\text{ cm}^2", "5"),
        ("42元", "42"),
        ("2ab", "2ab"),
        ("\\text{Monday}", "Monday"),
        ("\\sqrt2", "\\sqrt{2}"),
        ("$\\frac{\\sqrt{3}}{2}$", "\\frac{\\sqrt{3}}{2}"),
        ("1,000,000", "1000000"),
        ("(1,000)", "(1,000)"),
        ("\\displaystyle 7.", "7"),
        ("\\text{(C)}", "C"),
    ],
)
def test_normalise_answer(written: str, normal: str) -> None:
    assert normalise_answer(written) == normal


# (gold, answer, equivalent)
EQUIVALENCE = [
    ("1/2", "0.5", True),
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\dfrac12", True),
    ("0.5", "\\dfrac12", True),
    ("1,000", "1000", True),
    ("\\$5", "5 dollars", True),
    ("50\\%", "50", True),
    ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}", True),
    ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", True),
    ("5", "5.0", True),
    ("-\\frac{3}{4}", "-0.75", True),
    ("90^\\circ", "90", True),
    ("x^2+1", "1+x^2", True),
    ("3\\sqrt{13}", "\\sqrt{117}", True),
    ("[1,3)", "[1, 3)", True),
    ("\\text{(B)}", "(B)", True),
    ("1/2", "0.51", False),
    ("1000", "100", False),
    ("\\frac{\\sqrt2}{2}", "\\sqrt{3}/2", False),
    ("x^2+1", "x^2-1", False),
    ("50\\%", "0.5", False),
    ("2", "-2", False),
    ("[1,3)", "[1,3]", False),
    ("7", "", False),
]


@pytest.mark.parametrize(("gold", "answer", "equivalent"), EQUIVALENCE)
def test_same_answer(gold: str, answer: str, equivalent: bool) -> None:
    assert same_answer(gold, answer, verify_here) is equivalent


def test_plain_rationals_never_reach_sympy() -> None:
    def refuse(gold: str, answer: str) -> bool:
        raise AssertionError(f"sympy asked about {gold!r} and {answer!r}")

    assert same_answer("\\frac{7}{2}", "3.5", refuse) is True
    assert same_answer("1,250", "1249", refuse) is False


def test_math_verify_cannot_run_its_timeouts_off_the_main_thread() -> None:
    """Why the suites use a worker process: the runner judges from threads, and math-verify's signal
    alarms refuse to run there."""
    errors: list[BaseException] = []

    def check() -> None:
        try:
            verify_here("\\frac{\\sqrt2}{2}", "\\sqrt{2}/2")
        except ValueError as exc:
            errors.append(exc)

    thread = threading.Thread(target=check)
    thread.start()
    thread.join()
    assert errors and "thread" in str(errors[0])


# -- GSM8K -----------------------------------------------------------------------------------------------


def test_gsm8k_reads_the_published_format() -> None:
    items = GSM8K().load(DATA / "gsm8k_test.jsonl")
    assert [item.target for item in items] == ["7", "14", "10000", "25"]
    assert [item.id for item in items][:2] == ["gsm8k_test/1", "gsm8k_test/2"]
    assert items[0].prompt == (
        "A baker makes 24 muffins in the morning and 18 in the afternoon. She sells 35 of them. How many "
        "muffins are left?\nPlease reason step by step, and put your final answer within \\boxed{}."
    )
    assert items[3].prompt.endswith("他还剩多少元？\n请逐步推理，并把最终答案写在 \\boxed{} 中。")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"question": "Q", "answer": "no marker"}\n', r"x\.jsonl:1: `answer` must end with '#### <number>'"),
        ('{"question": "Q", "answer": "#### 3"}\n{"question": "Q"}\n', r"x\.jsonl:2: `answer` must be"),
        ('{"question": "Q", "answer": "####  "}\n', r"x\.jsonl:1: nothing after '####'"),
        ("[1, 2]\n", r"x\.jsonl:1: expected a JSON object"),
    ],
)
def test_gsm8k_malformed_lines(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=error):
        GSM8K().load(path)


@pytest.mark.parametrize(
    ("content", "finish", "correct", "extracted"),
    [
        ("She makes 42 muffins and sells 35, leaving 7.\n\n\\boxed{7}", "stop", True, "7"),
        ("<think>Maybe 8? No.</think>42 - 35 = 7, so the answer is 7 muffins.", "stop", True, "7"),
        ("The answer is 6.", "stop", False, "6"),
        ("First she bakes 24 muffins, then", "length", False, None),
    ],
)
def test_gsm8k_judge(content: str, finish: str, correct: bool, extracted: str | None) -> None:
    suite = GSM8K(sympy=verify_here)
    item = suite.load(DATA / "gsm8k_test.jsonl")[0]
    verdict = suite.judge(item, Generation(content, finish_reason=finish))
    assert (verdict.correct, verdict.extracted, verdict.truncated) == (correct, extracted, finish == "length")


def test_gsm8k_thousands_and_dollars() -> None:
    suite = GSM8K(sympy=verify_here)
    item = suite.load(DATA / "gsm8k_test.jsonl")[2]
    assert suite.judge(item, Generation("It makes $\\boxed{10{,}000}$ bottles.")).correct
    assert suite.judge(item, Generation("#### 10,000")).correct


# -- MATH ------------------------------------------------------------------------------------------------


def test_math_reads_math500() -> None:
    items = MATH().load(DATA / "math500.jsonl")
    assert [item.id for item in items] == [
        "test/prealgebra/1001.json",
        "test/precalculus/120.json",
        "test/algebra/2457.json",
    ]
    assert [item.subject for item in items] == ["Prealgebra", "Precalculus", "Algebra"]
    assert items[1].target == "\\frac{\\sqrt{2}}{2}"
    assert items[2].data["level"] == 2
    assert items[0].prompt.endswith("Please reason step by step, and put your final answer within \\boxed{}.")


def test_math_refuses_a_row_without_its_answer(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text('{"problem": "1+1?", "answer": "2"}\n{"problem": "2+2?"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"m\.jsonl:2: `answer` must be a non-empty string"):
        MATH().load(path)


@pytest.mark.parametrize(
    ("index", "content", "correct", "extracted"),
    [
        (1, "The unit circle gives $\\boxed{\\dfrac{\\sqrt2}{2}}$.", True, "\\dfrac{\\sqrt2}{2}"),
        (1, "So $\\sin 45^\\circ = \\boxed{\\frac{1}{\\sqrt{2}}}$.", True, "\\frac{1}{\\sqrt{2}}"),
        (1, "\\boxed{\\frac{\\sqrt{3}}{2}}", False, "\\frac{\\sqrt{3}}{2}"),
        (2, "$x = \\boxed{3.5}$", True, "3.5"),
        (2, "Final Answer: The final answer is $\\frac72$. I hope it is correct.", True, "\\frac72"),
        (0, "<think>\\boxed{144}</think>The value is 12.", False, None),
    ],
)
def test_math_judge(index: int, content: str, correct: bool, extracted: str | None) -> None:
    suite = MATH(sympy=verify_here)
    item = suite.load(DATA / "math500.jsonl")[index]
    verdict = suite.judge(item, Generation(content))
    assert (verdict.correct, verdict.extracted) == (correct, extracted)


def test_an_undecided_sympy_check_is_wrong_and_says_so() -> None:
    suite = MATH(sympy=lambda gold, answer: None)
    item = suite.load(DATA / "math500.jsonl")[1]
    verdict = suite.judge(item, Generation("\\boxed{\\frac{1}{\\sqrt2}}"))
    assert (verdict.correct, verdict.extracted, verdict.detail) == (
        False,
        "\\frac{1}{\\sqrt2}",
        "the sympy check timed out",
    )


def test_the_suites_are_registered() -> None:
    assert SUITES.get("gsm8k") is GSM8K
    assert SUITES.get("math") is MATH


# -- the worker process ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_worker_judges_from_a_thread() -> None:
    """As the runner does: judge() in a worker thread, math-verify in the worker process."""
    suite = MATH()
    item = suite.load(DATA / "math500.jsonl")[1]
    verdicts = []
    thread = threading.Thread(
        target=lambda: verdicts.append(suite.judge(item, Generation("\\boxed{\\sqrt{2}/2}")))
    )
    thread.start()
    thread.join()
    assert verdicts[0].correct


@pytest.mark.e2e
def test_a_slow_check_answers_none_and_the_worker_is_replaced() -> None:
    verifier = IsolatedVerifier(timeout=0.001)  # less than a process takes to start
    try:
        assert verifier("\\frac{\\sqrt2}{2}", "\\sqrt{2}/2") is None
        verifier.timeout = 60
        assert verifier("\\frac{\\sqrt2}{2}", "\\sqrt{2}/2") is True
        assert verifier("\\frac{\\sqrt2}{2}", "\\sqrt{3}/2") is False
    finally:
        verifier.close()
