"""Lexicon moderation of generated text, as it streams.

Phrases from the configured lexicons are matched (Aho-Corasick) against the folded view of the text
described in :mod:`deepfort.guard.fold`; a phrase whose first or last character is a Latin letter or digit
only matches at a word boundary there. When matches overlap, the leftmost wins, then the longest.

:class:`StreamModerator` reviews one generated choice. It releases text as soon as no phrase can still
start in it: it holds back only the longest tail of the folded text that is the beginning of some phrase
(a whole phrase ending in a Latin letter or digit stays held until the next character settles its word
boundary), and any filler run whose fate is still open. A stream in which nothing could be the start of a
phrase is released delta by delta, as it comes. :attr:`Moderator.hold_back` bounds the held tail (the
longest phrase less one, plus one for the word-boundary check). Decisions depend only on text already seen
in full, so every chunking of a text releases exactly what reviewing it whole does. With action ``redact``
each hit is replaced by the mask and the stream goes on; with ``stop`` the text before the first hit is
released and the stream ends there (the caller finishes with ``finish_reason: "content_filter"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import ahocorasick  # type: ignore[import-not-found]  # a C extension without stubs

from deepfort.config import ModerationSettings
from deepfort.errors import ConfigError
from deepfort.guard.fold import Folder, fold, is_word_char
from deepfort.guard.lexicon import Entry, load_lexicon

__all__ = ["DEFAULT_MASK", "Hit", "Moderator", "Release", "StreamModerator"]

DEFAULT_MASK = "[已屏蔽]"


@dataclass(frozen=True, slots=True)
class Hit:
    """A lexicon phrase found in the text: ``start``/``end`` index the original (unfolded) text."""

    category: str
    phrase: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Release:
    """Text that is safe to send now, the hits decided with it, and whether the stream is stopped."""

    text: str = ""
    stopped: bool = False
    hits: list[Hit] = field(default_factory=list)

    def __add__(self, other: object) -> Release:
        if not isinstance(other, Release):
            return NotImplemented
        return Release(self.text + other.text, self.stopped or other.stopped, self.hits + other.hits)


class Moderator:
    """The compiled lexicons of :class:`~deepfort.config.ModerationSettings`; shared by all requests."""

    def __init__(self, settings: ModerationSettings, *, mask: str = DEFAULT_MASK) -> None:
        self.action: Literal["redact", "stop"] = settings.action
        self.mask = mask
        self.hold_back = 0
        self._automaton: Any = None
        names = settings.lexicons if settings.enabled else []
        entries = [entry for name in names for entry in load_lexicon(name)]
        phrases: dict[str, Entry] = {}
        for entry in entries:
            folded = fold(entry.phrase)
            if not folded.strip():
                raise ConfigError(f"lexicon phrase {entry.phrase!r} is empty once folded")
            phrases.setdefault(folded, entry)
        if phrases:
            self._automaton = ahocorasick.Automaton()
            for folded, entry in phrases.items():
                edges = (is_word_char(folded[0]), is_word_char(folded[-1]))
                self._automaton.add_word(folded, (len(folded), edges, entry))
                self.hold_back = max(self.hold_back, len(folded) - 1 + edges[1])
            self._automaton.make_automaton()

    @property
    def categories(self) -> list[str]:
        if self._automaton is None:
            return []
        return sorted({entry.category for _, _, entry in self._automaton.values()})

    def stream(self, *, action: Literal["redact", "stop"] | None = None) -> StreamModerator:
        return StreamModerator(self, action=action)

    def review(self, text: str) -> Release:
        """Review a whole (non-streamed) answer: what a stream of it would release in total."""
        stream = self.stream()
        return stream.feed(text) + stream.finish()

    def scan(self, text: str) -> list[Hit]:
        """Every hit in ``text`` (leftmost, then longest, without overlaps), whatever the action."""
        return self.stream(action="redact").review_all(text)

    def open_start(self, folded: str, first: int, base: int) -> int:
        """Where the held tail of ``folded`` (folded text from absolute index ``base``) begins: the start of
        its longest suffix, beginning at ``first`` or later, that some phrase begins with (a phrase that
        needs a word boundary at its start only where the character before is not a letter or digit). The
        end of the text when no suffix could still grow into a match."""
        end = base + len(folded)
        if self._automaton is None:
            return end
        for start in range(max(first, end - self.hold_back, base), end):
            tail = folded[start - base :]
            if start > base and is_word_char(tail[0]) and is_word_char(folded[start - base - 1]):
                continue  # a phrase starting here would be inside a word
            if self._automaton.match(tail):
                return start
        return end

    def _candidates(self, window: str, offset: int, first: int) -> list[tuple[int, int, Entry]]:
        """Matches in ``window`` (folded text from absolute index ``offset``) that start at ``first`` or
        later and pass their boundary checks as far as the window shows: (start, end, entry), sorted."""
        found: list[tuple[int, int, Entry]] = []
        if self._automaton is None:
            return found
        for last, (length, (word_start, word_end), entry) in self._automaton.iter(window):
            start = last + 1 - length
            if start + offset < first:
                continue
            if word_start and start > 0 and is_word_char(window[start - 1]):
                continue
            if word_end and last + 1 < len(window) and is_word_char(window[last + 1]):
                continue
            found.append((start + offset, last + 1 + offset, entry))
        found.sort(key=lambda match: (match[0], -match[1]))
        return found


class StreamModerator:
    """Reviews one generated choice: :meth:`feed` each delta, then :meth:`finish` once."""

    def __init__(self, moderator: Moderator, *, action: Literal["redact", "stop"] | None = None) -> None:
        self._moderator = moderator
        self._action = action or moderator.action
        self._folder = Folder()
        self._folded = ""  # folded text from absolute folded index _folded_base
        self._origins: list[int] = []
        self._folded_base = 0
        self._decided = 0  # absolute folded index: everything before it is decided
        self._held = ""  # original text not yet released, from absolute index _held_base
        self._held_base = 0
        self._stopped = False

    @property
    def stopped(self) -> bool:
        return self._stopped

    def feed(self, delta: str) -> Release:
        if self._stopped:
            return Release(stopped=True)
        self._held += delta
        self._append(*self._folder.feed(delta))
        return self._advance(final=False)

    def finish(self) -> Release:
        if self._stopped:
            return Release(stopped=True)
        self._append(*self._folder.finish())
        return self._advance(final=True)

    def review_all(self, text: str) -> list[Hit]:
        return (self.feed(text) + self.finish()).hits

    def _append(self, folded: str, origins: list[int]) -> None:
        self._folded += folded
        self._origins += origins

    def _origin(self, index: int) -> int:
        return self._origins[index - self._folded_base]

    def _advance(self, *, final: bool) -> Release:
        end = self._folded_base + len(self._folded)
        # Matches starting before `settled` are known: nothing after it could still grow into one.
        settled = end if final else self._moderator.open_start(self._folded, self._decided, self._folded_base)
        if not final and settled <= self._decided < end:
            return Release()  # nothing newly decided: the release point has not moved
        window_start = max(self._decided - 1, self._folded_base)
        window = self._folded[window_start - self._folded_base :]
        pieces: list[str] = []
        hits: list[Hit] = []
        position = self._decided
        for start, stop, entry in self._moderator._candidates(window, window_start, self._decided):
            if start >= settled:
                break
            if start < position:
                continue
            hit = Hit(entry.category, entry.phrase, self._origin(start), self._origin(stop - 1) + 1)
            hits.append(hit)
            pieces.append(self._release_to(hit.start))
            if self._action == "stop":
                self._stopped = True
                return Release("".join(pieces), True, hits)
            pieces.append(self._moderator.mask)
            self._drop_to(hit.end)
            position = stop
            while position < end and self._origin(position) < hit.end:
                position += 1  # folded characters of the hit's last original character
        self._decided = max(position, settled)
        if final:
            pieces.append(self._release_to(self._held_base + len(self._held)))
        elif self._decided < end:
            pieces.append(self._release_to(self._origin(self._decided)))
        else:
            pieces.append(self._release_to(self._folder.pending_start))
        keep_from = max(self._decided - 1, self._folded_base)
        self._origins = self._origins[keep_from - self._folded_base :]
        self._folded = self._folded[keep_from - self._folded_base :]
        self._folded_base = keep_from
        return Release("".join(pieces), False, hits)

    def _release_to(self, index: int) -> str:
        count = max(index - self._held_base, 0)
        text, self._held = self._held[:count], self._held[count:]
        self._held_base += count
        return text

    def _drop_to(self, index: int) -> None:
        self._release_to(index)
