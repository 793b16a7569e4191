"""Append messages in a loop, printing each id once its transaction has committed; test_crash.py kills it
with SIGKILL mid-burst. Usage: python -m tests.store.crash_writer URL KEYRING_FILE CONVERSATION_ID"""

from __future__ import annotations

import sys

from deepfort.crypto.sm import Keyring
from deepfort.store import NewMessage, Store


def main(url: str, keyring_file: str, conversation_id: str) -> None:
    store = Store.open(url, Keyring.load(keyring_file))
    n = 0
    while True:
        if n % 3 == 2:  # every third write is a batch of two, so a kill may land inside either kind
            batch = [NewMessage("user", f"burst {n} a " + "x" * 300), NewMessage("assistant", f"burst {n} b")]
            ids = [message.id for message in store.add_messages(conversation_id, batch)]
        else:
            ids = [store.add_message(conversation_id, "user", f"burst {n} " + "y" * 300, reasoning="r").id]
        print(" ".join(ids), flush=True)
        n += 1


if __name__ == "__main__":
    main(*sys.argv[1:4])
