"""Text to speech for the workflow `tts` node: a `Voice` protocol and the espeak-ng implementation."""

from __future__ import annotations

from deepfort.aigc.tts.base import Speech, SpeechError, Voice, detect_language, wav_duration
from deepfort.aigc.tts.espeak import EspeakVoice

__all__ = ["EspeakVoice", "Speech", "SpeechError", "Voice", "detect_language", "wav_duration"]
