"""SM3 and HMAC-SM3, and SM4-GCM sealed messages under a keyring of named 128-bit keys.

Sealing
    :meth:`Keyring.seal` encrypts with SM4 (GB/T 32907) in GCM mode, the AEAD of RFC 8998, under the
    active key and a fresh random 96-bit nonce, and returns a :class:`SealedMessage` carrying the key id,
    nonce, ciphertext and 128-bit tag. The AAD is authenticated, not encrypted: pass what binds the message
    to its place (method, request id) so that it cannot be replayed elsewhere. The key id is not part of the
    AAD: another id selects another key, so a changed id fails authentication anyway. Random nonces are safe
    for about 2**32 messages per key (NIST SP 800-38D); rotate long before that.

Keyring sources
    An environment value ``"k2:<32 hex>,k1:<32 hex>"`` (:meth:`Keyring.parse_env`; the first entry is the
    active key), or a keyring file (:meth:`Keyring.load`), UTF-8 JSON::

        {
          "version": 1,
          "active": "k-20261129-1a2b",
          "keys": {"k-20261120-9f3c": "<32 hex chars>", "k-20261129-1a2b": "<32 hex chars>"},
          "retired": ["k-20261101-0c7e"]
        }

    ``active`` and ``keys`` (at least one) are required; ``version`` (1) and ``retired`` are optional.
    ``retired`` lists the ids of deleted keys, so that an id is never reused for new key material. Key ids
    are 1-64 characters of ``A-Z a-z 0-9 . _ -``. The file must not be accessible to group or others
    (``chmod 600``); :meth:`Keyring.load` refuses it otherwise.

Rotation
    Every node holds the same keyring. To rotate: :func:`generate_key` with ``activate=False`` and copy the
    file to every node, so all of them can open the new key's messages; then :func:`activate_key` on every
    node; once no message sealed under the old key is in flight, :func:`retire_key` it.

Error messages name the reason (``unknown key id 'k9'``, ``authentication failed``) and never contain key
material; an id shaped exactly like a key (32 hex characters) is not echoed either, in case the two were
swapped in a file.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from deepfort.errors import CryptoError, EnvelopeError

KEY_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
FILE_VERSION = 1

_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HEX_KEY = re.compile(r"[0-9a-fA-F]{32}")
_ID_RULE = "1-64 characters of A-Z a-z 0-9 . _ -"
_FILE_FIELDS = frozenset({"version", "active", "keys", "retired"})


def sm3(data: bytes) -> bytes:
    """The SM3 digest (GB/T 32905) of ``data``: 32 bytes."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 of ``data`` under ``key``: 32 bytes."""
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def verify_hmac_sm3(key: bytes, data: bytes, mac: bytes) -> bool:
    """Whether ``mac`` is the HMAC-SM3 of ``data`` under ``key``, compared in constant time."""
    expected = hmac.HMAC(key, hashes.SM3())
    expected.update(data)
    try:
        expected.verify(mac)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class SealedMessage:
    """An SM4-GCM message as it travels: lengths are checked when it is opened, not here, so that a
    message read off the wire can always be built and then refused with an :class:`EnvelopeError`."""

    key_id: str
    nonce: bytes
    """12 bytes."""
    ciphertext: bytes
    tag: bytes
    """16 bytes."""


def _show_id(key_id: str) -> str:
    """``key_id`` quoted for an error message, unless it is shaped like key material."""
    if _HEX_KEY.fullmatch(key_id):
        return "(an id shaped like a key, not shown)"
    return repr(key_id if len(key_id) <= 64 else key_id[:64] + "...")


def check_key_id(key_id: str) -> str:
    """``key_id`` if it is a valid key id; :class:`CryptoError` otherwise."""
    if not _KEY_ID.fullmatch(key_id):
        raise CryptoError(f"invalid key id {_show_id(key_id)}: use {_ID_RULE}")
    return key_id


