"""Composing shots into an H.264 MP4.

Timing: shot i is shown for d_i = max(narration length, requested duration), rounded up to whole frames.
Crossfades would shorten the film by their overlap, so every clip but the last is padded by the crossfade
length X and fade i starts at d_0 + ... + d_i: the film then lasts exactly sum(d_i), each narration starts
where its shot's fade ends, and subtitle cue i spans [d_0 + ... + d_{i-1}, + d_i).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deepfort.aigc.video.ffmpeg import has_filter, run_ffmpeg
from deepfort.aigc.video.srt import Cue, write_srt

SAMPLE_RATE = 44100


@dataclass(frozen=True)
class Clip:
    image: Path
    audio: Path | None
    audio_duration: float
    duration: float
    """The shot's requested length; the narration's length wins when longer."""
    text: str


@dataclass(frozen=True)
class Composition:
    video: Path
    srt: str
    durations: list[float]
    subtitles_burned: bool

    @property
    def duration(self) -> float:
        return sum(self.durations)


def plan_durations(clips: list[Clip], fps: int) -> list[float]:
    return [math.ceil(max(c.audio_duration, c.duration, 1 / fps) * fps - 1e-6) / fps for c in clips]


def _video_filters(
    clips: list[Clip], durations: list[float], fade: float, size: tuple[int, int], fps: int, final: str
) -> list[str]:
    """Per-clip pan, the crossfade chain, then `final` (a filter that yields `[vout]`)."""
    width, height = size
    zoom_w, zoom_h = 2 * math.ceil(width * 0.56), 2 * math.ceil(height * 0.56)  # 12% larger, even sizes
    filters = []
    for i, length in enumerate(durations):
        span = length + (fade if i < len(clips) - 1 else 0)
        # Alternate the pan direction per shot: left-to-right, then right-to-left.
        x = f"(iw-ow)*t/{span:.6f}" if i % 2 == 0 else f"(iw-ow)*(1-t/{span:.6f})"
        filters.append(
            f"[{i}:v]scale={zoom_w}:{zoom_h},crop={width}:{height}:x='{x}':y='(ih-oh)*t/{span:.6f}',"
            f"fps={fps},format=yuv420p,setsar=1,settb=AVTB,trim=duration={span:.6f},setpts=PTS-STARTPTS[v{i}]"
        )
    last = "v0"
    offset = 0.0
    for i in range(1, len(clips)):
        offset += durations[i - 1]
        filters.append(f"[{last}][v{i}]xfade=transition=fade:duration={fade:.6f}:offset={offset:.6f}[x{i}]")
        last = f"x{i}"
    filters.append(f"[{last}]{final}[vout]")
    return filters


def _audio_filters(clips: list[Clip], durations: list[float]) -> list[str]:
    filters = []
    n = len(clips)
    for i, length in enumerate(durations):
        filters.append(
            f"[{n + i}:a]aresample={SAMPLE_RATE},aformat=sample_rates={SAMPLE_RATE}:channel_layouts=mono,"
            f"apad,atrim=duration={length:.6f},asetpts=N/SR/TB[a{i}]"
        )
    filters.append("".join(f"[a{i}]" for i in range(n)) + f"concat=n={n}:v=0:a=1[aout]")
    return filters


async def compose(
    ffmpeg: str,
    clips: list[Clip],
    workdir: Path,
    *,
    width: int = 1280,
    height: int = 720,
    fps: int = 25,
    crossfade: float = 0.5,
    burn_subtitles: bool = True,
    on_seconds: Callable[[float], None] | None = None,
) -> Composition:
    """Render `clips` to `workdir/video.mp4` (H.264 + AAC, faststart) and their subtitles."""
    if not clips:
        raise ValueError("a video needs at least one shot")
    durations = plan_durations(clips, fps)
    fade = math.floor(min(crossfade, min(durations) / 2) * fps) / fps if len(clips) > 1 else 0.0
    starts = [sum(durations[:i]) for i in range(len(clips))]
    srt = write_srt([Cue(s, s + d, c.text) for s, d, c in zip(starts, durations, clips, strict=True)])
    (workdir / "subtitles.srt").write_text(srt, encoding="utf-8")

    inputs: list[str] = []
    for i, (clip, length) in enumerate(zip(clips, durations, strict=True)):
        span = length + (fade if i < len(clips) - 1 else 0)
        inputs += ["-loop", "1", "-framerate", str(fps), "-t", f"{span:.6f}", "-i", str(clip.image)]
    for clip in clips:
        if clip.audio is None:
            inputs += ["-f", "lavfi", "-t", "0.1", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=mono"]
        else:
            inputs += ["-i", str(clip.audio)]

    burned = burn_subtitles and await has_filter(ffmpeg, "subtitles")
    final = "null"
    if burned:
        # libass sizes are relative to a 288-line script; ffmpeg runs in workdir, so no path escaping.
        style = "FontName=WenQuanYi Micro Hei,FontSize=16,Outline=1,MarginV=12"
        final = f"subtitles=filename=subtitles.srt:force_style='{style}'"
    filters = _video_filters(clips, durations, fade, (width, height), fps, final)
    filters += _audio_filters(clips, durations)
    total = sum(durations)
    out = workdir / "video.mp4"
    args = [
        *inputs,
        "-filter_complex",
        ";".join(filters),
        "-map",
        "[vout]",
        "-map",
        "[aout]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-r",
        str(fps),
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-t",
        f"{total:.6f}",
        "-movflags",
        "+faststart",
        out.name,
    ]
    await run_ffmpeg(ffmpeg, args, workdir, on_seconds)
    return Composition(video=out, srt=srt, durations=durations, subtitles_burned=burned)
