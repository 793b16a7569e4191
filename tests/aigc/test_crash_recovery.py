"""Kill `deepfort serve` (SIGKILL) in the middle of a workflow run, start it again on the same data
directory, and look at the run: never left `running`, finished nodes' outputs still there, and with the
default `recovery: resume` the run goes on from its finished nodes (the interrupted node runs again)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.aigc.gate import Gate, running_gate
from tests.conftest import Server, start_server, stop_server

WORKFLOW = """
name: crashy
nodes:
  - {id: head, type: template, params: {template: "kept"}}
  - {id: call, type: http, params: {url: "%s"}}
  - {id: tail, type: template, params: {template: "{{ nodes.head.text }} {{ nodes.call.status }}"}}
edges: [head -> call, call -> tail]
outputs: {result: "{{ nodes.tail.text }}"}
"""


def config(recovery: str) -> dict[str, object]:
    return {
        "models": [{"id": "smollm2-135m", "n_ctx": 512, "n_parallel": 1}],
        "workflows": {"recovery": recovery, "http_allowed_hosts": ["127.0.0.1"], "http_timeout_s": 120},
    }


def events_until(server: Server, run_id: str, stop: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """The run's persisted events (SSE) up to the first `stop` = (type, node id), or to the end."""
    seen: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{server.v1}/runs/{run_id}/events", timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                seen.append(event)
                if event["type"] == "run_finished" or (event["type"], event.get("node_id")) == stop:
                    break
    return seen


def crash_mid_run(tmp: Path, gate: Gate, recovery: str) -> tuple[Server, str]:
    """Start a run, SIGKILL the server while `call` waits on the gate, open the gate, start again."""
    server = start_server(config(recovery), tmp)
    try:
        published = httpx.post(
            f"{server.v1}/workflows", json={"definition": WORKFLOW % gate.url}, timeout=30
        ).json()
        run = httpx.post(
            f"{server.v1}/workflows/{published['id']}/runs", json={"mode": "async"}, timeout=30
        ).json()
        events_until(server, run["id"], stop=("node_started", "call"))  # persisted
        gate.wait_for_request()  # and `call` is in the middle of its request
        assert httpx.get(f"{server.v1}/runs/{run['id']}").json()["status"] == "running"
    finally:
        server.process.kill()
        server.process.wait()
    gate.opened.set()
    return start_server(config(recovery), tmp), run["id"]


@pytest.mark.e2e
@pytest.mark.parametrize("recovery", ["resume", "fail"])
def test_a_killed_server_leaves_no_run_running(tmp_path: Path, recovery: str) -> None:
    with running_gate() as gate:
        server, run_id = crash_mid_run(tmp_path, gate, recovery)
        try:
            events = events_until(server, run_id)
            run = httpx.get(f"{server.v1}/runs/{run_id}").json()
        finally:
            stop_server(server)
    assert events[-1]["type"] == "run_finished" and run["status"] != "running"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert run["nodes"]["head"] == {"text": "kept"}  # the finished node's output survived the crash
    cut = [e for e in events if e["type"] == "node_failed"]
    assert [(e["node_id"], e["interrupted"]) for e in cut] == [("call", True)]
    starts = [e["node_id"] for e in events if e["type"] == "node_started"]
    if recovery == "resume":
        assert (run["status"], run["resumes"], run["outputs"]) == ("succeeded", 1, {"result": "kept 200"})
        assert starts == ["head", "call", "call", "tail"]  # head was not run again
        resumed = next(e for e in events if e["type"] == "run_resumed")
        assert resumed["restored"] == ["head"] and gate.hits == 2
    else:
        assert (run["status"], run["error"]) == ("failed", "interrupted by a restart")
        assert starts == ["head", "call"] and gate.hits == 1
