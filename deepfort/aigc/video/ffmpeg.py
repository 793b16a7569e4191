"""Locating and running ffmpeg, and reading a file's streams from `ffmpeg -i` (imageio-ffmpeg ships no
ffprobe)."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from deepfort.errors import DeepfortError

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:\d+[^:]*: (Video|Audio): (\w+)")


class FfmpegError(DeepfortError):
    """ffmpeg is missing or failed."""


def find_ffmpeg(explicit: str | None = None) -> str:
    """`explicit`, else imageio-ffmpeg's pinned binary, else an ffmpeg on PATH."""
    if explicit:
        return explicit
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found is None:
            raise FfmpegError("no ffmpeg found: install imageio-ffmpeg or Debian's ffmpeg") from None
        return found


async def has_filter(ffmpeg: str, name: str) -> bool:
    proc = await asyncio.create_subprocess_exec(
        ffmpeg, "-hide_banner", "-filters", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await proc.communicate()
    return any(line.split()[1:2] == [name] for line in out.decode(errors="replace").splitlines())


async def run_ffmpeg(
    ffmpeg: str, args: Sequence[str], cwd: Path, on_seconds: Callable[[float], None] | None = None
) -> None:
    """Run ffmpeg with `-progress` on stdout, reporting encoded seconds; raise with its stderr tail."""
    proc = await asyncio.create_subprocess_exec(
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-y",
        "-progress",
        "pipe:1",
        "-nostats",
        *args,
        cwd=str(cwd),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    err_task = asyncio.create_task(proc.stderr.read())
    try:
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if on_seconds is not None and line.startswith("out_time_us=") and line[12:].isdigit():
                on_seconds(int(line[12:]) / 1e6)
        await proc.wait()
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        err_task.cancel()
        raise
    err = await err_task
    if proc.returncode != 0:
        raise FfmpegError(f"ffmpeg failed ({proc.returncode}): {err.decode(errors='replace')[-800:]}")


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    video_codecs: list[str]
    audio_codecs: list[str]


async def probe(ffmpeg: str, path: Path) -> MediaInfo:
    proc = await asyncio.create_subprocess_exec(
        ffmpeg,
        "-hide_banner",
        "-i",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    text = err.decode(errors="replace")
    match = _DURATION.search(text)
    if match is None:
        raise FfmpegError(f"cannot read the duration of {path}: {text[-400:]}")
    hours, minutes, seconds = match.groups()
    streams = _STREAM.findall(text)
    return MediaInfo(
        duration=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        video_codecs=[codec for kind, codec in streams if kind == "Video"],
        audio_codecs=[codec for kind, codec in streams if kind == "Audio"],
    )
