"""Sealing protobuf messages into SM4-GCM envelopes, and proving the node secret.

The additional authenticated data of every envelope names the protocol version, the method, the request id,
the direction and the message's position in its stream. Opening with any other of these fails, so a sealed
message captured from one call cannot be replayed into another request, method or stream position.
A replay of a whole request under its own id is caught by :class:`ReplayGuard` instead.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from typing import Literal, TypeVar

from google.protobuf.message import DecodeError, Message

from deepfort.cluster import deepfort_pb2 as pb
from deepfort.crypto.sm import Keyring, SealedMessage, hmac_sm3, verify_hmac_sm3
from deepfort.errors import EnvelopeError

REQUEST_ID_HEADER = "x-deepfort-request-id"
NODE_TS_HEADER = "x-deepfort-node-ts"
NODE_AUTH_HEADER = "x-deepfort-node-auth"
PROTOCOL = "deepfort.cluster.v1"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

M = TypeVar("M", bound=Message)
Direction = Literal["request", "response"]


def valid_request_id(request_id: str) -> bool:
    return bool(_REQUEST_ID.match(request_id))


def aad(method: str, request_id: str, direction: Direction, seq: int = 0) -> bytes:
    return f"{PROTOCOL}\n{method}\n{request_id}\n{direction}\n{seq}".encode()


def seal(keyring: Keyring, message: Message, associated: bytes) -> pb.Envelope:
    sealed = keyring.seal(message.SerializeToString(), associated)
    return pb.Envelope(key_id=sealed.key_id, nonce=sealed.nonce, ciphertext=sealed.ciphertext, tag=sealed.tag)


def unseal(keyring: Keyring, envelope: pb.Envelope, associated: bytes, into: type[M]) -> M:
    """Open ``envelope`` and parse it as ``into``; any failure is an :class:`EnvelopeError`."""
    plaintext = keyring.open(
        SealedMessage(
            key_id=envelope.key_id, nonce=envelope.nonce, ciphertext=envelope.ciphertext, tag=envelope.tag
        ),
        associated,
    )
    message = into()
    try:
        message.ParseFromString(plaintext)
    except DecodeError:
        raise EnvelopeError("sealed message does not parse") from None
    return message


def node_proof(secret: bytes, method: str, request_id: str, timestamp_ms: int) -> str:
    return hmac_sm3(secret, f"{PROTOCOL}\n{method}\n{request_id}\n{timestamp_ms}".encode()).hex()


def check_node_proof(secret: bytes, method: str, request_id: str, timestamp_ms: int, proof: str) -> bool:
    try:
        mac = bytes.fromhex(proof)
    except ValueError:
        return False
    data = f"{PROTOCOL}\n{method}\n{request_id}\n{timestamp_ms}".encode()
    return verify_hmac_sm3(secret, data, mac)


def now_ms() -> int:
    return int(time.time() * 1000)


class ReplayGuard:
    """Refuses requests older (or further in the future) than the window, and request ids seen within it."""

    def __init__(self, window_s: float, max_entries: int = 100_000) -> None:
        self.window_ms = int(window_s * 1000)
        self.max_entries = max_entries
        self._seen: OrderedDict[str, int] = OrderedDict()

    def check(self, key: str, timestamp_ms: int) -> str | None:
        """None when fresh (and now remembered), else why it is refused."""
        now = now_ms()
        if abs(now - timestamp_ms) > self.window_ms:
            return "request timestamp outside the replay window (check the clocks)"
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at <= self.window_ms and len(self._seen) < self.max_entries:
                break
            del self._seen[oldest]
        if key in self._seen:
            return "request id already used (replay)"
        self._seen[key] = now
        return None
