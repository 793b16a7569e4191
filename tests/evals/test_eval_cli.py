"""``deepfort eval``: run in process (the real app on the scripted engine), suites, report, compare, the
errors a user meets first; and one run against a real ``deepfort serve`` (e2e)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

import tests.engines.scripted as scripted
from deepfort.cli.main import app
from tests.conftest import Server

Run = Callable[..., Result]

QUESTIONS: list[dict[str, Any]] = [
    {
        "id": "q1",
        "question": "2 + 2 = ?",
        "choices": ["3", "4", "5", "6"],
        "answer": "B",
        "subject": "arithmetic",
    },
    {
        "id": "q2",
        "question": "Capital of France?",
        "choices": ["Rome", "Paris", "Oslo"],
        "answer": 1,
        "subject": "geo",
    },
    {
        "id": "q3",
        "question": "Largest planet?",
        "choices": ["Mars", "Venus", "Jupiter"],
        "answer": "C",
        "subject": "geo",
    },
]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("DEEPFORT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    return run


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "mcq.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return path


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "deepfort.yaml"
    path.write_text(yaml.safe_dump({"models": [{"id": "scripted", "engine": "scripted", "n_ctx": 512}]}))
    yield path


def answering(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Every request of the in-process app's scripted engine answers ``text``."""
    monkeypatch.setattr(scripted, "DEFAULT", (text,))


def one_json(result: Result) -> Any:
    assert result.exit_code == 0, result.stderr + result.stdout
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


def test_run_in_process_prints_one_json_report_and_writes_the_page(
    cli: Run, config: Path, questions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering(monkeypatch, "Let me see.\nAnswer: B")  # right for q1 and q2, wrong for q3
    run_file, page = tmp_path / "run.jsonl", tmp_path / "out" / "report.html"
    args = ["eval", "run", "mcq", "--config", str(config), "--model", "scripted", "--data", str(questions)]
    args += ["--run-file", str(run_file), "--html", str(page), "--json", "--samples", "2"]
    report = one_json(cli(*args))
    suite = report["suites"]["mcq"]
    assert report["model"] == "scripted"
    assert report["params"] == {
        "model": "scripted",
        "temperature": 0.6,
        "top_p": 0.95,
        "max_tokens": None,
        "seed": 0,
        "judge_model": None,
    }
    assert (suite["score"], suite["n"], suite["answers"], suite["unparsed_rate"]) == (0.6667, 3, 6, 0.0)
    assert suite["mode"] == "generate" and suite["metric"] == "accuracy"
    assert suite["subjects"]["geo"]["score"] == 0.5
    html = page.read_text()
    assert html.count("<svg") == 2 and "mcq by subject" in html
    # The same command again asks nothing (every answer is in the run file) and reports the same.
    answering(monkeypatch, "Answer: C")
    again = one_json(cli(*args))
    assert again["suites"]["mcq"]["score"] == 0.6667
    lines = [json.loads(line) for line in run_file.read_text().splitlines()]
    assert [line["type"] for line in lines].count("session") == 2
    assert [line["type"] for line in lines].count("answer") == 6, "the rerun asked nothing"


def test_default_run_file_is_named_by_model_and_settings(
    cli: Run, config: Path, questions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering(monkeypatch, "Answer: B")
    base = ["eval", "run", "mcq", "--config", str(config), "--model", "scripted", "--data", str(questions)]
    result = cli(*base, "--limit", "1", "--temperature", "0")
    assert result.exit_code == 0, result.stderr
    assert "scripted" in result.stdout and "100.0%" in result.stdout
    first = sorted(tmp_path.glob("deepfort-eval-scripted-*.jsonl"))
    assert len(first) == 1 and first[0].name in result.stderr.replace("\n", "")
    assert cli(*base, "--limit", "1", "--temperature", "0.6").exit_code == 0
    assert len(sorted(tmp_path.glob("deepfort-eval-scripted-*.jsonl"))) == 2, "other settings, other file"


def test_run_file_of_other_settings_is_refused(
    cli: Run, config: Path, questions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering(monkeypatch, "Answer: B")
    base = ["eval", "run", "mcq", "--config", str(config), "--model", "scripted", "--data", str(questions)]
    base += ["--run-file", str(tmp_path / "r.jsonl")]
    assert cli(*base).exit_code == 0
    refused = cli(*base, "--max-tokens", "64")
    assert refused.exit_code == 1
    assert "written with other settings: max_tokens None (this run: 64)" in " ".join(refused.stderr.split())


def test_report_and_compare(
    cli: Run, config: Path, questions: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["eval", "run", "mcq", "--config", str(config), "--model", "scripted", "--data", str(questions)]
    answering(monkeypatch, "Answer: B")
    assert cli(*base, "--run-file", "a.jsonl").exit_code == 0
    answering(monkeypatch, "Answer: C")
    assert cli(*base, "--run-file", "b.jsonl", "--seed", "1").exit_code == 0
    report = one_json(cli("eval", "report", "a.jsonl", "--json"))
    assert report["suites"]["mcq"]["score"] == 0.6667
    compared = one_json(cli("eval", "compare", "a.jsonl", "b.jsonl", "--json", "--resamples", "500"))
    mcq = compared["suites"]["mcq"]
    assert mcq["delta"] == round(1 / 3 - 2 / 3, 4)
    assert [f["item"] for f in mcq["flipped"]["right_to_wrong"]] == ["q1", "q2"]
    assert [f["item"] for f in mcq["flipped"]["wrong_to_right"]] == ["q3"]
    table = cli("eval", "compare", "a.jsonl", "b.jsonl", "--html", "cmp.html")
    assert table.exit_code == 0 and "right -> wrong: q1, q2" in table.stdout
    assert "<svg" in (tmp_path / "cmp.html").read_text()


def test_suites_lists_every_suite_with_its_modes(cli: Run) -> None:
    listed = {row["name"]: row for row in one_json(cli("eval", "suites", "--json"))["data"]}
    assert {"mmlu", "ceval", "cmmlu", "mcq", "gsm8k", "math", "humaneval", "mbpp", "golden"} <= set(listed)
    assert listed["mmlu"]["modes"] == ["generate", "loglikelihood"]
    assert listed["humaneval"]["needs_data"] is False and listed["mmlu"]["needs_data"] is True
    table = cli("eval", "suites")
    assert table.exit_code == 0 and "humaneval" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "unknown eval suite 'nosuch'"),
        (["mmlu"], "suite 'mmlu' needs its questions: give --data PATH"),
        (["mcq", "--data", "missing.jsonl"], "no file or directory at missing.jsonl"),
        (
            ["gsm8k", "--data", "mcq.jsonl", "--mode", "loglikelihood"],
            "suite 'gsm8k' has no loglikelihood mode",
        ),
        (["mcq", "--data", "mcq.jsonl", "--mode", "guess"], "unknown mode 'guess'"),
    ],
)
def test_errors_before_anything_is_asked(cli: Run, questions: Path, args: list[str], message: str) -> None:
    result = cli("eval", "run", *args, "--url", "http://127.0.0.1:9/v1")
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())


