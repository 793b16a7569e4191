"""Which language a text is in, for ``clean --lang``: py3langid (langid.py's model, 97 languages, shipped in
its wheel), with two rules of our own around it.

- Mixed Chinese and English (``如何在 Python 里用 pandas 读取 CSV 文件？``, common in technical Q&A) is both
  ``zh`` and ``en``: a text with at least :data:`MIXED_SHARE` of its letters in each script passes when
  either language is allowed.
- A text with fewer than :data:`MIN_LETTERS` letters (``OK``, ``42``) is too short to identify and passes.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import lru_cache
from typing import Any

from deepfort.guard.fold import is_cjk

__all__ = ["MIN_LETTERS", "MIXED_SHARE", "allowed", "languages"]

MIN_LETTERS = 4
MIXED_SHARE = 0.2


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]

    return LanguageIdentifier.from_model_file(MODEL_FILE)


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def languages(text: str) -> frozenset[str]:
    """The languages of a text: one ISO 639-1 code, ``{"zh", "en"}`` when mixed, empty when too short."""
    letters = [char for char in text if char.isalpha()]
    if len(letters) < MIN_LETTERS:
        return frozenset()
    han = sum(1 for char in letters if _is_han(char))
    latin = sum(1 for char in letters if char.isascii())
    other_cjk = sum(1 for char in letters if is_cjk(char) and not _is_han(char))
    if other_cjk == 0 and min(han, latin) >= MIXED_SHARE * len(letters):
        return frozenset({"zh", "en"})
    language, _ = _identifier().classify(text)
    return frozenset({str(language)})


def allowed(text: str, wanted: Collection[str]) -> bool:
    found = languages(text)
    return not found or bool(found & set(wanted))
