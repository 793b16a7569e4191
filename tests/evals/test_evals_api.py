"""``/v1/evals`` in process (scripted engine, auth on): who may start a run, its progress and report, the
page, the gauge on /metrics, and what a restart keeps."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import InProcess, in_process

CONFIG: dict[str, object] = {"models": [{"id": "scripted", "engine": "scripted", "n_ctx": 512}]}
QUESTIONS = [
    {"id": "q1", "question": "2 + 2 = ?", "choices": ["3", "4", "5"], "answer": "B", "subject": "maths"},
    {
        "id": "q2",
        "question": "Capital of Italy?",
        "choices": ["Rome", "Oslo"],
        "answer": "A",
        "subject": "geo",
    },
    {
        "id": "q3",
        "question": "Largest planet?",
        "choices": ["Mars", "Jupiter"],
        "answer": "B",
        "subject": "geo",
    },
]


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "mcq.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return path


def keys(served: InProcess) -> tuple[str, str]:
    """An admin key and a user key (which also turns authentication on)."""
    auth = served.app.state.node.auth
    admin = auth.keys.create("operator", "admin").token
    user = auth.keys.create("someone", "user").token
    served.run(auth.refresh())
    return admin, user


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call(served: InProcess, method: str, path: str, token: str | None, body: Any = None) -> httpx.Response:
    async def send() -> httpx.Response:
        headers = bearer(token) if token else {}
        return await served.client.request(method, path, json=body, headers=headers)

    return served.run(send())


def finished(served: InProcess, run_id: str, token: str) -> dict[str, Any]:
    async def wait() -> dict[str, Any]:
        deadline = time.monotonic() + 60  # a guard against a hang, not a timing assertion
        while True:
            record: dict[str, Any] = (
                await served.client.get(f"/v1/evals/{run_id}", headers=bearer(token))
            ).json()
            if record["status"] not in ("queued", "running"):
                return record
            assert time.monotonic() < deadline, record
            await asyncio.sleep(0.02)

    return served.run(wait())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[InProcess]:
    with in_process(CONFIG, tmp_path) as app:
        yield app


def test_only_admins_start_and_read_evals(served: InProcess, questions: Path) -> None:
    _, user = keys(served)
    body = {"suites": ["mcq"], "data": [str(questions)]}
    assert call(served, "POST", "/v1/evals", None, body).status_code == 401
    refused = call(served, "POST", "/v1/evals", user, body)
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    assert call(served, "GET", "/v1/evals", user).status_code == 403
    assert call(served, "GET", "/v1/evals/eval-x", user).status_code == 403


def test_admin_runs_an_eval_and_reads_it_back(served: InProcess, questions: Path, tmp_path: Path) -> None:
    admin, _ = keys(served)
    engine = served.engine("scripted")
    for text in ("Answer: B", "Answer: A", "Answer: A"):  # q3 wrong
        engine.enqueue([text])
    body = {"suites": ["mcq"], "data": [str(questions)], "temperature": 0, "concurrency": 1}
    started = call(served, "POST", "/v1/evals", admin, body)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    assert started.json()["status"] in ("queued", "running") and started.json()["model"] == "scripted"
    record = finished(served, run_id, admin)
    assert record["status"] == "succeeded", record
    assert record["progress"] == {"mcq": {"total": 3, "done": 3}}
    assert record["scores"] == {"mcq": 0.6667}
    suite = record["report"]["suites"]["mcq"]
    assert (suite["score"], suite["n"], suite["unparsed_rate"]) == (0.6667, 3, 0.0)
    assert suite["subjects"]["geo"]["score"] == 0.5
    assert len(engine.requests) == 3 and {r.sampling.temperature for r in engine.requests} == {0.0}
    listed = call(served, "GET", "/v1/evals", admin).json()
    assert [r["id"] for r in listed["data"]] == [run_id]
    page = call(served, "GET", f"/v1/evals/{run_id}/report.html", admin)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.count("<svg") == 2
    metrics = call(served, "GET", "/metrics", admin).text
    assert 'deepfort:eval_score{model="scripted",suite="mcq"} 0.6667' in metrics
    run_file = tmp_path / "data" / "evals" / f"{run_id}.jsonl"
    assert sum('"type": "answer"' in line for line in run_file.read_text().splitlines()) == 3


def test_a_restart_keeps_the_runs_and_the_gauge(tmp_path: Path, questions: Path) -> None:
    with in_process(CONFIG, tmp_path) as first:
        admin, _ = keys(first)
        first.engine("scripted").enqueue(["Answer: B"])
        body = {"suites": ["mcq"], "data": [str(questions)], "limit": 1}
        run_id = call(first, "POST", "/v1/evals", admin, body).json()["id"]
        assert finished(first, run_id, admin)["status"] == "succeeded"
    with in_process(CONFIG, tmp_path) as second:
        record = call(second, "GET", f"/v1/evals/{run_id}", admin).json()
        assert record["status"] == "succeeded" and record["report"]["suites"]["mcq"]["score"] == 1.0
        metrics = call(second, "GET", "/metrics", admin).text
        assert 'deepfort:eval_score{model="scripted",suite="mcq"} 1.0' in metrics


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"suites": ["nosuch"]}, 400, "unknown eval suite 'nosuch'"),
        ({"suites": ["mmlu"]}, 400, "needs its questions"),
        ({"suites": ["mcq"], "data": ["/nonexistent/q.jsonl"]}, 400, "no file or directory"),
        ({"suites": []}, 400, "suites"),
        ({"suites": ["mcq"], "samples": 0}, 400, "samples"),
    ],
)
def test_bad_requests(served: InProcess, body: dict[str, Any], status: int, message: str) -> None:
    admin, _ = keys(served)
    reply = call(served, "POST", "/v1/evals", admin, body)
    assert reply.status_code == status, reply.text
    assert message in json.dumps(reply.json())


def test_unknown_run(served: InProcess) -> None:
    admin, _ = keys(served)
    for path in ("/v1/evals/eval-nope", "/v1/evals/eval-nope/report.html"):
        reply = call(served, "GET", path, admin)
        assert reply.status_code == 404 and reply.json()["error"]["code"] == "not_found"


def test_a_failing_run_says_why(served: InProcess, questions: Path) -> None:
    """loglikelihood on an engine without prompt log-probabilities: failed, with the client's message."""
    admin, _ = keys(served)
    body = {"suites": ["mcq"], "data": [str(questions)], "mode": ["loglikelihood"]}
    run_id = call(served, "POST", "/v1/evals", admin, body).json()["id"]
    record = finished(served, run_id, admin)
    assert record["status"] == "failed"
    assert "prompt log-probabilities" in record["error"]
