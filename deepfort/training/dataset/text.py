"""How the data steps read text: one normal form for exact comparison, one token list for similarity.

Tokens are what near-duplicate shingles and ROUGE-L are made of: each CJK character is a token (Chinese
is written without spaces, so characters are its words), and a run of other letters and digits is a
token, case-folded. Punctuation and whitespace are not tokens, so ``你好，世界`` and ``你好 世界!`` have the
same tokens.
"""

from __future__ import annotations

import re
import unicodedata

from deepfort.guard.fold import is_cjk
from deepfort.training.dataset.records import Record

__all__ = ["exact_key", "normal", "record_text", "tokens"]

_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"[^\W_]+")


def normal(text: str) -> str:
    """NFKC (full-width letters and digits read as ASCII), case-folded, whitespace runs as one space."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def record_text(record: Record) -> str:
    """Every turn's text, role-tagged, in order: what two records must share to be duplicates."""
    parts = []
    for message in record.messages:
        parts.append(f"{message.role}: {message.content}")
        if message.reasoning_content:
            parts.append(f"reasoning: {message.reasoning_content}")
    return "\n".join(parts)


def exact_key(record: Record) -> str:
    return normal(record_text(record))


def tokens(text: str) -> list[str]:
    """CJK characters one by one, other words whole; NFKC and case-folded; no punctuation."""
    found: list[str] = []
    for run in _TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()):
        word: list[str] = []
        for char in run:
            if is_cjk(char):
                if word:
                    found.append("".join(word))
                    word = []
                found.append(char)
            else:
                word.append(char)
        if word:
            found.append("".join(word))
    return found
