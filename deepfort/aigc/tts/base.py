"""The voice contract: text in, a WAV out, with its measured duration."""

from __future__ import annotations

import io
import re
import wave
from dataclasses import dataclass
from typing import Literal, Protocol

from deepfort.errors import DeepfortError

Language = Literal["zh", "en"]
_CJK = re.compile(r"[\u3400-\u9fff]")


class SpeechError(DeepfortError):
    """The speech synthesiser failed or is missing."""


@dataclass(frozen=True)
class Speech:
    wav: bytes
    duration: float
    """Seconds, measured from the WAV header and frame count."""
    language: Language


class Voice(Protocol):
    """Speaks text as a WAV. Better voices (neural TTS) implement the same method."""

    async def speak(self, text: str, language: Language | None = None) -> Speech:
        """Synthesize `text`; `language` None means detect it from the text."""


def detect_language(text: str) -> Language:
    """Chinese when a fair share of the letters are CJK ideographs, else English."""
    letters = [ch for ch in text if ch.isalpha()]
    cjk = sum(1 for ch in letters if _CJK.match(ch))
    return "zh" if letters and cjk * 3 >= len(letters) else "en"


def silence(seconds: float, language: Language = "en", rate: int = 22050) -> Speech:
    """A mono 16-bit WAV of `seconds` of silence: what a shot without narration says."""
    frames = round(seconds * rate)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x00\x00" * frames)
    return Speech(out.getvalue(), frames / rate, language)


def wav_duration(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        frames: int = wav.getnframes()
        rate: int = wav.getframerate()
    return frames / rate
