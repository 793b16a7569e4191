"""espeak-ng (Debian package `espeak-ng`, installed by `make tools`): robotic but local, zh and en."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from deepfort.aigc.tts.base import Language, Speech, SpeechError, detect_language, wav_duration

VOICES: dict[Language, str] = {"zh": "cmn", "en": "en"}


class EspeakVoice:
    def __init__(self, executable: str | None = None, words_per_minute: int = 160) -> None:
        self.executable = executable or shutil.which("espeak-ng")
        self.words_per_minute = words_per_minute

    async def speak(self, text: str, language: Language | None = None) -> Speech:
        if self.executable is None:
            raise SpeechError("espeak-ng is not installed (run `make tools`)")
        language = language or detect_language(text)
        with tempfile.TemporaryDirectory(prefix="deepfort-tts-") as tmp:
            out = Path(tmp) / "speech.wav"
            proc = await asyncio.create_subprocess_exec(
                self.executable,
                "-v",
                VOICES[language],
                "-s",
                str(self.words_per_minute),
                "-w",
                str(out),
                "--stdin",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                _, err = await proc.communicate(text.encode("utf-8"))
            except asyncio.CancelledError:
                proc.kill()
                await proc.wait()
                raise
            if proc.returncode != 0 or not out.is_file():
                raise SpeechError(
                    f"espeak-ng failed ({proc.returncode}): {err.decode(errors='replace')[-300:]}"
                )
            data = out.read_bytes()
        return Speech(wav=data, duration=wav_duration(data), language=language)
