"""The report of a run file: its JSON shape, the numbers on a constructed run, the table and the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from deepfort.evals.cache import RunData, RunFile, RunParams, read_run
from deepfort.evals.html import report_html
from deepfort.evals.report import build_report, print_report

SUITE_KEYS = {
    "mode",
    "metric",
    "score",
    "n",
    "answers",
    "samples",
    "correct",
    "unparsed_rate",
    "truncated_rate",
    "mean_reasoning_tokens",
    "mean_answer_tokens",
    "tokens_estimated",
    "wall_s",
    "questions_per_minute",
    "requests_per_second",
    "subjects",
}


def generated(item: str, subject: str, correct: bool, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "suite": "mcq",
        "item": item,
        "sample": 0,
        "mode": "generate",
        "hash": "h",
        "subject": subject,
        "target": "A",
        "correct": correct,
        "extracted": "A" if correct else "B",
        "truncated": False,
        "answer": {"completion_tokens": 100, "reasoning_tokens": 80, "tokens_estimated": False},
        "requests": 1,
    }
    record.update(fields)
    return record


def constructed(path: Path) -> RunData:
    """Four MCQ answers in two subjects over two sessions, and one loglikelihood suite."""
    with RunFile.open(path, RunParams("m", temperature=0.6)) as run:
        run.suite({"suite": "mcq", "mode": "generate", "metric": "accuracy"})
        run.append(generated("q1", "law", True, started=100.0, t=103.0))
        run.append(generated("q2", "law", False, extracted=None, started=101.0, t=106.0))
    with RunFile.open(path, RunParams("m", temperature=0.6)) as run:
        run.append(generated("q3", "physics", True, started=200.0, t=201.0))
        run.append(
            generated(
                "q4",
                "physics",
                False,
                truncated=True,
                started=200.5,
                t=206.0,
                answer={"completion_tokens": 300, "reasoning_tokens": 300, "tokens_estimated": True},
            )
        )
        run.suite({"suite": "ll", "mode": "loglikelihood", "metric": "accuracy"})
        for i in range(3):
            run.append(
                {
                    "suite": "ll",
                    "item": f"x{i}",
                    "sample": 0,
                    "mode": "loglikelihood",
                    "hash": "h",
                    "correct": i > 0,
                    "extracted": "A",
                    "scores": [[-1.0, True], [-2.0, False]],
                    "requests": 2,
                    "started": 300.0 + i,
                    "t": 301.0 + i,
                }
            )
    return read_run(path)


def test_report_numbers(tmp_path: Path) -> None:
    report = build_report(constructed(tmp_path / "run.jsonl"))
    assert report["object"] == "eval.report" and report["model"] == "m" and report["sessions"] == 2
    mcq = report["suites"]["mcq"]
    assert set(mcq) == SUITE_KEYS
    assert (mcq["score"], mcq["n"], mcq["unparsed_rate"], mcq["truncated_rate"]) == (0.5, 4, 0.25, 0.25)
    assert mcq["mean_reasoning_tokens"] == (80 * 3 + 300) / 4
    assert mcq["mean_answer_tokens"] == 20 * 3 / 4
    assert mcq["tokens_estimated"] is True
    # Two sessions: 100..106 (2 answers) and 200..206 (2 answers): 4 answers in 12 s.
    assert mcq["wall_s"] == 12.0
    assert mcq["questions_per_minute"] == 20.0 and mcq["requests_per_second"] == round(4 / 12, 3)
    assert mcq["subjects"]["law"]["score"] == 0.5 and mcq["subjects"]["physics"]["truncated_rate"] == 0.5
    ll = report["suites"]["ll"]
    assert ll["mode"] == "loglikelihood" and ll["score"] == 0.6667 and ll["subjects"] == {}
    assert ll["mean_reasoning_tokens"] is None and ll["requests_per_second"] == 2.0
    assert "pass_at_k" not in ll


def test_report_of_one_run_only_counts_its_keys(tmp_path: Path) -> None:
    data = constructed(tmp_path / "run.jsonl")
    report = build_report(data, {("mcq", "q1", 0, "generate"), ("mcq", "q3", 0, "generate")})
    assert list(report["suites"]) == ["mcq"]
    assert report["suites"]["mcq"]["n"] == 2 and report["suites"]["mcq"]["score"] == 1.0


def test_table(tmp_path: Path) -> None:
    console = Console(record=True, width=200)
    print_report(build_report(constructed(tmp_path / "run.jsonl")), console)
    text = console.export_text()
    assert "50.0% acc" in text and "mcq by subject" in text and "physics" in text
    assert "loglikelihood" in text and "135/15" in text  # mean think / answer tokens
    assert "partly estimated" in text


def test_page_has_the_charts_and_escapes_text(tmp_path: Path) -> None:
    data = constructed(tmp_path / "run.jsonl")
    page = report_html(build_report(data))
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") == 2  # the suites, and mcq's subjects (ll has none)
    assert "<title>score per suite</title>" in page and "<title>mcq by subject</title>" in page
    assert "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    hostile = RunFile.open(tmp_path / "h.jsonl", RunParams("<img src=x onerror=alert(1)>"))
    with hostile:
        hostile.append(generated("q1", "<script>alert(1)</script>", True, started=1.0, t=2.0))
    page = report_html(build_report(read_run(tmp_path / "h.jsonl")))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page


def test_empty_report(tmp_path: Path) -> None:
    with RunFile.open(tmp_path / "e.jsonl", RunParams("m")):
        pass
    report = build_report(read_run(tmp_path / "e.jsonl"))
    assert report["suites"] == {}
    assert "No answers yet" in report_html(report)
