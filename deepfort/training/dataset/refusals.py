"""Refusal and boilerplate answers: phrase lists (``refusals.txt``, Chinese and English, in the moderation
lexicons' ``category<TAB>phrase`` format) matched anywhere in an answer, and answers that are reasoning
only. A model fine-tuned on them learns to refuse and to talk about being a language model."""

from __future__ import annotations

import re
import unicodedata
from importlib import resources
from pathlib import Path

from deepfort.errors import ConfigError
from deepfort.guard.lexicon import Entry, parse_lexicon
from deepfort.training.dataset.records import Message

__all__ = ["REASONING_ONLY", "Phrases"]

REASONING_ONLY = "reasoning_only"
_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def _fold(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold()).strip()


class Phrases:
    """The phrase list of one clean run; :meth:`match` names the category of an answer it drops."""

    def __init__(self, entries: list[Entry]) -> None:
        self._entries = [(entry.category, _fold(entry.phrase)) for entry in entries]

    @classmethod
    def builtin(cls) -> Phrases:
        text = resources.files(__package__ or "").joinpath("refusals.txt").read_text(encoding="utf-8")
        return cls(parse_lexicon(text, "refusals.txt"))

    @classmethod
    def load(cls, path: Path | None) -> Phrases:
        if path is None:
            return cls.builtin()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"phrase list {path}: cannot read it: {exc}") from exc
        return cls(parse_lexicon(text, str(path)))

    def match(self, answer: Message) -> tuple[str, str] | None:
        """``(category, phrase)`` when the answer is to be dropped: a phrase of the list, or
        ``(REASONING_ONLY, "")`` for an answer with reasoning and no content."""
        if not answer.content.strip():
            return (REASONING_ONLY, "") if answer.reasoning_content else None
        folded = _fold(answer.content)
        for category, phrase in self._entries:
            if phrase in folded:
                return category, phrase
        return None
