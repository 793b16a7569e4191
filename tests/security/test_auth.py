"""API keys against a real server: the auth matrix, quotas with recovery, the loopback rule, shared
limits across two processes through Redis."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Server, free_port, start_server, stop_server
from tests.helpers import wait_until

CONFIG: dict[str, object] = {"models": [{"id": "smollm2-135m", "n_ctx": 1024, "n_parallel": 2}]}
HI = [{"role": "user", "content": "Hi"}]


def deepfort(data_dir: Path, *args: str) -> str:
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "deepfort", *args], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def create_key(data_dir: Path, *args: str) -> dict[str, object]:
    created: dict[str, object] = json.loads(deepfort(data_dir, "keys", "create", "--json", *args))
    return created


@dataclass
class Keys:
    admin: str
    user: str
    revoked: str
    expired: str
    limited_model: str


@dataclass
class Secured:
    server: Server
    data_dir: Path
    keys: Keys


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tmp = tmp_path_factory.mktemp("auth")
    data = tmp / "data"
    keys = Keys(
        admin=str(create_key(data, "--name", "ops", "--role", "admin")["key"]),
        user=str(create_key(data, "--name", "alice")["key"]),
        revoked=str(create_key(data, "--name", "bob")["key"]),
        expired=str(create_key(data, "--name", "carol", "--expires", "2020-01-01")["key"]),
        limited_model=str(create_key(data, "--name", "dave", "--models", "no-such-model")["key"]),
    )
    deepfort(data, "keys", "revoke", keys.revoked.split("-")[1])
    server = start_server(CONFIG, tmp)
    yield Secured(server, data, keys)
    stop_server(server)


def call(server: Server, method: str, path: str, key: str | None, body: object = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, f"{server.base_url}{path}", json=body, headers=headers, timeout=60)


CHAT = ("POST", "/v1/chat/completions", {"model": "smollm2-135m", "messages": HI, "max_tokens": 2})
MATRIX = [
    # (case, key attribute or literal, request, status, code)
    ("no key", None, CHAT, 401, "invalid_api_key"),
    ("malformed", "sk-not-ours", CHAT, 401, "invalid_api_key"),
    ("unknown id", "df-zzzzzzzz-" + "a" * 43, CHAT, 401, "invalid_api_key"),
    ("wrong secret", "user:wrong", CHAT, 401, "invalid_api_key"),
    ("revoked", "revoked", CHAT, 401, "invalid_api_key"),
    ("expired", "expired", CHAT, 401, "invalid_api_key"),
    ("user on admin route", "user", ("GET", "/admin/keys", None), 403, "permission_denied"),
    ("user on stats", "user", ("GET", "/stats", None), 403, "permission_denied"),
    ("model not allowed", "limited_model", CHAT, 403, "model_not_allowed"),
    ("user chats", "user", CHAT, 200, None),
    ("admin lists keys", "admin", ("GET", "/admin/keys", None), 200, None),
    ("models need a key", None, ("GET", "/v1/models", None), 401, "invalid_api_key"),
    (
        "generate needs a key",
        None,
        ("POST", "/generate", {"prompt": "hi", "max_length": 2}),
        401,
        "invalid_api_key",
    ),
    ("health is open", None, ("GET", "/health", None), 200, None),
    ("ready is open", None, ("GET", "/ready", None), 200, None),
]


def chat(server: Server, key: str | None) -> httpx.Response:
    method, path, body = CHAT
    return call(server, method, path, key, body)


def resolve(keys: Keys, spec: str | None) -> str | None:
    if spec is None or spec.startswith(("sk-", "df-")):
        return spec
    if spec == "user:wrong":
        return keys.user[:-4] + "AAAA"
    return str(getattr(keys, spec))


@pytest.mark.parametrize(("case", "key", "req", "status", "code"), MATRIX, ids=[m[0] for m in MATRIX])
def test_auth_matrix(
    secured: Secured, case: str, key: str | None, req: tuple[str, str, object], status: int, code: str | None
) -> None:
    method, path, body = req
    response = call(secured.server, method, path, resolve(secured.keys, key), body)
    assert response.status_code == status, (case, response.text)
    if code is not None:
        error = response.json()["error"]
        assert error["code"] == code and error["message"]
        assert set(error) == {"message", "type", "param", "code"}
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_official_sdk_works_with_a_key(secured: Secured) -> None:
    client = openai.OpenAI(base_url=secured.server.v1, api_key=secured.keys.user)
    reply = client.chat.completions.create(model="smollm2-135m", messages=HI, max_tokens=2)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason in ("length", "stop")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=secured.server.v1, api_key="df-nope").models.list()


def test_admin_api_creates_a_key_shown_once_and_revokes_it(secured: Secured) -> None:
    server, admin = secured.server, secured.keys.admin
    created = call(server, "POST", "/admin/keys", admin, {"name": "api-made", "rate": "100/min"}).json()
    token = created["key"]
    assert chat(server, token).status_code == 200
    listed = call(server, "GET", "/admin/keys", admin).json()["data"]
    assert all("key" not in k and token not in json.dumps(k) for k in listed)
    assert call(server, "DELETE", f"/admin/keys/{created['id']}", admin).json()["state"] == "revoked"
    assert chat(server, token).status_code == 401


def test_rate_limit_then_recovery(secured: Secured) -> None:
    key = str(create_key(secured.data_dir, "--name", "rated", "--rate", "2/3s")["key"])
    server = secured.server
    wait_until(lambda: chat(server, key).status_code == 200, "the new key works")
    # Two per window: of any three requests in one window the third is refused (a window may end
    # between two requests, so keep asking).
    statuses = []
    for _ in range(10):
        statuses.append(chat(server, key))
        if statuses[-1].status_code == 429:
            break
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["error"]["code"] == "rate_limit_exceeded"
    wait_until(lambda: chat(server, key).status_code == 200, "the window passes", limit=10)


def test_token_quota_then_recovery(secured: Secured) -> None:
    key = str(create_key(secured.data_dir, "--name", "budget", "--tokens", "20/4s")["key"])
    server = secured.server
    body = {"model": "smollm2-135m", "messages": HI, "max_tokens": 8}
    wait_until(
        lambda: call(server, "POST", "/v1/chat/completions", key, body).status_code == 200, "first answer"
    )
    for _ in range(10):  # one answer uses the window's 20 tokens: the next in that window is refused
        refused = call(server, "POST", "/v1/chat/completions", key, body)
        if refused.status_code == 429:
            break
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "token_quota_exceeded"
    wait_until(
        lambda: call(server, "POST", "/v1/chat/completions", key, body).status_code == 200,
        "the quota window passes",
        limit=12,
    )


@pytest.mark.e2e
def test_loopback_without_keys_runs_open_and_says_so(tmp_path: Path) -> None:
    server = start_server(CONFIG, tmp_path)
    try:
        assert chat(server, None).status_code == 200
        assert "auth: off" in server.log().lower()
    finally:
        stop_server(server)


def _outside_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))
            address = str(sock.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.mark.e2e
def test_non_loopback_without_keys_refuses_to_start_unless_told(tmp_path: Path) -> None:
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-m", "deepfort", "serve", "--host", "0.0.0.0", "--port", str(free_port())]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 1 and "refusing to listen on 0.0.0.0" in " ".join(refused.stderr.split())
    (tmp_path / "open").mkdir()
    server = start_server(CONFIG, tmp_path / "open", args=["--host", "0.0.0.0", "--insecure-no-auth"])
    try:
        assert "WARNING" in server.log() and "--insecure-no-auth" in server.log()
    finally:
        stop_server(server)


def test_keys_list_never_shows_secrets(secured: Secured) -> None:
    listed = deepfort(secured.data_dir, "keys", "list", "--json")
    assert secured.keys.user.split("-")[2] not in listed
    states = {k["name"]: k["state"] for k in json.loads(listed)}
    assert states["bob"] == "revoked" and states["carol"] == "expired" and states["alice"] == "active"


def test_cors_is_off_unless_configured(secured: Secured, tmp_path: Path) -> None:
    preflight = {"Origin": "https://console.example", "Access-Control-Request-Method": "POST"}
    closed = httpx.options(f"{secured.server.v1}/chat/completions", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    server = start_server({**CONFIG, "security": {"cors_origins": ["https://console.example"]}}, tmp_path)
    try:
        opened = httpx.options(f"{server.v1}/chat/completions", headers=preflight)
    finally:
        stop_server(server)
    assert opened.headers["access-control-allow-origin"] == "https://console.example"


def test_importing_a_key_made_elsewhere(secured: Secured) -> None:
    token = "df-imported-" + "Q" * 43
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(secured.data_dir)}
    command = [sys.executable, "-m", "deepfort", "keys", "import", "--name", "from-secret", "--role", "user"]
    for _ in range(2):  # idempotent
        done = subprocess.run(command, input=token, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    assert chat(secured.server, token).status_code == 200
    clash = subprocess.run(
        command, input="df-imported-" + "R" * 43, env=env, capture_output=True, text=True, check=False
    )
    assert clash.returncode == 1 and "another key" in clash.stderr
    assert token not in deepfort(secured.data_dir, "keys", "list", "--json")


def test_a_key_can_override_the_pii_policy(secured: Secured) -> None:
    strict = str(create_key(secured.data_dir, "--name", "strict", "--pii-policy", "block")["key"])
    body = {
        "model": "smollm2-135m",
        "max_tokens": 2,
        "messages": [{"role": "user", "content": "电话 13812345678"}],
    }
    headers = {"Authorization": f"Bearer {strict}"}
    refused = httpx.post(f"{secured.server.v1}/chat/completions", json=body, headers=headers, timeout=60)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "sensitive_input"
    headers = {"Authorization": f"Bearer {secured.keys.user}"}  # the default policy masks instead
    assert (
        httpx.post(
            f"{secured.server.v1}/chat/completions", json=body, headers=headers, timeout=60
        ).status_code
        == 200
    )
