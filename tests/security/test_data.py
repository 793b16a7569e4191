"""Stored conversations through the API (each key sees its own), the audit trail's tamper evidence,
master-key rotation while the server runs, and the admin export."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.security.test_auth import CONFIG, create_key, deepfort


@dataclass
class Site:
    server: Server
    data: Path
    alice: str
    bob: str
    admin: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("data")
    data = tmp / "data"
    keys = [
        str(create_key(data, "--name", name, *extra)["key"])
        for name, extra in (("alice", ()), ("bob", ()), ("ops", ("--role", "admin")))
    ]
    server = start_server(CONFIG, tmp)
    yield Site(server, data, *keys)
    stop_server(server)


def ask(site: Site, key: str, text: str, conversation: str = "new") -> httpx.Response:
    body = {
        "model": "smollm2-135m",
        "max_tokens": 4,
        "messages": [{"role": "user", "content": text}],
        "conversation_id": conversation,
    }
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{site.server.v1}/chat/completions", json=body, headers=headers, timeout=60)


def get(site: Site, key: str, path: str) -> httpx.Response:
    return httpx.get(f"{site.server.v1}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_conversations_are_kept_for_their_owner_only(site: Site) -> None:
    first = ask(site, site.alice, "我的第一个问题")
    conversation = first.headers["x-deepfort-conversation-id"]
    assert first.json()["conversation_id"] == conversation
    assert ask(site, site.alice, "第二个问题", conversation).status_code == 200
    view = get(site, site.alice, f"/conversations/{conversation}").json()
    assert [m["role"] for m in view["messages"]] == ["user", "assistant", "user", "assistant"]
    assert view["messages"][0]["content"] == "我的第一个问题" and view["title"] == "我的第一个问题"
    # Bob cannot see, continue or delete it; it is not in his list.
    assert get(site, site.bob, f"/conversations/{conversation}").status_code == 404
    assert ask(site, site.bob, "hijack", conversation).status_code == 404
    assert conversation not in json.dumps(get(site, site.bob, "/conversations").json())
    headers = {"Authorization": f"Bearer {site.bob}"}
    assert httpx.delete(f"{site.server.v1}/conversations/{conversation}", headers=headers).status_code == 404
    # An admin may list everyone's; Alice deletes her own.
    assert conversation in json.dumps(get(site, site.admin, "/conversations?all=true").json())
    headers = {"Authorization": f"Bearer {site.alice}"}
    assert httpx.delete(f"{site.server.v1}/conversations/{conversation}", headers=headers).status_code == 200
    assert get(site, site.alice, f"/conversations/{conversation}").status_code == 404


def test_text_is_encrypted_at_rest(site: Site) -> None:
    marker = "绝密项目代号青鸾"
    ask(site, site.alice, marker)
    raw = (site.data / "deepfort.db").read_bytes()
    wal = site.data / "deepfort.db-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert marker.encode() not in raw


def test_rotating_the_master_key_while_serving(site: Site) -> None:
    conversation = ask(site, site.alice, "before rotation").headers["x-deepfort-conversation-id"]
    result = json.loads(deepfort(site.data, "keys", "rotate-master", "--retire-old", "--json"))
    assert result["rewrapped"] >= 1 and result["retired"] and set(result["usage"]) == {result["active"]}
    assert (
        get(site, site.alice, f"/conversations/{conversation}").json()["messages"][0]["content"]
        == "before rotation"
    )
    after = ask(site, site.alice, "after rotation").headers["x-deepfort-conversation-id"]
    assert get(site, site.alice, f"/conversations/{after}").status_code == 200
    # Everything still opens from a fresh process that only has the new master key.
    exported = [json.loads(line) for line in deepfort(site.data, "export").splitlines()]
    assert {"before rotation", "after rotation"} <= {c["messages"][0]["content"] for c in exported}


def copy_site(site: Site, name: str) -> Path:
    """A copy of the database and master keyring: the server keeps its own trail intact."""
    copy = site.data.parent / name
    copy.mkdir()
    with (
        sqlite3.connect(site.data / "deepfort.db") as source,
        sqlite3.connect(copy / "deepfort.db") as target,
    ):
        source.backup(target)
    (copy / "master.keys").write_bytes((site.data / "master.keys").read_bytes())
    (copy / "master.keys").chmod(0o600)
    return copy


def verify_broken(data: Path) -> dict[str, object]:
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(data)}
    command = [sys.executable, "-m", "deepfort", "audit", "verify", "--json"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1, result.stderr
    verdict: dict[str, object] = json.loads(result.stdout)
    return verdict


@pytest.mark.parametrize(
    ("sql", "seq", "why"),
    [
        ("UPDATE audit_entries SET detail = '{}' WHERE seq = 2", 2, "altered"),
        ("UPDATE audit_entries SET actor = 'someone-else' WHERE seq = 1", 1, "altered"),
        ("DELETE FROM audit_entries WHERE seq = 3", 3, "missing"),
    ],
    ids=["edited detail", "edited actor", "removed entry"],
)
def test_audit_verify_names_the_entry_that_was_tampered_with(
    site: Site, sql: str, seq: int, why: str
) -> None:
    assert json.loads(deepfort(site.data, "audit", "verify", "--json"))["ok"] is True
    copy = copy_site(site, f"copy-{seq}-{why}")
    with sqlite3.connect(copy / "deepfort.db") as db:
        db.execute(sql)
    verdict = verify_broken(copy)
    assert (verdict["ok"], verdict["bad_seq"]) == (False, seq) and why in str(verdict["reason"])


@pytest.mark.e2e
def test_kill_9_during_a_write_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    server = start_server(CONFIG, tmp_path)
    acknowledged: list[str] = []
    stop = threading.Event()

    def burst() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                body = {
                    "model": "smollm2-135m",
                    "max_tokens": 1,
                    "messages": [{"role": "user", "content": f"burst {len(acknowledged)}"}],
                    "conversation_id": "new",
                }
                try:
                    reply = client.post(f"{server.v1}/chat/completions", json=body)
                except httpx.TransportError:
                    return
                if reply.status_code == 200:
                    acknowledged.append(reply.headers["x-deepfort-conversation-id"])

    workers = [threading.Thread(target=burst) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert len(acknowledged) >= 20
    with sqlite3.connect(tmp_path / "data" / "deepfort.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    exported = {
        json.loads(line)["id"]: json.loads(line)
        for line in deepfort(tmp_path / "data", "export").splitlines()
    }
    for conversation in acknowledged:
        assert [m["role"] for m in exported[conversation]["messages"]] == ["user", "assistant"]
