"""SM3, HMAC-SM3 and SM4-GCM against published vectors; sealing, tampering, rotation and keyring files."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfort.crypto.sm import (
    Keyring,
    SealedMessage,
    activate_key,
    generate_key,
    hmac_sm3,
    retire_key,
    sm3,
    verify_hmac_sm3,
)
from deepfort.errors import CryptoError, EnvelopeError

K1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
K2 = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
AAD = b"POST /v1/chat/completions req-42"
ONE = {"k1": K1.hex()}
HEX_RUN = re.compile(r"[0-9a-fA-F]{32}")


def flip(data: bytes, index: int = 0) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@pytest.fixture
def ring() -> Keyring:
    return Keyring({"k1": K1, "k2": K2}, active="k2")


# --- published vectors ------------------------------------------------------------------------------


def test_sm4_block_cipher_known_answer() -> None:
    """GB/T 32907-2016, appendix A, example 1: key = plaintext."""
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (encryptor.update(key) + encryptor.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_open_reads_the_rfc8998_sm4_gcm_vector() -> None:
    """RFC 8998 appendix A.1: ``open`` is plain SM4-GCM, so other implementations can interoperate."""
    ring = Keyring({"rfc": bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")}, active="rfc")
    message = SealedMessage(
        key_id="rfc",
        nonce=bytes.fromhex("00001234567800000000ABCD"),
        ciphertext=bytes.fromhex(
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
            "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        ),
        tag=bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC"),
    )
    plaintext = ring.open(message, bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2"))
    assert plaintext == bytes.fromhex("".join(c * 16 for c in "ABCDEFEA"))


@pytest.mark.parametrize(
    ("data", "digest"),
    [
        (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
        (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
    ],
    ids=["abc", "abcd*16"],
)
def test_sm3_known_answers(data: bytes, digest: str) -> None:
    """GB/T 32905-2016, appendix A, examples 1 and 2."""
    assert sm3(data).hex() == digest


@pytest.mark.parametrize("key", [b"", b"short key", bytes(range(64)), bytes(range(100))], ids=len)
def test_hmac_sm3_is_rfc2104_over_sm3(key: bytes) -> None:
    """HMAC (RFC 2104, 64-byte block) built by hand from sm3 agrees, for short, block-sized and long keys."""
    block = sm3(key) if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    inner = sm3(bytes(b ^ 0x36 for b in block) + b"message")
    expected = sm3(bytes(b ^ 0x5C for b in block) + inner)
    assert hmac_sm3(key, b"message") == expected


def test_verify_hmac_sm3() -> None:
    mac = hmac_sm3(K1, b"data")
    assert len(mac) == 32
    assert verify_hmac_sm3(K1, b"data", mac)
    assert not verify_hmac_sm3(K1, b"data", flip(mac, 31))
    assert not verify_hmac_sm3(K1, b"data", mac[:16])
    assert not verify_hmac_sm3(K1, b"datA", mac)
    assert not verify_hmac_sm3(K2, b"data", mac)


# --- sealing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 4096])
def test_seal_open_roundtrip(ring: Keyring, size: int) -> None:
    plaintext = os.urandom(size)
    message = ring.seal(plaintext, AAD)
    assert message.key_id == "k2"
    assert (len(message.nonce), len(message.tag), len(message.ciphertext)) == (12, 16, size)
    assert ring.open(message, AAD) == plaintext


def test_every_seal_takes_a_fresh_nonce(ring: Keyring) -> None:
    first, second = ring.seal(b"same", AAD), ring.seal(b"same", AAD)
    assert first.nonce != second.nonce
    assert first.ciphertext != second.ciphertext


def test_a_message_opens_under_another_keyring_with_the_same_key(ring: Keyring) -> None:
    message = ring.seal(b"payload", b"")
    assert Keyring.parse_env(f"k2:{K2.hex()}").open(message, b"") == b"payload"


TAMPERING: dict[str, tuple[Callable[[SealedMessage], SealedMessage], bytes, str]] = {
    "ciphertext bit": (lambda m: replace(m, ciphertext=flip(m.ciphertext, 3)), AAD, "authentication"),
    "tag bit": (lambda m: replace(m, tag=flip(m.tag, 15)), AAD, "authentication failed"),
    "nonce bit": (lambda m: replace(m, nonce=flip(m.nonce, 0)), AAD, "authentication failed"),
    "other known key id": (lambda m: replace(m, key_id="k1"), AAD, "authentication failed"),
    "unknown key id": (lambda m: replace(m, key_id="k9"), AAD, "unknown key id 'k9'"),
    "other aad": (lambda m: m, AAD + b"x", "authentication failed"),
    "no aad": (lambda m: m, b"", "authentication failed"),
    "truncated tag": (lambda m: replace(m, tag=m.tag[:12]), AAD, "bad tag: 12 bytes"),
    "short nonce": (lambda m: replace(m, nonce=m.nonce[:8]), AAD, "bad nonce: 8 bytes"),
    "ciphertext cut": (lambda m: replace(m, ciphertext=m.ciphertext[:-1]), AAD, "authentication"),
    "ciphertext longer": (lambda m: replace(m, ciphertext=m.ciphertext + b"\0"), AAD, "authentication"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampered_messages_do_not_open(ring: Keyring, case: str) -> None:
    tamper, aad, reason = TAMPERING[case]
    message = tamper(ring.seal(b"transfer 100 to alice", AAD))
    with pytest.raises(EnvelopeError, match=re.escape(reason)) as caught:
        ring.open(message, aad)
    assert caught.value.status_code == 400
    assert caught.value.code == "bad_envelope"
    assert K1.hex() not in caught.value.message and K2.hex() not in caught.value.message


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=200), aad=st.binary(max_size=40), bit=st.integers(min_value=0))
def test_every_single_bit_flip_is_caught(plaintext: bytes, aad: bytes, bit: int) -> None:
    ring = Keyring({"k1": K1}, active="k1")
    message = ring.seal(plaintext, aad)
    assert ring.open(message, aad) == plaintext
    wire = bytearray(message.nonce + message.ciphertext + message.tag)
    bit %= len(wire) * 8
    wire[bit // 8] ^= 1 << (bit % 8)
    tampered = SealedMessage("k1", bytes(wire[:12]), bytes(wire[12:-16]), bytes(wire[-16:]))
    with pytest.raises(EnvelopeError, match="authentication failed"):
        ring.open(tampered, aad)


def test_rotation(ring: Keyring) -> None:
    old = ring.seal(b"sealed under k2", AAD)
    rotated = ring.with_key("k3", K1[::-1], activate=True)
    assert rotated.active == "k3"
    assert rotated.seal(b"new", AAD).key_id == "k3"
    assert rotated.open(old, AAD) == b"sealed under k2"
    retired = rotated.without_key("k2")
    assert retired.key_ids == ("k1", "k3")
    assert retired.retired == ("k2",)
    with pytest.raises(EnvelopeError, match=r"unknown key id 'k2' \(retired\)"):
        retired.open(old, AAD)
    assert ring.open(old, AAD) == b"sealed under k2"  # the original keyring did not change


def test_keyring_refuses_inconsistent_keys() -> None:
    with pytest.raises(CryptoError, match="must be 16 bytes, not 8"):
        Keyring({"k1": K1[:8]}, active="k1")
    with pytest.raises(CryptoError, match="active key 'k2' is not in the keyring"):
        Keyring({"k1": K1}, active="k2")
    with pytest.raises(CryptoError, match="invalid key id 'a b'"):
        Keyring({"a b": K1}, active="a b")
    with pytest.raises(CryptoError, match="both present and retired"):
        Keyring({"k1": K1}, active="k1", retired=["k1"])
    with pytest.raises(CryptoError, match="cannot retire the active key 'k1'"):
        Keyring({"k1": K1}, active="k1").without_key("k1")
    with pytest.raises(CryptoError, match="already in the keyring"):
        Keyring({"k1": K1}, active="k1").with_key("k1", K2, activate=False)


def test_repr_shows_ids_not_keys(ring: Keyring) -> None:
    assert repr(ring) == "Keyring(active='k2', key_ids=['k1', 'k2'])"


# --- environment value ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "active", "ids"),
    [
        (f"k2:{K2.hex()},k1:{K1.hex()}", "k2", ("k2", "k1")),
        (f" k1 : {K1.hex().upper()} \n", "k1", ("k1",)),
        (f"node-a.2026_11:{K1.hex()}", "node-a.2026_11", ("node-a.2026_11",)),
        (f"{'x' * 64}:{K1.hex()}", "x" * 64, ("x" * 64,)),
    ],
    ids=["two keys", "spaces and upper-case hex", "every id character", "64-char id"],
)
def test_parse_env(text: str, active: str, ids: tuple[str, ...]) -> None:
    ring = Keyring.parse_env(text)
    assert (ring.active, ring.key_ids) == (active, ids)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty keyring"),
        ("  ", "empty keyring"),
        (K1.hex(), "entry 1 is not of the form"),
        (f"k1:{K1.hex()},", "entry 2 is not of the form"),
        (f"k1:{K1.hex()},k1:{K2.hex()}", "entry 2 repeats the key id"),
        (f"k1:{K1.hex()[:-2]}", "entry 1: the key must be 32 hex"),
        (f"k1:{K1.hex()}00", "entry 1: the key must be 32 hex"),
        (f"k1:{K1.hex()[:-1]}g", "entry 1: the key must be 32 hex"),
        (f"k 1:{K1.hex()}", "entry 1: the key id must be"),
        (f":{K1.hex()}", "entry 1: the key id must be"),
        (f"{'x' * 65}:{K1.hex()}", "entry 1: the key id must be"),
        (f"{K1.hex()}:k1", "entry 1: the key must be 32 hex"),
    ],
    ids=[
        "empty", "blank", "no id", "trailing comma", "repeated id", "short key", "long key", "not hex",
        "space in id", "empty id", "65-char id", "id and key swapped",
    ],
)  # fmt: skip
def test_parse_env_refuses(text: str, reason: str) -> None:
    with pytest.raises(CryptoError, match=re.escape(reason)) as caught:
        Keyring.parse_env(text)
    assert not HEX_RUN.search(caught.value.message)
    assert K1.hex()[:8] not in caught.value.message


# --- keyring files ----------------------------------------------------------------------------------


def write_keyring(path: Path, doc: object, mode: int = 0o600) -> Path:
    path.write_text(json.dumps(doc))
    path.chmod(mode)
    return path


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    return write_keyring(
        tmp_path / "cluster.keys", {"version": 1, "active": "k2", "keys": {"k1": K1.hex(), "k2": K2.hex()}}
    )


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_load(keyring_file: Path) -> None:
    ring = Keyring.load(keyring_file)
    assert (ring.active, ring.key_ids, ring.retired) == ("k2", ("k1", "k2"), ())
    assert ring.open(Keyring({"k1": K1}, "k1").seal(b"hi", b""), b"") == b"hi"


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_load_accepts_owner_only_modes(keyring_file: Path, mode: int) -> None:
    keyring_file.chmod(mode)
    assert Keyring.load(keyring_file).active == "k2"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602, 0o610])
def test_load_refuses_files_others_can_reach(keyring_file: Path, mode: int) -> None:
    keyring_file.chmod(mode)
    with pytest.raises(CryptoError, match=f"has mode {mode:04o}.*chmod 600 {re.escape(str(keyring_file))}"):
        Keyring.load(keyring_file)


def test_load_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(CryptoError, match="does not exist; create it with: deepfort cluster keygen"):
        Keyring.load(tmp_path / "absent.keys")


def test_load_refuses_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(CryptoError, match="not a regular file"):
        Keyring.load(tmp_path / "dir")


BAD_FILES: dict[str, tuple[object, str]] = {
    "list": ([], "must hold a JSON object"),
    "no keys": ({"active": "k1"}, "'keys' must be a non-empty object"),
    "empty keys": ({"active": "k1", "keys": {}}, "'keys' must be a non-empty object"),
    "no active": ({"keys": {"k1": K1.hex()}}, "'active' must be the id of one of its keys"),
    "active absent": ({"active": "k2", "keys": {"k1": K1.hex()}}, "active key 'k2' is not in the keyring"),
    "short key": ({"active": "k1", "keys": {"k1": K1.hex()[:30]}}, "key 'k1' must be 32 hex characters"),
    "key not text": ({"active": "k1", "keys": {"k1": 7}}, "key 'k1' must be 32 hex characters"),
    "bad id": ({"active": "k/1", "keys": {"k/1": K1.hex()}}, "invalid key id 'k/1'"),
    "swapped": ({"active": "k1", "keys": {K1.hex(): "k1"}}, "an id shaped like a key, not shown"),
    "unknown field": ({"active": "k1", "keys": {"k1": K1.hex()}, "activ": "k1"}, "unknown fields ['activ']"),
    "version 2": ({"version": 2, "active": "k1", "keys": {"k1": K1.hex()}}, "has version 2"),
    "version true": ({"version": True, "active": "k1", "keys": {"k1": K1.hex()}}, "has version True"),
    "retired not list": ({"active": "k1", "keys": ONE, "retired": "k0"}, "'retired' must be a list"),
    "retired present": ({"active": "k1", "keys": ONE, "retired": ["k1"]}, "both present and retired"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_load_refuses_malformed_files(tmp_path: Path, case: str) -> None:
    doc, reason = BAD_FILES[case]
    path = write_keyring(tmp_path / "cluster.keys", doc)
    with pytest.raises(CryptoError, match=re.escape(reason)) as caught:
        Keyring.load(path)
    assert caught.value.message.startswith(f"keyring file {path}")
    assert not HEX_RUN.search(caught.value.message)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(f'{{"keys": {{"k1": "{K1.hex()}"', "not valid JSON"), (b"\xff\xfe{}", "not UTF-8")],
    ids=["truncated JSON", "not UTF-8"],
)
def test_load_refuses_unreadable_content(tmp_path: Path, raw: str | bytes, reason: str) -> None:
    path = tmp_path / "cluster.keys"
    path.write_bytes(raw.encode() if isinstance(raw, str) else raw)
    path.chmod(0o600)
    with pytest.raises(CryptoError, match=reason) as caught:
        Keyring.load(path)
    assert not HEX_RUN.search(caught.value.message)


@pytest.mark.usefixtures("permissive_umask")
def test_generate_key_creates_an_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.keys"
    key_id = generate_key(path)
    assert re.fullmatch(r"k-\d{8}-[0-9a-f]{4}", key_id)
    assert mode_of(path) == 0o600
    assert os.listdir(tmp_path) == ["cluster.keys"]  # no temporary file left behind
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["active"] == key_id and doc["retired"] == []
    assert list(doc["keys"]) == [key_id] and re.fullmatch(r"[0-9a-f]{32}", doc["keys"][key_id])


@pytest.mark.usefixtures("permissive_umask")
def test_generate_key_adds_to_an_existing_file(keyring_file: Path) -> None:
    assert generate_key(keyring_file, "k3", activate=False) == "k3"
    ring = Keyring.load(keyring_file)
    assert (ring.active, ring.key_ids) == ("k2", ("k1", "k2", "k3"))
    assert mode_of(keyring_file) == 0o600
    default_id = generate_key(keyring_file)
    assert Keyring.load(keyring_file).active == default_id
    keys = json.loads(keyring_file.read_text())["keys"]
    assert (keys["k1"], keys["k2"]) == (K1.hex(), K2.hex())
    assert len(set(keys.values())) == 4


def test_generate_key_refusals(keyring_file: Path, tmp_path: Path) -> None:
    with pytest.raises(CryptoError, match="'k1' is already in the keyring"):
        generate_key(keyring_file, "k1")
    with pytest.raises(CryptoError, match="invalid key id 'no spaces'"):
        generate_key(keyring_file, "no spaces")
    new = tmp_path / "new.keys"
    with pytest.raises(CryptoError, match="first key must be active"):
        generate_key(new, activate=False)
    assert not new.exists()
    keyring_file.chmod(0o644)
    with pytest.raises(CryptoError, match="chmod 600"):
        generate_key(keyring_file)


def test_activate_and_retire_in_a_file(keyring_file: Path) -> None:
    sealed_k2 = Keyring.load(keyring_file).seal(b"old", AAD)
    activate_key(keyring_file, "k1")
    assert Keyring.load(keyring_file).active == "k1"
    retire_key(keyring_file, "k2")
    ring = Keyring.load(keyring_file)
    assert (ring.active, ring.key_ids, ring.retired) == ("k1", ("k1",), ("k2",))
    assert K2.hex() not in keyring_file.read_text()
    assert mode_of(keyring_file) == 0o600
    with pytest.raises(EnvelopeError, match="unknown key id 'k2'"):
        ring.open(sealed_k2, AAD)
    with pytest.raises(CryptoError, match="was retired and cannot be reused"):
        generate_key(keyring_file, "k2")


def test_file_refusals(keyring_file: Path) -> None:
    before = keyring_file.read_bytes()
    with pytest.raises(CryptoError, match="cannot retire the active key 'k2'"):
        retire_key(keyring_file, "k2")
    with pytest.raises(CryptoError, match="no key 'k9' in the keyring; its keys are: k1, k2"):
        activate_key(keyring_file, "k9")
    with pytest.raises(CryptoError, match="no key 'k9'"):
        retire_key(keyring_file, "k9")
    retire_key(keyring_file, "k1")
    with pytest.raises(CryptoError, match="key 'k1' is retired"):
        activate_key(keyring_file, "k1")
    assert keyring_file.read_bytes() != before


def test_writes_go_through_a_symlink_to_its_target(keyring_file: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.keys"
    link.symlink_to(keyring_file)
    generate_key(link, "k3")
    assert link.is_symlink()
    assert Keyring.load(keyring_file).active == "k3"
