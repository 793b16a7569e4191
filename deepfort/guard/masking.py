"""What a key's PII policy does with the personal data in one request.

``mask``: each value is replaced by a numbered placeholder such as ``[手机号_1]`` before the model sees it
(the same value gets the same placeholder in every message of the request), and :class:`Unmasker` puts the
values back into the streamed answer. ``block``: the request fails with a message naming the kinds found,
never the values. ``allow``: the text is left as it is, but the kinds found are still reported for the
audit log.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from deepfort.errors import SensitiveInputError
from deepfort.guard.pii import Detection, PiiDetector, normalize

__all__ = ["LABELS", "Masker", "PolicyResult", "Unmasker", "apply_policy", "describe", "label"]

LABELS: Mapping[str, str] = {
    "id_card": "身份证号",
    "phone": "手机号",
    "bank_card": "银行卡号",
    "email": "邮箱",
    "landline": "座机",
    "passport": "护照号",
    "ipv4": "IP地址",
}


def label(kind: str) -> str:
    """The placeholder label of a kind: Chinese for built-in kinds, the kind's own name otherwise."""
    return LABELS.get(kind, kind)


def describe(found: Counter[str]) -> str:
    """``手机号 x2, 身份证号 x1``: the kinds found and how often, most frequent first; never values."""
    return ", ".join(f"{label(kind)} x{count}" for kind, count in found.most_common())


def _digits(value: str) -> str:
    return re.sub(r"[^0-9]", "", value)


def _canonical(detection: Detection) -> str:
    """One spelling per value, so that ``138-1234-5678``, ``＋８６１３８１２３４５６７８`` and ``13812345678``
    share a placeholder."""
    value = normalize(detection.value)
    if detection.kind == "phone":
        return _digits(value)[-11:]
    if detection.kind in ("bank_card", "landline"):
        return _digits(value)
    if detection.kind in ("id_card", "email"):
        return value.lower()
    return value


class Masker:
    """Masks the messages of one request; holds what :class:`Unmasker` needs to restore the answer.

    ``found`` counts every value masked, by kind; ``mapping`` maps each placeholder to the value as the
    user first wrote it.
    """

    def __init__(self, detector: PiiDetector) -> None:
        self._detector = detector
        self.found: Counter[str] = Counter()
        self.mapping: dict[str, str] = {}
        self._placeholders: dict[tuple[str, str], str] = {}
        self._numbers: Counter[str] = Counter()

    def mask(self, text: str) -> str:
        pieces: list[str] = []
        position = 0
        for detection in self._detector.locate(text):
            pieces += [text[position : detection.start], self._placeholder(detection)]
            position = detection.end
        pieces.append(text[position:])
        return "".join(pieces)

    def unmasker(self) -> Unmasker:
        return Unmasker(self.mapping)

    def _placeholder(self, detection: Detection) -> str:
        self.found[detection.kind] += 1
        key = (detection.kind, _canonical(detection))
        placeholder = self._placeholders.get(key)
        if placeholder is None:
            self._numbers[detection.kind] += 1
            placeholder = f"[{label(detection.kind)}_{self._numbers[detection.kind]}]"
            self._placeholders[key] = placeholder
            self.mapping[placeholder] = detection.value
        return placeholder


class Unmasker:
    """Restores placeholders in a streamed answer, whatever the chunking.

    Text is released at once except from an unmatched ``[`` whose tail could still grow into a known
    placeholder; that tail (at most the longest placeholder less one character) is held until it
    completes one, stops matching, or the stream ends. Placeholders the model invented are left as they are.
    """

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._mapping = dict(mapping)
        self._prefixes = {placeholder[:n] for placeholder in mapping for n in range(1, len(placeholder))}
        self._longest = max(map(len, mapping), default=0)
        self._pending = ""

    def feed(self, delta: str) -> str:
        if not self._mapping:
            return delta
        text = self._pending + delta
        self._pending = ""
        pieces: list[str] = []
        position = 0
        while (opening := text.find("[", position)) >= 0:
            pieces.append(text[position:opening])
            closing = text.find("]", opening, opening + self._longest)
            if closing < 0:
                if len(text) - opening < self._longest and text[opening:] in self._prefixes:
                    self._pending = text[opening:]
                    return "".join(pieces)
                pieces.append("[")
                position = opening + 1
                continue
            candidate = text[opening : closing + 1]
            if candidate in self._mapping:
                pieces.append(self._mapping[candidate])
                position = closing + 1
            else:
                pieces.append("[")
                position = opening + 1
        pieces.append(text[position:])
        return "".join(pieces)

    def finish(self) -> str:
        rest, self._pending = self._pending, ""
        return rest


@dataclass(frozen=True, slots=True)
class PolicyResult:
    """What to send to the model, and what was found (kinds and counts only) for the audit log."""

    texts: list[str]
    found: Counter[str]
    mapping: dict[str, str] = field(default_factory=dict)

    def unmasker(self) -> Unmasker:
        return Unmasker(self.mapping)


def apply_policy(
    policy: Literal["mask", "block", "allow"], detector: PiiDetector, texts: Sequence[str]
) -> PolicyResult:
    """Apply a key's PII policy to the texts of one request (e.g. the contents of its messages).

    Raises :class:`~deepfort.errors.SensitiveInputError` under ``block`` when anything is found; its
    message names the kinds and counts, never the values.
    """
    if policy == "mask":
        masker = Masker(detector)
        masked = [masker.mask(text) for text in texts]
        return PolicyResult(masked, masker.found, masker.mapping)
    found: Counter[str] = Counter(detection.kind for text in texts for detection in detector.detect(text))
    if policy == "block" and found:
        raise SensitiveInputError(
            f"the input contains personal data ({describe(found)}); this key's policy blocks it",
            param="messages",
        )
    return PolicyResult(list(texts), found)
