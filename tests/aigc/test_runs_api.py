"""/v1/workflows and /v1/runs against a real `deepfort serve`: publishing, 400 on an invalid document,
modes, idempotency, and SSE resume with Last-Event-ID (replay + live = the full sequence once)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.aigc.gate import running_gate
from tests.conftest import Server, start_server, stop_server

CONFIG = {
    "models": [{"id": "smollm2-135m", "n_ctx": 512, "n_parallel": 1}],
    "workflows": {"http_allowed_hosts": ["127.0.0.1"], "http_timeout_s": 120},
}
HELD = """
name: held
nodes:
  - {id: head, type: template, params: {template: "start"}}
  - {id: call, type: http, params: {url: "%s"}}
  - {id: tail, type: template, params: {template: "{{ nodes.head.text }} {{ nodes.call.status }}"}}
edges: [head -> call, call -> tail]
outputs: {result: "{{ nodes.tail.text }}"}
"""
FAN = """
name: fan
inputs: {items: {type: list, default: [1, 2, 3, 4, 5, 6]}}
nodes:
  - {id: head, type: template, params: {template: "start"}}
  - id: each
    type: iterate
    params:
      over: "{{ inputs.items }}"
      body:
        nodes: [{id: say, type: template, params: {template: "item {{ item }}"}}]
  - {id: tail, type: template, params: {template: "{{ nodes.head.text }} done"}}
edges: [head -> each, each -> tail]
outputs: {result: "{{ nodes.tail.text }}"}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(CONFIG, tmp_path_factory.mktemp("runs"))
    yield server
    stop_server(server)


def sse_events(
    response: httpx.Response, limit: int | None = None, until: tuple[str, str] | None = None
) -> list[dict[str, object]]:
    events: list[dict[str, object]] = []
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        if fields:
            body = json.loads(fields["data"])
            assert int(fields["id"]) == body["seq"] and fields["event"] == body["type"]
            events.append(body)
            fields = {}
            if limit is not None and len(events) == limit:
                break
            if until is not None and (body["type"], body.get("node_id")) == until:
                break
    return events


def publish(server: Server, text: str) -> dict[str, object]:
    response = httpx.post(f"{server.v1}/workflows", json={"definition": text}, timeout=30)
    assert response.status_code in (200, 201), response.text
    body: dict[str, object] = response.json()
    return body


def test_publish_versions_and_reject_invalid(server: Server) -> None:
    first = publish(server, FAN)
    assert (
        httpx.post(f"{server.v1}/workflows", json={"definition": FAN}, timeout=30).json()["id"] == first["id"]
    )
    bad = httpx.post(
        f"{server.v1}/workflows", json={"definition": FAN.replace("nodes.head.text", "nodes.nope.text")}
    )
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_workflow"
    assert any(p["node"] == "tail" and p["line"] > 0 for p in error["problems"])
    listed = httpx.get(f"{server.v1}/workflows").json()["data"]
    assert first["id"] in [w["id"] for w in listed]
    assert httpx.get(f"{server.v1}/workflows/{first['id']}").json()["definition"]["name"] == "fan"


def test_modes_and_idempotency(server: Server) -> None:
    workflow = publish(server, FAN)
    url = f"{server.v1}/workflows/{workflow['id']}/runs"
    blocking = httpx.post(url, json={"mode": "blocking"}, timeout=60)
    assert blocking.status_code == 200
    assert blocking.json()["status"] == "succeeded"
    assert blocking.json()["outputs"] == {"result": "start done"}
    headers = {"Idempotency-Key": "same-run"}
    first = httpx.post(url, json={"mode": "async"}, headers=headers, timeout=30)
    second = httpx.post(url, json={"mode": "async"}, headers=headers, timeout=30)
    assert first.status_code == 202 and first.json()["id"] == second.json()["id"]
    with httpx.stream("POST", url, json={"mode": "streaming"}, timeout=60) as response:
        streamed = sse_events(response)
    assert streamed[0]["type"] == "run_started" and streamed[-1]["type"] == "run_finished"
    run = httpx.get(f"{server.v1}/runs/{streamed[0]['run_id']}").json()
    assert run["status"] == "succeeded" and run["nodes"]["tail"] == {"text": "start done"}
    assert run["id"] in [r["id"] for r in httpx.get(f"{server.v1}/runs").json()["data"]]
    assert httpx.get(f"{server.v1}/runs/nope").status_code == 404


def test_sse_resume_gives_every_event_once(server: Server) -> None:
    workflow = publish(server, FAN)
    run = httpx.post(
        f"{server.v1}/workflows/{workflow['id']}/runs", json={"mode": "async"}, timeout=30
    ).json()
    events_url = f"{server.v1}/runs/{run['id']}/events"
    with httpx.stream("GET", events_url, timeout=60) as response:
        part = sse_events(response, limit=4)
    assert [e["seq"] for e in part] == [1, 2, 3, 4]
    headers = {"Last-Event-ID": str(part[-1]["seq"])}
    with httpx.stream("GET", events_url, headers=headers, timeout=60) as response:
        rest = sse_events(response)
    seqs = [e["seq"] for e in part + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest[-1]["type"] == "run_finished" and rest[-1]["status"] == "succeeded"
    with httpx.stream("GET", f"{events_url}?after={len(seqs) - 1}", timeout=60) as response:
        assert [e["seq"] for e in sse_events(response)] == [len(seqs)]


def test_a_client_that_reconnects_gets_the_live_rest_once(server: Server) -> None:
    with running_gate() as gate:
        workflow = publish(server, HELD % gate.url)
        run = httpx.post(
            f"{server.v1}/workflows/{workflow['id']}/runs", json={"mode": "async"}, timeout=30
        ).json()
        events_url = f"{server.v1}/runs/{run['id']}/events"
        with httpx.stream("GET", events_url, timeout=60) as response:
            part = sse_events(response, until=("node_started", "call"))
        gate.wait_for_request()  # the client has gone; the run is held in the middle of `call`
        headers = {"Last-Event-ID": str(part[-1]["seq"])}
        with httpx.stream("GET", events_url, headers=headers, timeout=60) as response:
            gate.opened.set()  # what follows happens while the second client listens
            rest = sse_events(response)
    seqs = [e["seq"] for e in part + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [(e["type"], e.get("node_id")) for e in rest[:2]] == [
        ("node_output", "call"),
        ("node_finished", "call"),
    ]
    assert rest[-1]["type"] == "run_finished" and rest[-1]["outputs"] == {"result": "start 200"}


def test_missing_file_is_404(server: Server) -> None:
    response = httpx.get(f"{server.v1}/files/{'0' * 64}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_cancel_stops_a_run_in_the_middle_of_a_node(server: Server) -> None:
    with running_gate() as gate:
        workflow = publish(server, HELD % gate.url)
        run = httpx.post(
            f"{server.v1}/workflows/{workflow['id']}/runs", json={"mode": "async"}, timeout=30
        ).json()
        gate.wait_for_request()
        cancelled = httpx.post(f"{server.v1}/runs/{run['id']}/cancel", timeout=30)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        with httpx.stream("GET", f"{server.v1}/runs/{run['id']}/events", timeout=30) as response:
            events = sse_events(response)
    failed = [e for e in events if e["type"] == "node_failed"]
    assert [(e["node_id"], e["cancelled"]) for e in failed] == [("call", True)]
    assert events[-1]["status"] == "cancelled" and "tail" not in {e.get("node_id") for e in events}
    again = httpx.post(f"{server.v1}/runs/{run['id']}/cancel", timeout=30)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