class Keyring:
    """Named 128-bit SM4 keys; new messages are sealed under the ``active`` one, and a message sealed
    under any of them opens. Never changes once built: the ``with_*`` methods return a new keyring.
    ``retired`` names deleted keys (known only to keyrings loaded from a file)."""

    __slots__ = ("_active", "_keys", "_retired")

    def __init__(self, keys: Mapping[str, bytes], active: str, retired: Iterable[str] = ()) -> None:
        for key_id, key in keys.items():
            check_key_id(key_id)
            if len(key) != KEY_BYTES:
                raise CryptoError(f"key {_show_id(key_id)} must be {KEY_BYTES} bytes, not {len(key)}")
        if active not in keys:
            raise CryptoError(f"the active key {_show_id(active)} is not in the keyring")
        retired_ids = tuple(dict.fromkeys(check_key_id(key_id) for key_id in retired))
        both = [key_id for key_id in retired_ids if key_id in keys]
        if both:
            raise CryptoError(f"key {_show_id(both[0])} is both present and retired")
        self._keys: Mapping[str, bytes] = MappingProxyType(dict(keys))
        self._active = active
        self._retired = retired_ids

    @property
    def active(self) -> str:
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @property
    def retired(self) -> tuple[str, ...]:
        return self._retired

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __repr__(self) -> str:
        return f"Keyring(active={self._active!r}, key_ids={list(self._keys)!r})"

    def seal(self, plaintext: bytes, aad: bytes) -> SealedMessage:
        """Encrypt and authenticate ``plaintext``, and authenticate ``aad``, under the active key."""
        nonce = os.urandom(NONCE_BYTES)
        encryptor = Cipher(algorithms.SM4(self._keys[self._active]), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(aad)
        ciphertext = encryptor.update(plaintext) + encryptor.finalize()
        return SealedMessage(self._active, nonce, ciphertext, encryptor.tag)

    def open(self, message: SealedMessage, aad: bytes) -> bytes:
        """The plaintext of ``message`` sealed with ``aad``; :class:`EnvelopeError` if its key is unknown
        or it fails authentication (altered, another key, another AAD)."""
        key = self._keys.get(message.key_id)
        if key is None:
            retired = " (retired)" if message.key_id in self._retired else ""
            raise EnvelopeError(f"unknown key id {_show_id(message.key_id)}{retired}")
        if len(message.nonce) != NONCE_BYTES:
            raise EnvelopeError(f"bad nonce: {len(message.nonce)} bytes, expected {NONCE_BYTES}")
        if len(message.tag) != TAG_BYTES:
            raise EnvelopeError(f"bad tag: {len(message.tag)} bytes, expected {TAG_BYTES}")
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(message.nonce, message.tag)).decryptor()
        decryptor.authenticate_additional_data(aad)
        plaintext = decryptor.update(message.ciphertext)
        try:
            return plaintext + decryptor.finalize()
        except InvalidTag as exc:
            raise EnvelopeError(
                "authentication failed: the message was altered, or sealed under another key or AAD"
            ) from exc

    def with_key(self, key_id: str, key: bytes, *, activate: bool) -> Keyring:
        """This keyring plus ``key`` under a new, never retired ``key_id``."""
        if key_id in self._keys:
            raise CryptoError(f"key id {_show_id(key_id)} is already in the keyring")
        if key_id in self._retired:
            raise CryptoError(f"key id {_show_id(key_id)} was retired and cannot be reused; pick another")
        keys = {**self._keys, key_id: key}
        return Keyring(keys, key_id if activate else self._active, self._retired)

    def with_active(self, key_id: str) -> Keyring:
        """This keyring with ``key_id`` active."""
        self._require(key_id)
        return Keyring(self._keys, key_id, self._retired)

    def without_key(self, key_id: str) -> Keyring:
        """This keyring with ``key_id`` deleted and listed as retired; the active key cannot be retired."""
        self._require(key_id)
        if key_id == self._active:
            raise CryptoError(f"cannot retire the active key {_show_id(key_id)}; activate another key first")
        keys = {k: v for k, v in self._keys.items() if k != key_id}
        return Keyring(keys, self._active, (*self._retired, key_id))

    def _require(self, key_id: str) -> None:
        if key_id in self._keys:
            return
        if key_id in self._retired:
            raise CryptoError(f"key {_show_id(key_id)} is retired")
        known = ", ".join(self._keys)
        raise CryptoError(f"no key {_show_id(key_id)} in the keyring; its keys are: {known}")

    @classmethod
    def parse_env(cls, text: str) -> Keyring:
        """A keyring from ``"id:hex32,id:hex32,..."``; the first entry is active. Errors name entries by
        position, never by content, since the content is key material."""
        if not text.strip():
            raise CryptoError("empty keyring: expected 'id:<32 hex chars>[,id:<32 hex chars>...]'")
        keys: dict[str, bytes] = {}
        for position, entry in enumerate(text.split(","), start=1):
            key_id, colon, hex_key = (part.strip() for part in entry.partition(":"))
            if not colon:
                raise CryptoError(f"keyring entry {position} is not of the form 'id:<32 hex chars>'")
            if not _KEY_ID.fullmatch(key_id):
                raise CryptoError(f"keyring entry {position}: the key id must be {_ID_RULE}")
            if key_id in keys:
                raise CryptoError(f"keyring entry {position} repeats the key id of an earlier entry")
            if not _HEX_KEY.fullmatch(hex_key):
                raise CryptoError(f"keyring entry {position}: the key must be 32 hex characters")
            keys[key_id] = bytes.fromhex(hex_key)
        return cls(keys, next(iter(keys)))

    @classmethod
    def load(cls, path: Path | str) -> Keyring:
        """The keyring in the file at ``path`` (format in the module docstring); :class:`CryptoError` if it
        is missing, accessible to group or others, or malformed."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise CryptoError(
                f"keyring file {path} does not exist; create it with: "
                f"deepfort cluster keygen --keyring {path}"
            ) from None
        except OSError as exc:
            raise CryptoError(f"cannot read keyring file {path}: {exc.strerror}") from exc
        try:
            info = os.fstat(fd)  # of the file opened, so a swap after a check cannot slip by
            if not stat.S_ISREG(info.st_mode):
                raise CryptoError(f"keyring file {path} is not a regular file")
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                raise CryptoError(
                    f"keyring file {path} has mode {mode:04o}, so other users may read or change it; "
                    f"restrict it with: chmod 600 {path}"
                )
            with os.fdopen(fd, "rb", closefd=False) as file:
                raw = file.read()
        finally:
            os.close(fd)
        return _from_document(_parse_json(raw, path), path)


def _parse_json(raw: bytes, path: Path) -> object:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CryptoError(f"keyring file {path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        # exc.msg and the position only; str(exc) is the same, but the document must never be echoed.
        raise CryptoError(
            f"keyring file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _from_document(doc: object, path: Path) -> Keyring:
    where = f"keyring file {path}"
    if not isinstance(doc, dict):
        raise CryptoError(f"{where} must hold a JSON object with 'active' and 'keys'")
    unknown = sorted(set(doc) - _FILE_FIELDS)
    if unknown:
        raise CryptoError(f"{where} has unknown fields {unknown}; known: {sorted(_FILE_FIELDS)}")
    version = doc.get("version", FILE_VERSION)
    if version != FILE_VERSION or isinstance(version, bool):
        raise CryptoError(f"{where} has version {version!r}; this deepfort reads version {FILE_VERSION}")
    keys_doc = doc.get("keys")
    if not isinstance(keys_doc, dict) or not keys_doc:
        raise CryptoError(f"{where}: 'keys' must be a non-empty object of key id to 32 hex characters")
    keys: dict[str, bytes] = {}
    for key_id, hex_key in keys_doc.items():
        if not _KEY_ID.fullmatch(key_id):
            raise CryptoError(f"{where}: invalid key id {_show_id(key_id)}; use {_ID_RULE}")
        if not isinstance(hex_key, str) or not _HEX_KEY.fullmatch(hex_key):
            raise CryptoError(f"{where}: key {_show_id(key_id)} must be 32 hex characters")
        keys[key_id] = bytes.fromhex(hex_key)
    active = doc.get("active")
    if not isinstance(active, str):
        raise CryptoError(f"{where}: 'active' must be the id of one of its keys")
    retired = doc.get("retired", [])
    if not isinstance(retired, list) or not all(isinstance(key_id, str) for key_id in retired):
        raise CryptoError(f"{where}: 'retired' must be a list of key ids")
    try:
        return Keyring(keys, active, retired)
    except CryptoError as exc:
        raise CryptoError(f"{where}: {exc.message}") from None


def _write(path: Path, keyring: Keyring) -> None:
    """Replace the file at ``path`` (or the file a symlink there points to) with ``keyring``, atomically:
    readers see the old file or the new one, never a partial one, and the new one is ``0600`` from birth."""
    target = path.resolve()
    doc = {
        "version": FILE_VERSION,
        "active": keyring.active,
        "keys": {key_id: keyring._keys[key_id].hex() for key_id in keyring.key_ids},
        "retired": list(keyring.retired),
    }
    data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise CryptoError(f"cannot write keyring file {path}: {exc.strerror}") from exc


def _new_key_id(keyring: Keyring | None) -> str:
    taken = set() if keyring is None else {*keyring.key_ids, *keyring.retired}
    day = datetime.now(UTC).strftime("%Y%m%d")
    while True:
        key_id = f"k-{day}-{secrets.token_hex(2)}"
        if key_id not in taken:
            return key_id


def generate_key(path: Path | str, key_id: str | None = None, activate: bool = True) -> str:
    """Add a fresh random key to the keyring file at ``path``, creating the file (mode ``0600``) if it is
    absent, and return its id (default ``k-YYYYMMDD-xxxx``). A new file's first key is always active, so
    ``activate=False`` is refused there."""
    path = Path(path)
    keyring = Keyring.load(path) if os.path.lexists(path) else None
    key_id = check_key_id(key_id) if key_id is not None else _new_key_id(keyring)
    key = secrets.token_bytes(KEY_BYTES)
    if keyring is None:
        if not activate:
            raise CryptoError(f"keyring file {path} is new, and its first key must be active")
        updated = Keyring({key_id: key}, key_id)
    else:
        updated = keyring.with_key(key_id, key, activate=activate)
    _write(path, updated)
    return key_id


def activate_key(path: Path | str, key_id: str) -> None:
    """Make ``key_id`` the active key of the keyring file at ``path``."""
    keyring = Keyring.load(path)
    if keyring.active != key_id:
        _write(Path(path), keyring.with_active(key_id))


def retire_key(path: Path | str, key_id: str) -> None:
    """Delete ``key_id`` from the keyring file at ``path``, keeping its id as retired; messages sealed
    under it no longer open. The active key cannot be retired."""
    _write(Path(path), Keyring.load(path).without_key(key_id))
