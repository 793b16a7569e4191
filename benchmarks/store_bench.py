"""The store on a SQLite file: sealed message writes per second, reads, and master key rotation.

Scenarios, each on a fresh database in a temporary directory:

- ``write, 1 per txn``: ``add_message`` in a loop, one transaction (and one WAL commit) per message;
- ``write, batched``: ``add_messages`` with ``--batch`` messages per transaction;
- ``read + decrypt``: ``get_conversation`` of the written conversation, counted in messages;
- ``rotate master``: ``rotate_master`` re-wrapping ``--data-keys`` data keys under a new master key.

Every message is ``--content-bytes`` of content plus the same again as reasoning (two sealed fields).
``--synchronous FULL`` measures SQLite's fsync-per-commit mode (the default is NORMAL, see
``deepfort/store/db.py``). Prints a markdown table, or JSON with ``--json``.

    python benchmarks/store_bench.py [--messages 2000] [--batch 50] [--data-keys 10000]
        [--content-bytes 500] [--synchronous NORMAL|FULL] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import insert

from deepfort.crypto.sm import Keyring
from deepfort.store import NewMessage, Store
from deepfort.store.datakeys import wrap
from deepfort.store.models import DataKey


@dataclass
class Row:
    scenario: str
    unit: str
    count: int
    seconds: float
    per_second: float


def timed(scenario: str, unit: str, count: int, work: Callable[[], object]) -> Row:
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    return Row(scenario, unit, count, round(seconds, 4), round(count / seconds, 1))


def open_store(directory: Path, name: str, master: Keyring, synchronous: str) -> Store:
    return Store.open(f"sqlite:///{directory / name}", master, synchronous=synchronous)  # type: ignore[arg-type]


def write_rows(directory: Path, args: argparse.Namespace, master: Keyring) -> list[Row]:
    content = "测" * (args.content_bytes // 3) or "x"
    store = open_store(directory, "writes.db", master, args.synchronous)
    try:
        single = store.create_conversation("bench", "one per transaction", "m")
        store.add_message(single.id, "user", "warm-up")

        def one_per_txn() -> None:
            for _ in range(args.messages):
                store.add_message(single.id, "assistant", content, reasoning=content)

        batched = store.create_conversation("bench", "batched", "m")
        batch = [NewMessage("assistant", content, reasoning=content)] * args.batch

        def batches() -> None:
            for _ in range(max(1, args.messages // args.batch)):
                store.add_messages(batched.id, batch)

        reader = open_store(directory, "writes.db", master, args.synchronous)  # empty data key cache
        rows = [
            timed("write, 1 per txn", "messages", args.messages, one_per_txn),
            timed(
                f"write, batched x{args.batch}",
                "messages",
                max(1, args.messages // args.batch) * args.batch,
                batches,
            ),
            timed(
                "read + decrypt",
                "messages",
                args.messages + 1,
                lambda: reader.get_conversation(single.id, None),
            ),
        ]
        reader.close()
        return rows
    finally:
        store.close()


def rotation_row(directory: Path, args: argparse.Namespace, master: Keyring) -> Row:
    store = open_store(directory, "rotation.db", master, args.synchronous)
    try:
        now = datetime.now(UTC)
        rows = []
        for _ in range(args.data_keys):
            data_key_id = str(uuid.uuid4())
            master_key_id, wrapped = wrap(master, data_key_id, secrets.token_bytes(16))
            rows.append(
                {
                    "id": data_key_id,
                    "master_key_id": master_key_id,
                    "wrapped": wrapped,
                    "created_at": now,
                    "retired": True,
                }
            )
        with store.engine.begin() as connection:
            connection.execute(insert(DataKey), rows)
        rotated = master.with_key("bench-new", os.urandom(16), activate=True)
        row = timed("rotate master", "data keys", args.data_keys, lambda: store.rotate_master(rotated))
        assert store.master_key_usage() == {"bench-new": args.data_keys}
        return row
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--data-keys", type=int, default=10_000)
    parser.add_argument("--content-bytes", type=int, default=500)
    parser.add_argument("--synchronous", choices=["NORMAL", "FULL"], default="NORMAL")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    master = Keyring({"bench-old": os.urandom(16)}, "bench-old")
    with tempfile.TemporaryDirectory(prefix="deepfort-store-bench-") as tmp:
        directory = Path(tmp)
        rows = [*write_rows(directory, args, master), rotation_row(directory, args, master)]

    environment = {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": version("sqlalchemy"),
        "cryptography": version("cryptography"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "synchronous": args.synchronous,
        "content_bytes": args.content_bytes,
    }
    if args.json:
        json.dump({"environment": environment, "rows": [asdict(row) for row in rows]}, sys.stdout, indent=2)
        print()
        return
    print(", ".join(f"{key} {value}" for key, value in environment.items()))
    print()
    print("| scenario | count | unit | seconds | per second |")
    print("| --- | ---: | --- | ---: | ---: |")
    for row in rows:
        print(f"| {row.scenario} | {row.count} | {row.unit} | {row.seconds:.3f} | {row.per_second:,.0f} |")


if __name__ == "__main__":
    main()