def test_an_unreachable_server_is_an_error(cli: Run, questions: Path) -> None:
    result = cli(
        "eval", "run", "mcq", "--data", str(questions), "--url", "http://127.0.0.1:9", "--model", "m",
        "--retries", "1",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9/v1/chat/completions" in " ".join(result.stderr.split())
    assert "after 2 attempts" in " ".join(result.stderr.split())


@pytest.mark.e2e
def test_run_against_deepfort_serve(server: Server, questions: Path, tmp_path: Path) -> None:
    """The CLI as a user runs it, against the embedded model on a real server: greedy, short answers."""
    command = [sys.executable, "-m", "deepfort", "eval", "run", "mcq", "--url", server.base_url]
    command += [
        "--model",
        "smollm2-135m",
        "--data",
        str(questions),
        "--temperature",
        "0",
        "--max-tokens",
        "48",
    ]
    command += ["--run-file", str(tmp_path / "run.jsonl"), "--json", "--concurrency", "2"]
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    suite = report["suites"]["mcq"]
    assert suite["n"] == 3 and suite["answers"] == 3
    assert 0 <= suite["score"] <= 1 and 0 <= suite["unparsed_rate"] <= 1
    assert suite["mean_answer_tokens"] > 0 and suite["questions_per_minute"] > 0
    lines = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    answers = [line for line in lines if line["type"] == "answer"]
    assert len(answers) == 3
    for answer in answers:
        assert 0 < answer["answer"]["completion_tokens"] <= 48
        assert answer["truncated"] == (answer["answer"]["finish_reason"] == "length")
    assert suite["truncated_rate"] == round(sum(a["truncated"] for a in answers) / 3, 4)


@pytest.mark.e2e
def test_loglikelihood_against_deepfort_serve(server: Server, questions: Path, tmp_path: Path) -> None:
    """``loglikelihood`` mode reads the echoed prompt's log-probabilities: one score per option, the
    choice is the best of them, and nothing is left unparsed."""
    command = [
        sys.executable,
        "-m",
        "deepfort",
        "eval",
        "run",
        "mcq",
        "--url",
        server.v1,
        "--mode",
        "loglikelihood",
    ]
    command += [
        "--model",
        "smollm2-135m",
        "--data",
        str(questions),
        "--run-file",
        str(tmp_path / "run.jsonl"),
    ]
    command += ["--json"]
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    suite = json.loads(done.stdout)["suites"]["mcq"]
    assert suite["mode"] == "loglikelihood" and suite["n"] == 3 and suite["unparsed_rate"] == 0.0
    lines = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    answers = {a["item"]: a for a in lines if a["type"] == "answer"}
    for question in QUESTIONS:
        answer = answers[str(question["id"])]
        scores = [score for score, _ in answer["scores"]]
        assert len(scores) == len(question["choices"]) and all(s < 0 for s in scores)
        assert answer["extracted"] == "ABCD"[scores.index(max(scores))]
        assert answer["requests"] == len(scores)
