"""A client that goes away cancels its generation, running or queued, and frees the engine."""

from __future__ import annotations

import httpx

from tests.conftest import Server
from tests.helpers import read_tokens, wait_until

MODEL = "smol-q1"
LONG = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "Tell a very long story."}],
    "max_tokens": 1500,
    "temperature": 0,  # greedy: a long answer every time
}


def test_disconnect_mid_stream_frees_the_slot(server: Server) -> None:
    before = server.stats(MODEL)
    with (
        httpx.Client(base_url=server.base_url, timeout=120) as client,
        client.stream("POST", "/v1/chat/completions", json={**LONG, "stream": True}) as reply,
    ):
        lines = reply.iter_lines()
        read_tokens(lines, 3)
        # Still connected: the generation goes on.
        assert server.stats(MODEL)["running"] == 1
    wait_until(lambda: server.stats(MODEL)["running"] == 0, "slot freed after disconnect")
    after = server.stats(MODEL)
    assert after["cancelled_total"] == before["cancelled_total"] + 1
    assert after["finished_total"] == before["finished_total"]
    assert after["generated_tokens_total"] - before["generated_tokens_total"] < 1500
    # The next request gets the slot and completes.
    ok = httpx.post(f"{server.v1}/chat/completions", json={**LONG, "max_tokens": 5}, timeout=120)
    assert ok.status_code == 200
    assert server.stats(MODEL)["finished_total"] == before["finished_total"] + 1


def test_disconnect_while_queued_leaves_the_queue(server: Server) -> None:
    before = server.stats(MODEL)
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        with client.stream("POST", "/v1/chat/completions", json={**LONG, "stream": True}) as running:
            lines = running.iter_lines()
            read_tokens(lines, 1)
            with client.stream("POST", "/v1/chat/completions", json={**LONG, "stream": True}) as queued:
                assert queued.status_code == 200
                wait_until(lambda: server.stats(MODEL)["waiting"] == 1, "second request queued")
            wait_until(lambda: server.stats(MODEL)["waiting"] == 0, "queued request dropped")
            during = server.stats(MODEL)
            assert during["running"] == 1  # the first stream is untouched
            assert during["cancelled_total"] == before["cancelled_total"] + 1
            read_tokens(lines, 2)  # and it keeps streaming
    wait_until(lambda: server.stats(MODEL)["running"] == 0, "first request cancelled")
    assert server.stats(MODEL)["cancelled_total"] == before["cancelled_total"] + 2


def test_disconnect_during_non_stream_request(server: Server) -> None:
    before = server.stats(MODEL)
    try:
        httpx.post(f"{server.v1}/chat/completions", json=LONG, timeout=httpx.Timeout(60, read=1.0))
    except httpx.ReadTimeout:
        pass  # we hung up while the server was generating
    else:
        raise AssertionError("1500 tokens came back within a second; the test needs a slower request")
    wait_until(lambda: server.stats(MODEL)["running"] == 0, "slot freed")
    after = server.stats(MODEL)
    assert after["cancelled_total"] == before["cancelled_total"] + 1
    assert after["generated_tokens_total"] - before["generated_tokens_total"] < 1500
