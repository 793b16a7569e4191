"""SM4-GCM sealed messages: per-message cost and throughput of ``Keyring.seal`` + ``Keyring.open``.

For each payload size (default 64 B, 1 KiB, 16 KiB, 1 MiB) it times ``--rounds`` rounds of seal then
open, each round as many messages as fill about ``--round-seconds``, and reports the median round: µs
per seal, per open and per seal+open, and payload MB/s (10**6 bytes) through seal+open. With
``--aes-baseline`` the same loop runs with AES-128-GCM through the same ``cryptography`` API, for scale
(AES usually has hardware support; SM4 often has none). Prints a markdown table, or JSON with ``--json``.

    python benchmarks/envelope_throughput.py [--sizes 64,1024,16384,1048576] [--rounds 5]
        [--round-seconds 0.2] [--aes-baseline] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import version

from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from deepfort.crypto.sm import Keyring, SealedMessage

AAD = b"POST /v1/chat/completions req-0000000000000000"


@dataclass
class Row:
    cipher: str
    size_bytes: int
    messages_per_round: int
    seal_us: float
    open_us: float
    roundtrip_us: float
    mb_per_s: float


def aes_keyring() -> tuple[Callable[[bytes, bytes], SealedMessage], Callable[[SealedMessage, bytes], bytes]]:
    """seal and open with AES-128-GCM, shaped like the Keyring's, for the baseline rows."""
    key = os.urandom(16)

    def seal(plaintext: bytes, aad: bytes) -> SealedMessage:
        nonce = os.urandom(12)
        encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(aad)
        ciphertext = encryptor.update(plaintext) + encryptor.finalize()
        return SealedMessage("aes", nonce, ciphertext, encryptor.tag)

    def open_(message: SealedMessage, aad: bytes) -> bytes:
        decryptor = Cipher(algorithms.AES(key), modes.GCM(message.nonce, message.tag)).decryptor()
        decryptor.authenticate_additional_data(aad)
        return decryptor.update(message.ciphertext) + decryptor.finalize()

    return seal, open_


def time_round(
    seal: Callable[[bytes, bytes], SealedMessage],
    open_: Callable[[SealedMessage, bytes], bytes],
    payload: bytes,
    count: int,
) -> tuple[float, float]:
    """Seconds for ``count`` seals, then for opening them all."""
    start = time.perf_counter()
    sealed = [seal(payload, AAD) for _ in range(count)]
    middle = time.perf_counter()
    for message in sealed:
        open_(message, AAD)
    return middle - start, time.perf_counter() - middle


def measure(
    name: str,
    seal: Callable[[bytes, bytes], SealedMessage],
    open_: Callable[[SealedMessage, bytes], bytes],
    size: int,
    rounds: int,
    round_seconds: float,
) -> Row:
    payload = os.urandom(size)
    if open_(seal(payload, AAD), AAD) != payload:
        raise SystemExit(f"{name}: a sealed {size}-byte payload did not open to itself")
    probe_seal, probe_open = time_round(seal, open_, payload, 3)
    count = max(1, min(200_000, int(round_seconds / max((probe_seal + probe_open) / 3, 1e-9))))
    # Sealed messages are kept for the open half, so cap a round's memory at about 256 MiB.
    count = min(count, max(1, (256 << 20) // max(size, 1)))
    results = [time_round(seal, open_, payload, count) for _ in range(rounds)]
    seal_s = statistics.median(s for s, _ in results) / count
    open_s = statistics.median(o for _, o in results) / count
    roundtrip_s = statistics.median(s + o for s, o in results) / count
    return Row(
        cipher=name,
        size_bytes=size,
        messages_per_round=count,
        seal_us=seal_s * 1e6,
        open_us=open_s * 1e6,
        roundtrip_us=roundtrip_s * 1e6,
        mb_per_s=size / roundtrip_s / 1e6,
    )


def human(size: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B"


def machine() -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "cryptography": version("cryptography"),
        "openssl": backend.openssl_version_text(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="64,1024,16384,1048576", help="payload sizes in bytes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=float, default=0.2)
    parser.add_argument("--aes-baseline", action="store_true", help="add AES-128-GCM rows")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.rounds < 1 or args.round_seconds <= 0 or min(sizes) < 0:
        parser.error("--rounds must be >= 1, --round-seconds > 0 and sizes >= 0")

    keyring = Keyring({"bench": os.urandom(16)}, active="bench")
    ciphers = [("SM4-GCM", keyring.seal, keyring.open)]
    if args.aes_baseline:
        ciphers.append(("AES-128-GCM", *aes_keyring()))
    rows = [
        measure(name, seal, open_, size, args.rounds, args.round_seconds)
        for name, seal, open_ in ciphers
        for size in sizes
    ]

    if args.json:
        print(json.dumps({"machine": machine(), "rows": [asdict(row) for row in rows]}, indent=2))
        return
    info = machine()
    print(f"Envelope throughput: {' '.join(sys.argv[1:]) or '(defaults)'}")
    print(f"python {info['python']}, cryptography {info['cryptography']}, {info['openssl']}, "
          f"{info['cpus']} CPUs ({info['cpu']}); median of {args.rounds} rounds\n")  # fmt: skip
    print("| cipher | payload | seal µs | open µs | seal+open µs | MB/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row.cipher} | {human(row.size_bytes)} | {row.seal_us:,.1f} | {row.open_us:,.1f} "
            f"| {row.roundtrip_us:,.1f} | {row.mb_per_s:,.1f} |"
        )


if __name__ == "__main__":
    main()
