"""A key's rate limit holds across two server processes sharing Redis (and the database)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_server, stop_server
from tests.security.test_auth import CONFIG, HI, create_key

REDIS = ("127.0.0.1", 6379)


def redis_reachable() -> str | None:
    try:
        with socket.create_connection(REDIS, timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return None
            return "Redis at 127.0.0.1:6379 did not answer PING"
    except OSError as exc:
        return f"Redis not reachable at 127.0.0.1:6379: {exc}"


@pytest.mark.e2e
def test_two_processes_share_a_rate_limit_through_redis(tmp_path: Path) -> None:
    why = redis_reachable()
    if why is not None:
        pytest.fail(f"{why}: this test needs a Redis server there")
    data = tmp_path / "data"
    key = str(create_key(data, "--name", "shared", "--rate", "3/day")["key"])
    config = {**CONFIG, "security": {"redis_url": "redis://127.0.0.1:6379/0"}}
    env = {"DEEPFORT_DATA_DIR": str(data)}
    first = start_server(config, tmp_path / "a", env=env)
    try:
        second = start_server(config, tmp_path / "b", env=env)
        try:
            body = {"model": "smollm2-135m", "messages": HI, "max_tokens": 2}
            headers = {"Authorization": f"Bearer {key}"}
            codes = [
                httpx.post(
                    f"{server.v1}/chat/completions", json=body, headers=headers, timeout=60
                ).status_code
                for server in (first, second, first, second)
            ]
        finally:
            stop_server(second)
    finally:
        stop_server(first)
    # Three requests a day in all, whichever process answers: the fourth is refused.
    assert codes == [200, 200, 200, 429]


@pytest.mark.e2e
def test_without_redis_each_process_counts_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = str(create_key(data, "--name", "alone", "--rate", "1/day")["key"])
    env = {"DEEPFORT_DATA_DIR": str(data)}
    first = start_server(CONFIG, tmp_path / "a", env=env)
    try:
        body = {"model": "smollm2-135m", "messages": HI, "max_tokens": 2}
        headers = {"Authorization": f"Bearer {key}"}
        codes = [
            httpx.post(f"{first.v1}/chat/completions", json=body, headers=headers, timeout=60).status_code
            for _ in range(2)
        ]
    finally:
        stop_server(first)
    assert codes == [200, 429]
