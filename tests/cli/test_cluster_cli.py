"""``deepfort cluster``: keygen, keys, activate and retire on a keyring file; ids are shown, keys never."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from deepfort.crypto.sm import Keyring

RunCli = Callable[..., Result]
HEX_RUN = re.compile(r"[0-9a-fA-F]{32}")


class Recorder:
    """Runs the CLI and keeps every output, to check at the end that no key material was printed."""

    def __init__(self, cli: RunCli, keyring: Path) -> None:
        self.cli = cli
        self.keyring = keyring
        self.outputs: list[str] = []

    def __call__(self, *args: str) -> Result:
        result = self.cli("cluster", *args[:1], "--keyring", str(self.keyring), *args[1:])
        self.outputs += [result.stdout, result.stderr]
        return result

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def failed(self, *args: str, message: str) -> None:
        """Exit code 1, a clear message on stderr, and no traceback."""
        result = self(*args)
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        assert message in " ".join(result.stderr.split()), result.stderr

    def assert_no_key_material(self) -> None:
        keys = json.loads(self.keyring.read_text())["keys"].values() if self.keyring.exists() else []
        for output in self.outputs:
            assert not HEX_RUN.search(output), output
            assert not any(key in output for key in keys)


@pytest.fixture
def cluster(cli: RunCli, tmp_path: Path) -> Recorder:
    return Recorder(cli, tmp_path / "cluster.keys")


def test_keygen_creates_an_owner_only_keyring(cluster: Recorder) -> None:
    new = cluster.json("keygen")
    assert re.fullmatch(r"k-\d{8}-[0-9a-f]{4}", new["id"])
    assert new == {"id": new["id"], "active": True, "keyring": str(cluster.keyring)}
    assert stat.S_IMODE(cluster.keyring.stat().st_mode) == 0o600
    assert Keyring.load(cluster.keyring).active == new["id"]
    cluster.assert_no_key_material()


def test_rotation_through_the_cli(cluster: Recorder) -> None:
    added = cluster.ok("keygen", "--id", "k1")
    assert "added key k1 (active)" in added.stdout
    assert "not active" in cluster.ok("keygen", "--id", "k2", "--no-activate").stdout
    assert cluster.json("keys") == {
        "active": "k1",
        "keys": [{"id": "k1", "active": True}, {"id": "k2", "active": False}],
        "retired": [],
    }

    assert "k2 is the active key" in cluster.ok("activate", "k2").stdout
    assert "retired k1" in cluster.ok("retire", "k1").stdout
    assert cluster.json("keys") == {"active": "k2", "keys": [{"id": "k2", "active": True}], "retired": ["k1"]}

    table = cluster.ok("keys").stdout
    assert re.search(r"k2\s.*active", table)
    assert re.search(r"k1\s.*retired", table)
    cluster.assert_no_key_material()


def test_keygen_text_output_names_the_keyring(cluster: Recorder) -> None:
    result = cluster.ok("keygen", "--id", "node-a.1")
    assert "node-a.1" in result.stdout
    assert str(cluster.keyring.name) in result.stdout
    cluster.assert_no_key_material()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("retire", "k1"), "cannot retire the active key 'k1'"),
        (("activate", "k9"), "no key 'k9' in the keyring; its keys are: k1"),
        (("retire", "k9"), "no key 'k9'"),
        (("keygen", "--id", "k1"), "key id 'k1' is already in the keyring"),
        (("keygen", "--id", "bad id"), "invalid key id 'bad id'"),
    ],
    ids=["retire active", "activate unknown", "retire unknown", "keygen taken id", "keygen bad id"],
)
def test_refusals(cluster: Recorder, args: tuple[str, ...], message: str) -> None:
    cluster.ok("keygen", "--id", "k1")
    before = cluster.keyring.read_bytes()
    cluster.failed(*args, message=message)
    assert cluster.keyring.read_bytes() == before
    cluster.assert_no_key_material()


def test_missing_keyring(cluster: Recorder) -> None:
    cluster.failed("keys", message="does not exist; create it with: deepfort cluster keygen")
    cluster.failed("activate", "k1", message="does not exist")
    cluster.failed("keygen", "--no-activate", message="first key must be active")
    assert not cluster.keyring.exists()


def test_readable_keyring_is_refused(cluster: Recorder) -> None:
    cluster.ok("keygen", "--id", "k1")
    cluster.keyring.chmod(0o644)
    cluster.failed("keys", message=f"chmod 600 {cluster.keyring}")
    cluster.failed("keygen", message="has mode 0644")
    cluster.keyring.chmod(0o600)
    assert cluster.json("keys")["active"] == "k1"
    cluster.assert_no_key_material()


def test_malformed_keyring_is_refused_without_echoing_it(cluster: Recorder) -> None:
    cluster.keyring.write_text(json.dumps({"active": "k1", "keys": {"k1": "0123456789abcdef" * 2 + "X"}}))
    cluster.keyring.chmod(0o600)
    cluster.failed("keys", message="key 'k1' must be 32 hex characters")
    assert all("0123456789abcdef" not in output for output in cluster.outputs)
