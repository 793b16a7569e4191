"""Video composition with ffmpeg: stills with a slow pan, crossfades, a narration track and subtitles."""

from __future__ import annotations

from deepfort.aigc.video.compose import Clip, Composition, compose, plan_durations
from deepfort.aigc.video.ffmpeg import FfmpegError, MediaInfo, find_ffmpeg, probe
from deepfort.aigc.video.srt import Cue, parse_srt, write_srt

__all__ = [
    "Clip",
    "Composition",
    "Cue",
    "FfmpegError",
    "MediaInfo",
    "compose",
    "find_ffmpeg",
    "parse_srt",
    "plan_durations",
    "probe",
    "write_srt",
]
