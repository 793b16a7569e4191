"""``deepfort data split``: train and eval files, the same for the same input and seed.

Near-duplicate groups (MinHash LSH at the clean threshold, :func:`~deepfort.training.dataset.dedup.groups`)
go to one side whole, so an eval question never has a reworded twin in training. Groups are ordered by a
seeded hash of their first record's text (not by position, so appending records does not move the old ones)
and eval takes groups from the front until it holds its share; the records keep their file order on each side.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from deepfort.training.dataset.dedup import DEFAULT_THRESHOLD, groups
from deepfort.training.dataset.records import DataError, Record
from deepfort.training.dataset.text import exact_key, record_text

__all__ = ["split"]


def split(
    records: Sequence[Record],
    *,
    eval_share: float | None = 0.1,
    eval_n: int | None = None,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[Record], list[Record]]:
    """``(train, eval)``; ``eval_n`` (a count) wins over ``eval_share``. Eval gets at least the share
    asked; a group that crosses the line goes to eval whole."""
    if eval_n is None:
        if eval_share is None or not 0.0 < eval_share < 1.0:
            raise DataError(f"--eval-share must be between 0 and 1, got {eval_share}")
        eval_n = math.ceil(len(records) * eval_share)
    if not 0 <= eval_n <= len(records):
        raise DataError(f"--eval-n must be between 0 and the {len(records)} records, got {eval_n}")
    roots = groups([record_text(record) for record in records], threshold)
    members: dict[int, list[int]] = {}
    for index, root in enumerate(roots):
        members.setdefault(root, []).append(index)

    def order(root: int) -> str:
        return hashlib.sha256(f"{seed}\0{exact_key(records[root])}".encode()).hexdigest()

    chosen: set[int] = set()
    for root in sorted(members, key=order):
        if len(chosen) >= eval_n:
            break
        chosen.update(members[root])
    train = [record for index, record in enumerate(records) if index not in chosen]
    held = [record for index, record in enumerate(records) if index in chosen]
    return train, held
