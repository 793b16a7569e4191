"""The held-out split of a prompt set: ``deepfort data split``'s grouping (near-duplicate prompts go to one
side whole), seeded, so the student is evaluated on prompts that neither it nor the teacher answered for
training."""

from __future__ import annotations

from collections.abc import Sequence

from deepfort.training.dataset.records import Message, Record
from deepfort.training.dataset.split import split
from deepfort.training.distill.prompts import Prompt

__all__ = ["split_prompts"]


def split_prompts(
    prompts: Sequence[Prompt], eval_share: float, seed: int = 0
) -> tuple[list[Prompt], list[Prompt]]:
    """``(train, heldout)``, each in the prompt set's order; held-out gets at least ``eval_share``."""
    records = [Record((Message("user", p.text), Message("assistant", ""))) for p in prompts]
    by_record = {id(record): prompt for record, prompt in zip(records, prompts, strict=True)}
    train, held = split(records, eval_share=eval_share, seed=seed)
    return [by_record[id(r)] for r in train], [by_record[id(r)] for r in held]
