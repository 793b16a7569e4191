"""``deepfort bench`` end to end: against a real ``deepfort serve`` (the shared ``server`` fixture), against
nothing at all, and with bad flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from deepfort.cli.main import app
from tests.conftest import Server, free_port

SMALL = ["--num-prompts", "6", "--max-tokens", "12", "--warmup", "0", "--seed", "1"]
METRICS = ("ttft", "tpot", "itl", "e2el")
STATS = ("mean", "median", "p90", "p99")


def said(message: str, stream: str) -> bool:
    """``message`` is in ``stream``, however rich wrapped it to the terminal width."""
    return "".join(message.split()) in "".join(stream.split())


def bench(*args: str) -> Result:
    return CliRunner().invoke(app, ["bench", *args])


def bench_json(*args: str) -> dict[str, Any]:
    result = bench(*args, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)  # stdout holds the one JSON object and nothing else
    assert isinstance(data, dict)
    return data


def assert_all_answered(data: dict[str, Any], n: int) -> None:
    assert (data["completed"], data["failed"], data["errors"]) == (n, 0, [])
    assert data["request_throughput"] > 0 and data["output_throughput"] > 0
    assert data["total_output_tokens"] > 0 and data["total_input_tokens"] > 0
    for metric in ("ttft", "e2el"):
        for stat in STATS:
            assert data[f"{stat}_{metric}_ms"] > 0, (stat, metric)


def test_human_report_names_every_metric(server: Server) -> None:
    result = bench("--url", server.v1, "--concurrency", "3", *SMALL)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for label in (
        "Successful requests",
        "Failed requests",
        "Benchmark duration (s)",
        "Total input tokens",
        "Total generated tokens",
        "Request throughput (req/s)",
        "Output token throughput (tok/s)",
        "Total token throughput (tok/s)",
        "Time to first token (TTFT)",
        "Time per output token (TPOT",
        "Inter-token latency (ITL)",
        "End-to-end latency (E2E)",
        "mean",
        "median (p50)",
        "p90",
        "p99",
    ):
        assert label in out, label
    assert "model=smollm2-135m" in out  # the first id of GET /models
    assert "requests" in result.stderr  # the progress bar goes to stderr


def test_json_result(server: Server, tmp_path: Path) -> None:
    output = tmp_path / "out" / "result.json"
    data = bench_json("--url", server.v1, "--concurrency", "3", *SMALL, "--output", str(output))
    assert_all_answered(data, 6)
    assert data["total_output_tokens"] <= 6 * 12
    for metric in METRICS:
        for stat in STATS:
            assert isinstance(data[f"{stat}_{metric}_ms"], float), (stat, metric)
    assert data["mean_tpot_ms"] > 0 and data["median_itl_ms"] > 0
    assert (data["model"], data["max_concurrency"], data["request_rate"]) == ("smollm2-135m", 3, "inf")
    assert json.loads(output.read_text()) == data


@pytest.mark.parametrize("rate", ["8", "inf"])
def test_request_rate(server: Server, rate: str) -> None:
    data = bench_json(
        "--url",
        server.v1,
        "--request-rate",
        rate,
        "--max-concurrency",
        "4",
        *SMALL,
        "--dataset",
        "builtin:zh",
    )
    assert_all_answered(data, 6)
    assert data["request_rate"] == ("inf" if rate == "inf" else 8.0)
    assert data["dataset"] == "builtin:zh"


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_jsonl_dataset(server: Server, tmp_path: Path, endpoint: str) -> None:
    dataset = tmp_path / "prompts.jsonl"
    lines = [
        {"prompt": "Name a colour.", "max_tokens": 3},
        {},  # a blank line is skipped
        {
            "messages": [
                {"role": "system", "content": "You answer in one word."},
                {"role": "user", "content": "Name a fruit."},
            ],
            "max_tokens": 3,
        },
    ]
    dataset.write_text("\n".join(json.dumps(line) if line else "" for line in lines) + "\n")
    data = bench_json(
        "--url", server.v1, "--dataset", str(dataset), "--endpoint", endpoint, "--concurrency", "2",
        "--num-prompts", "4", "--warmup", "1",
    )  # fmt: skip
    assert_all_answered(data, 4)
    assert data["total_output_tokens"] <= 4 * 3  # each line's own max_tokens was sent
    assert data["endpoint"] == endpoint


def test_unknown_model_fails_every_request(server: Server) -> None:
    result = bench(
        "--url", server.v1, "--model", "no-such-model", "--num-prompts", "2", "--warmup", "0", "--json"
    )
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["completed"], data["failed"]) == (0, 2)
    assert data["errors"][0].startswith("HTTP 404") and "no-such-model" in data["errors"][0]
    assert said("all 2 requests failed", result.stderr), result.stderr


def test_nothing_listening() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    listed = bench("--url", url, "--num-prompts", "2")
    assert listed.exit_code == 1
    assert said(f"cannot list the models at {url}/models", listed.stderr), listed.stderr
    assert listed.stdout == ""
    sent = bench("--url", url, "--model", "m", "--num-prompts", "3", "--warmup", "0", "--json")
    assert sent.exit_code == 1
    data = json.loads(sent.stdout)
    assert (data["completed"], data["failed"]) == (0, 3)
    assert data["errors"] and data["errors"][0].startswith("ConnectError")
    assert said("all 3 requests failed; first error: ConnectError", sent.stderr), sent.stderr
    assert "Traceback" not in sent.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "2", "--request-rate", "3"], "--concurrency N is N clients"),
        (["--concurrency", "2", "--max-concurrency", "3"], "--concurrency N is N clients"),
        (["--request-rate", "0"], "--request-rate must be above 0"),
        (["--dataset", "builtin:fr"], "unknown built-in prompt subset 'fr'"),
        (["--dataset", "/no/such/file.jsonl"], "cannot read dataset /no/such/file.jsonl"),
        (["--concurrency", "0"], "Invalid value for '--concurrency'"),
    ],
)
def test_bad_flags(args: list[str], message: str) -> None:
    result = bench("--url", "http://127.0.0.1:9/v1", *args)
    assert result.exit_code != 0
    assert said(message, result.stderr), result.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", ":1: not JSON"),
        ('["a list"]', ":1: expected a JSON object"),
        ('{"messages": []}', "needs a string 'prompt' or a non-empty 'messages' list"),
        ('{"messages": [{"role": "user"}]}', "each message needs a string 'role' and 'content'"),
        ('{"prompt": "x", "max_tokens": 0}', "max_tokens must be a positive integer"),
        ("", "holds no prompts"),
    ],
)
def test_bad_dataset(tmp_path: Path, line: str, message: str) -> None:
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text(line + "\n")
    result = bench("--url", "http://127.0.0.1:9/v1", "--dataset", str(dataset))
    assert result.exit_code == 1
    assert said(message, result.stderr), result.stderr
