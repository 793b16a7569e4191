"""Sealed fields: one column of one record, encrypted with SM4-GCM under a data key.

A sealed field is one blob::

    version (1 byte, 0x01) | nonce (12 bytes) | ciphertext | tag (16 bytes)

The AAD is ``deepfort/field/v1/{table}/{record id}/{column}``, so a blob opens only in the place it was
sealed for: copied to another record, or from a title into a message's content, it fails authentication
like an altered one. Failures raise :class:`RecordIntegrityError` naming the table, record and column,
never any plaintext.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from deepfort.crypto.sm import KEY_BYTES, NONCE_BYTES, TAG_BYTES
from deepfort.errors import RecordIntegrityError

VERSION = 1
_HEADER = bytes([VERSION])
_MIN_BYTES = len(_HEADER) + NONCE_BYTES + TAG_BYTES


def field_aad(table: str, record_id: str, column: str) -> bytes:
    return f"deepfort/field/v{VERSION}/{table}/{record_id}/{column}".encode()


def seal_field(key: bytes, table: str, record_id: str, column: str, plaintext: str) -> bytes:
    """The blob of ``plaintext`` sealed for ``table``/``record_id``/``column`` under data key ``key``."""
    assert len(key) == KEY_BYTES
    nonce = os.urandom(NONCE_BYTES)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(field_aad(table, record_id, column))
    ciphertext = encryptor.update(plaintext.encode("utf-8")) + encryptor.finalize()
    return _HEADER + nonce + ciphertext + encryptor.tag


def open_field(key: bytes, table: str, record_id: str, column: str, blob: bytes) -> str:
    """The plaintext of ``blob``; :class:`RecordIntegrityError` unless it was sealed under ``key`` for
    exactly this table, record and column and has not been altered since."""
    where = f"{table} record {record_id}, column {column}"
    if len(blob) < _MIN_BYTES:
        raise RecordIntegrityError(f"{where}: sealed field is truncated ({len(blob)} bytes)")
    if blob[0] != VERSION:
        raise RecordIntegrityError(f"{where}: unknown sealed field version {blob[0]}")
    nonce = blob[1 : 1 + NONCE_BYTES]
    ciphertext = blob[1 + NONCE_BYTES : -TAG_BYTES]
    tag = blob[-TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(field_aad(table, record_id, column))
    plaintext = decryptor.update(ciphertext)
    try:
        plaintext += decryptor.finalize()
    except InvalidTag:
        raise RecordIntegrityError(
            f"{where}: failed to decrypt: altered, copied from another record or column, "
            "or sealed under another data key"
        ) from None
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:  # authentic, so only a bug of ours can get here
        raise RecordIntegrityError(f"{where}: decrypted field is not UTF-8") from None
