"""Metrics, accuracy and the access log of a real server after real requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Server, start_server, stop_server
from tests.helpers import wait_until
from tests.observability.test_metrics import GPU_NAMES, nvml_present

MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("observed")
    config = {
        "models": [{"id": MODEL, "n_ctx": 1024, "n_parallel": 1, "queue_size": 8}],
        "observability": {"access_log": str(tmp / "access.jsonl"), "alert_interval_s": 1},
    }
    server = start_server(config, tmp)
    yield server
    stop_server(server)


def scrape(server: Server) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def total(metrics: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    return sum(
        v for k, v in metrics.get(name, {}).items() if all((key, val) in k for key, val in labels.items())
    )


def ask(
    server: Server, text: str = "Say hello.", max_tokens: int = 6, stream: bool = False
) -> httpx.Response:
    body = {"model": MODEL, "max_tokens": max_tokens, "temperature": 0, "stream": stream}
    body["messages"] = [{"role": "user", "content": text}]
    return httpx.post(f"{server.v1}/chat/completions", json=body, timeout=120)


def test_histograms_and_counters_count_the_requests(observed: Server) -> None:
    before = scrape(observed)
    for stream in (False, True, False):
        assert ask(observed, stream=stream).status_code == 200
    assert (
        httpx.post(f"{observed.v1}/chat/completions", json={"model": "nope", "messages": []}).status_code
        == 400
    )
    after = scrape(observed)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    for histogram in (
        "time_to_first_token_seconds",
        "e2e_request_latency_seconds",
        "request_queue_time_seconds",
    ):
        assert grew(f"deepfort:{histogram}_count", model=MODEL, tier="local") == 3, histogram
    assert grew("deepfort:inter_token_latency_seconds_count", model=MODEL) >= 3 * 4
    assert (
        grew("deepfort:e2e_request_latency_seconds_sum")
        > grew("deepfort:time_to_first_token_seconds_sum")
        > 0
    )
    assert grew("deepfort:generation_tokens_total", model=MODEL) == 18
    assert grew("deepfort:prompt_tokens_total", model=MODEL) > 0
    assert grew("deepfort:request_success_total", finished_reason="length") == 3
    assert grew("deepfort:request_errors_total", code="invalid_value") == 1
    assert grew("deepfort:route_total", tier="local", reason="requested") == 3


@pytest.mark.skipif(nvml_present(), reason="this host has an NVIDIA GPU (test_real_gpu_series covers it)")
def test_no_gpu_series_on_a_host_without_a_gpu(observed: Server) -> None:
    assert not set(scrape(observed)) & GPU_NAMES


def test_running_and_waiting_gauges_move_during_a_burst(observed: Server) -> None:
    threads = [threading.Thread(target=ask, args=(observed, "Count to one hundred.", 200)) for _ in range(3)]
    for thread in threads:
        thread.start()
    seen: list[tuple[float, float]] = []

    def busy() -> bool:
        metrics = scrape(observed)
        seen.append(
            (total(metrics, "deepfort:num_requests_running"), total(metrics, "deepfort:num_requests_waiting"))
        )
        return seen[-1] == (1, 2)

    wait_until(busy, "one request running and two waiting (one slot)")
    for thread in threads:
        thread.join()
    assert (
        total(scrape(observed), "deepfort:num_requests_running"),
        total(scrape(observed), "deepfort:num_requests_waiting"),
    ) == (0, 0)
    assert 0 <= total(scrape(observed), "deepfort:kv_cache_usage_perc") <= 1


def test_feedback_and_the_golden_set_set_the_accuracy(observed: Server, tmp_path: Path) -> None:
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        json.dumps({"question": "Say hello.", "checker": {"type": "contains", "value": "hello"}})
        + "\n"
        + json.dumps({"question": "Say hello.", "answers": ["an answer it never gives"]})
        + "\n",
        encoding="utf-8",
    )
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(tmp_path)}
    command = [
        sys.executable,
        "-m",
        "deepfort",
        "eval",
        "golden",
        str(golden),
        "--url",
        observed.v1,
        "--json",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["total"], report["correct"]) == (2, 1)
    assert total(scrape(observed), "deepfort:answer_accuracy") == pytest.approx(0.5)
    answer = ask(observed).json()
    verdict = {"response_id": answer["id"], "rating": "up", "correction": "Hello, team!"}
    recorded = httpx.post(f"{observed.v1}/feedback", json=verdict)
    assert recorded.status_code == 201 and recorded.json()["accuracy"] == pytest.approx(2 / 3)
    assert total(scrape(observed), "deepfort:answer_accuracy") == pytest.approx(2 / 3)
    unknown = httpx.post(f"{observed.v1}/feedback", json={**verdict, "response_id": "chatcmpl-nope"})
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "response_id"


def test_access_log_has_one_line_per_request_without_prompt_text(observed: Server) -> None:
    reply = ask(observed, text="secret prompt words")
    path = observed.log_path.parent / "access.jsonl"
    wait_until(lambda: reply.headers["x-request-id"] in path.read_text(), "the request is in the access log")
    line = next(json.loads(x) for x in path.read_text().splitlines() if reply.headers["x-request-id"] in x)
    assert line["model"] == MODEL and line["tier"] == "local" and line["status"] == 200
    assert line["prompt_tokens"] > 0 and line["completion_tokens"] == 6 and line["finish_reason"] == "length"
    assert line["ttft_ms"] > 0 and line["latency_ms"] >= line["ttft_ms"] and line["key_id"] == "local"
    assert "secret prompt words" not in path.read_text()


def test_built_in_alerts_answer(observed: Server) -> None:
    alerts = httpx.get(f"{observed.base_url}/admin/alerts").json()["alerts"]
    assert isinstance(alerts, list)
