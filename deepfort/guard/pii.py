"""Personal data detectors for Chinese and English text.

Text is NFKC-normalised before matching, so full-width digits and letters (``１３８``, ``ｅｍａｉｌ``) and
the ideographic space read as their ASCII forms. Detectors use look-arounds instead of ``\\b``: Python's
``\\b`` sees no boundary between a Chinese character and a digit, and a boundary must fall between
``电话`` and ``138...`` but not inside a longer run of digits such as an order number.

Built-in kinds, each validated beyond its pattern where a check exists:

=========  ==================================================================================
id_card    18 characters: region prefix of a real province, a birth date from 1900 to today,
           ISO 7064 MOD 11-2 check character (digit or X)
phone      mainland mobile 1[3-9]xxxxxxxxx, optional +86/0086, optional ``-``/space as 3-4-4
bank_card  16-19 digits, optionally grouped in fours by one kind of separator, Luhn check, issuer
           prefix 3-6 or Mastercard 2221-2720 (rules out date-led order numbers)
email      ASCII local part @ domain with a letter TLD
landline   area code 0xx/0xxx in parentheses or followed by ``-``, local number of 7-8 digits
           starting 2-9, optional extension (``-``, ``转``, ``ext``, ``x`` + 1-6 digits)
passport   Chinese ordinary passports: E or G + 8 digits, E + letter + 7 digits (upper case)
ipv4       four dotted octets 0-255 without leading zeros
=========  ==================================================================================

Operators add regular expressions (``extra_patterns``) and literal word lists (``word_lists``, matched
with Aho-Corasick, case-insensitive for Latin letters, word boundaries at Latin ends). When matches
overlap, the longest wins, then the more specific kind (the order above, then extras, then word lists).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ahocorasick  # type: ignore[import-not-found]  # a C extension without stubs

from deepfort.config import PiiSettings
from deepfort.errors import ConfigError

__all__ = ["BUILTIN_KINDS", "Detection", "PiiDetector", "normalize"]

BUILTIN_KINDS = ("id_card", "bank_card", "passport", "phone", "landline", "email", "ipv4")

_L = r"(?<![0-9A-Za-z])"
_R = r"(?![0-9A-Za-z])"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_PATTERNS: dict[str, str] = {
    "id_card": _L + r"[0-9]{17}[0-9Xx]" + _R,
    "bank_card": _L + r"[0-9]{4}(?P<sep>[ -]?)[0-9]{4}(?:(?P=sep)[0-9]{4}){2}(?:(?P=sep)[0-9]{1,3})?" + _R,
    "passport": _L + r"(?:[EG][0-9]{8}|E[A-Z][0-9]{7})" + _R,
    "phone": _L + r"(?:(?:\+|00)86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}" + _R,
    "landline": _L
    + r"(?:\(0[0-9]{2,3}\) ?|0[0-9]{2,3}-)[2-9][0-9]{6,7}(?:(?:-|转| ?(?:ext\.?|x) ?)[0-9]{1,6})?"
    + _R,
    "email": r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
    r"(?![A-Za-z0-9-])",
    "ipv4": r"(?<![0-9A-Za-z.])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![0-9A-Za-z]|\.[0-9])",
}
_COMPILED = {kind: re.compile(pattern, re.ASCII) for kind, pattern in _PATTERNS.items()}

# Province-level region codes: the first two digits of every real ID number.
_PROVINCES = frozenset(
    [*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55), *range(61, 66)]
) | {71, 81, 82}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_id_card(value: str) -> bool:
    """Region prefix, birth date (1900 to today) and MOD 11-2 check character of an 18-character ID."""
    value = value.upper()
    if int(value[:2]) not in _PROVINCES:
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not dt.date(1900, 1, 1) <= born <= dt.date.today():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


def luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def valid_bank_card(value: str) -> bool:
    digits = re.sub(r"[ -]", "", value)
    issuer = digits[0] in "3456" or 2221 <= int(digits[:4]) <= 2720
    return issuer and luhn(digits)


_VALIDATORS: dict[str, Callable[[str], bool]] = {"id_card": valid_id_card, "bank_card": valid_bank_card}

# Full-width ASCII forms and the ideographic space: the NFKC changes Chinese text nearly always needs.
_WIDE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _normalize_mapped(text: str) -> tuple[str, list[tuple[int, int]] | None]:
    """NFKC text and, unless each character maps to one, the original span of every normalised one."""
    narrowed = text.translate(_WIDE)
    if unicodedata.is_normalized("NFKC", narrowed):
        return narrowed, None
    pieces: list[str] = []
    origins: list[tuple[int, int]] = []
    start = 0
    # A base character and the combining marks after it normalise together (e + U+0301 -> é).
    for index in range(1, len(text) + 1):
        if index < len(text) and unicodedata.combining(text[index]):
            continue
        piece = unicodedata.normalize("NFKC", text[start:index])
        pieces.append(piece)
        origins.extend([(start, index)] * len(piece))
        start = index
    return "".join(pieces), origins


def normalize(text: str) -> str:
    """NFKC, applied to each base character with its combining marks; positions of detections refer to
    this text. It equals ``unicodedata.normalize("NFKC", text)`` except in rare compositions across
    base characters (Hangul jamo sequences)."""
    return _normalize_mapped(text)[0]


def _fold_latin(text: str) -> str:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(low if len(low := char.lower()) == 1 else char for char in text)


def _is_latin_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


@dataclass(frozen=True, slots=True)
class Detection:
    """One piece of personal data: its kind, its span in the text searched and the text of that span."""

    kind: str
    start: int
    end: int
    value: str


class PiiDetector:
    """The detectors that :class:`~deepfort.config.PiiSettings` selects, ready to run on any text."""

    def __init__(self, settings: PiiSettings) -> None:
        unknown = [kind for kind in settings.kinds if kind not in _COMPILED]
        if unknown:
            raise ConfigError(
                f"unknown PII kind(s) {', '.join(unknown)}; built-in kinds are {', '.join(BUILTIN_KINDS)} "
                "(add others with extra_patterns or word_lists)"
            )
        chosen = set(settings.kinds)
        self._regexes: list[tuple[str, re.Pattern[str]]] = [
            (kind, _COMPILED[kind]) for kind in BUILTIN_KINDS if kind in chosen
        ]
        for kind, pattern in settings.extra_patterns.items():
            _check_kind_name(kind)
            try:
                self._regexes.append((kind, re.compile(pattern)))
            except re.error as exc:
                message = f"PII pattern for {kind!r} is not a valid regular expression: {exc}"
                raise ConfigError(message) from exc
        self._word_kinds: list[str] = []
        self._words: Any = None
        words: dict[str, tuple[int, int]] = {}
        for kind, entries in settings.word_lists.items():
            _check_kind_name(kind)
            self._word_kinds.append(kind)
            for word in entries:
                folded = _fold_latin(normalize(word.strip()))
                if folded:
                    words.setdefault(folded, (len(self._word_kinds) - 1, len(folded)))
        if words:
            self._words = ahocorasick.Automaton()
            for folded, value in words.items():
                self._words.add_word(folded, value)
            self._words.make_automaton()

    @property
    def kinds(self) -> list[str]:
        """Kinds this detector reports, most specific first."""
        return list(dict.fromkeys([kind for kind, _ in self._regexes] + self._word_kinds))

    def detect(self, text: str) -> list[Detection]:
        """Personal data in ``normalize(text)``, in order, without overlaps."""
        normalized, _ = _normalize_mapped(text)
        spans = self._spans(normalized)
        return [Detection(kind, start, end, normalized[start:end]) for kind, start, end in spans]

    def locate(self, text: str) -> list[Detection]:
        """The same detections, with positions and values in ``text`` itself (as the user wrote them)."""
        normalized, origins = _normalize_mapped(text)
        found: list[Detection] = []
        for kind, start, end in self._spans(normalized):
            if origins is not None:
                start, end = origins[start][0], origins[end - 1][1]
            found.append(Detection(kind, start, end, text[start:end]))
        return found

    def _spans(self, text: str) -> list[tuple[str, int, int]]:
        candidates: list[tuple[int, int, int, str]] = []  # (-length, priority, start, kind)
        for priority, (kind, regex) in enumerate(self._regexes):
            validate = _VALIDATORS.get(kind) if regex is _COMPILED.get(kind) else None
            for match in regex.finditer(text):
                start, end = match.span()
                if end > start and (validate is None or validate(match.group())):
                    candidates.append((start - end, priority, start, kind))
        if self._words is not None:
            candidates.extend(self._word_candidates(text, len(self._regexes)))
        candidates.sort()
        taken = bytearray(len(text))
        spans: list[tuple[str, int, int]] = []
        for negative_length, _, start, kind in candidates:
            end = start - negative_length
            if taken.find(1, start, end) < 0:
                taken[start:end] = b"\x01" * (end - start)
                spans.append((kind, start, end))
        spans.sort(key=lambda span: span[1])
        return spans

    def _word_candidates(self, text: str, priority: int) -> list[tuple[int, int, int, str]]:
        folded = _fold_latin(text)
        found = []
        for last, (kind_index, length) in self._words.iter(folded):
            start, end = last + 1 - length, last + 1
            if _is_latin_word_char(folded[start]) and start > 0 and _is_latin_word_char(folded[start - 1]):
                continue
            if _is_latin_word_char(folded[last]) and end < len(folded) and _is_latin_word_char(folded[end]):
                continue
            found.append((-length, priority + kind_index, start, self._word_kinds[kind_index]))
        return found


def _check_kind_name(kind: str) -> None:
    if not kind or "[" in kind or "]" in kind or kind != kind.strip():
        raise ConfigError(f"PII kind name {kind!r} must be non-empty, without brackets or outer spaces")
