"""The run file on its own: what a crash can leave and what a rerun does with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from deepfort.evals.cache import RunFile, RunParams, read_run, request_hash
from deepfort.evals.client import EvalError

PARAMS = RunParams("m", temperature=0.6, top_p=0.95, max_tokens=None, seed=0)


def answer(item: str, sample: int = 0, hash_: str = "h", correct: bool = True) -> dict[str, Any]:
    return {
        "suite": "s",
        "item": item,
        "sample": sample,
        "mode": "generate",
        "hash": hash_,
        "correct": correct,
        "extracted": "A",
    }


def test_answers_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "a.jsonl"
    with RunFile.open(path, PARAMS, url="http://x/v1") as run:
        run.suite({"suite": "s", "mode": "generate", "metric": "accuracy"})
        run.append(answer("q1"))
        run.append(answer("q2", 1))
    with RunFile.open(path, PARAMS) as run:
        assert run.session == 2
        assert run.cached(("s", "q1", 0, "generate"), "h") is not None
        assert run.cached(("s", "q2", 1, "generate"), "h") is not None
        assert run.cached(("s", "q1", 0, "generate"), "other request") is None
        assert run.cached(("s", "q3", 0, "generate"), "h") is None
    data = read_run(path)
    assert [s["url"] for s in data.sessions] == ["http://x/v1", ""]
    assert data.params == PARAMS.as_dict()
    assert data.suites["s"]["metric"] == "accuracy"
    lines = path.read_text().splitlines()
    assert [json.loads(line)["type"] for line in lines] == [
        "header",
        "session",
        "suite",
        "answer",
        "answer",
        "session",
    ]


def test_each_line_is_on_disk_as_it_is_appended(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    run = RunFile.open(path, PARAMS)
    try:
        run.append(answer("q1"))
        assert len(read_run(path).answers) == 1, "flushed before the run ends"
    finally:
        run.close()


def test_the_newest_answer_of_a_key_wins(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with RunFile.open(path, PARAMS) as run:
        run.append(answer("q1", hash_="old", correct=False))
        run.append(answer("q2"))
        run.append(answer("q1", hash_="new", correct=True))
    data = read_run(path)
    assert [(k[1], a["hash"]) for k, a in data.answers.items()] == [("q2", "h"), ("q1", "new")]


@pytest.mark.parametrize(
    ("other", "named"),
    [
        (RunParams("m", temperature=0.0, top_p=0.95, seed=0), "temperature 0.6 (this run: 0.0)"),
        (
            RunParams("m", temperature=0.6, top_p=0.95, max_tokens=512, seed=0),
            "max_tokens None (this run: 512)",
        ),
        (RunParams("other", temperature=0.6, top_p=0.95, seed=0), "model 'm' (this run: 'other')"),
        (RunParams("m", temperature=0.6, top_p=0.95, seed=1), "seed 0 (this run: 1)"),
        (
            RunParams("m", temperature=0.6, top_p=0.95, seed=0, judge_model="j"),
            "judge_model None (this run: 'j')",
        ),
    ],
)
def test_a_run_with_other_settings_is_refused(tmp_path: Path, other: RunParams, named: str) -> None:
    path = tmp_path / "a.jsonl"
    with RunFile.open(path, PARAMS) as run:
        run.append(answer("q1"))
    before = path.read_bytes()
    with pytest.raises(EvalError, match="was written with other settings") as refused:
        RunFile.open(path, other)
    assert named in refused.value.message
    assert "another --run-file" in refused.value.message
    assert path.read_bytes() == before, "a refused run writes nothing"


def test_a_partial_last_line_is_dropped_and_cut_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with RunFile.open(path, PARAMS) as run:
        run.append(answer("q1"))
    with path.open("a") as f:
        f.write('{"type": "answer", "suite": "s", "item": "q2", "sam')
    assert list(read_run(path).answers) == [("s", "q1", 0, "generate")]
    with RunFile.open(path, PARAMS) as run:
        run.append(answer("q2"))
    assert [k[1] for k in read_run(path).answers] == ["q1", "q2"]
    for line in path.read_text().splitlines():
        json.loads(line)  # every line whole again


def test_a_damaged_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with RunFile.open(path, PARAMS) as run:
        run.append(answer("q1"))
    lines = path.read_text().splitlines()
    lines.insert(2, "{not json")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EvalError, match=r"a\.jsonl:3: not a JSON object"):
        read_run(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ('{"type": "answer"}\n', "not a deepfort eval run file"),
        ('{"type": "header", "version": 99, "params": {}}\n', "run file version 99"),
    ],
)
def test_not_a_run_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(content)
    with pytest.raises(EvalError, match=message):
        read_run(path)


def test_no_run_file(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="no run file at"):
        read_run(tmp_path / "missing.jsonl")


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with RunFile.open(path, PARAMS), pytest.raises(EvalError, match="being written by another eval run"):
        RunFile.open(path, PARAMS)
    RunFile.open(path, PARAMS).close()  # free again once closed


def test_request_hash_covers_the_request_and_the_sampling() -> None:
    base = request_hash("generate", [{"role": "user", "content": "q"}], {"temperature": 0.6, "seed": 1})
    assert base == request_hash(
        "generate", [{"role": "user", "content": "q"}], {"seed": 1, "temperature": 0.6}
    )
    assert base != request_hash(
        "generate", [{"role": "user", "content": "q2"}], {"temperature": 0.6, "seed": 1}
    )
    assert base != request_hash(
        "generate", [{"role": "user", "content": "q"}], {"temperature": 0.6, "seed": 2}
    )
    assert base != request_hash(
        "loglikelihood", [{"role": "user", "content": "q"}], {"temperature": 0.6, "seed": 1}
    )
