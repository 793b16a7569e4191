"""The matching view of text for moderation: what a phrase is compared with.

Each character is NFKC-normalised and case-folded on its own (full-width ``ＫＩＬＬ`` reads ``kill``), and
every folded character remembers the index of the original character it came from, so that a match can
be cut out of the original text. On top of that:

- zero-width characters (U+200B-U+200D, U+2060, U+FEFF, soft hyphen) are dropped everywhere;
- a run of whitespace becomes one space (``kill \\n you`` reads ``kill you``);
- whitespace and filler punctuation (``* · • . _ - ~ | / \\ ^ # + =``) between two CJK characters are
  dropped, so ``枪 支`` and ``枪*支`` read ``枪支``. Sentence punctuation (``，。、：！？``) is kept: dropping
  it would join the end of one clause to the start of the next.

The folder is incremental: a filler run after a CJK character stays pending until the next character
shows whether it is dropped, so feeding a text in any chunking folds it the same way.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["Folder", "fold", "is_cjk", "is_word_char"]

_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
_FILLERS = frozenset("*·•._-~|/\\^#+=")


def is_cjk(char: str) -> bool:
    """A letter of a script written without spaces between words (Han, kana, ...), after U+2E80."""
    return char >= "\u2e80" and char.isalpha()


def is_word_char(char: str) -> bool:
    """A letter or digit of a script that separates words with spaces: phrases need boundaries there."""
    return char.isalnum() and not is_cjk(char)


@lru_cache(maxsize=8192)
def _classify(char: str) -> tuple[int, str]:
    """(0 ordinary | 1 whitespace | 2 filler punctuation | 3 invisible, folded text)."""
    if char in _INVISIBLE:
        return 3, ""
    folded = unicodedata.normalize("NFKC", char).casefold()
    if folded.isspace():
        return 1, " "
    if folded and all(part in _FILLERS for part in folded):
        return 2, folded
    return 0, folded


class Folder:
    """Folds a stream of text; see the module docstring for the rules."""

    def __init__(self) -> None:
        self._index = 0
        self._last = ""
        self._pending: list[tuple[int, int, str]] = []
        self._chars: list[str] = []
        self._origins: list[int] = []

    @property
    def pending_start(self) -> int:
        """Original index of the first character not yet folded (pending fillers, or the end)."""
        return self._pending[0][0] if self._pending else self._index

    def feed(self, text: str) -> tuple[str, list[int]]:
        """Fold ``text``; return the newly determined folded text and each character's original index."""
        for char in text:
            index = self._index
            self._index += 1
            kind, folded = _classify(char)
            if kind == 3:
                continue
            if kind:
                if is_cjk(self._last):
                    self._pending.append((index, kind, folded))
                else:
                    self._emit_filler(index, kind, folded)
                continue
            if self._pending:
                if not is_cjk(folded[0]):
                    self._flush()
                self._pending.clear()
            self._chars.append(folded)
            self._origins.extend([index] * len(folded))
            self._last = folded[-1]
        return self._take()

    def finish(self) -> tuple[str, list[int]]:
        """Fold what is pending at the end of the stream."""
        self._flush()
        return self._take()

    def _emit_filler(self, index: int, kind: int, folded: str) -> None:
        if kind == 1 and self._last == " ":
            return
        self._chars.append(folded)
        self._origins.extend([index] * len(folded))
        self._last = folded[-1]

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for index, kind, folded in pending:
            self._emit_filler(index, kind, folded)

    def _take(self) -> tuple[str, list[int]]:
        text, origins = "".join(self._chars), self._origins
        self._chars, self._origins = [], []
        return text, origins


def fold(text: str) -> str:
    """The folded form of a whole text (used for lexicon phrases)."""
    folder = Folder()
    head, _ = folder.feed(text)
    tail, _ = folder.finish()
    return head + tail
