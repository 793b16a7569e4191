"""`video`: compose the shots' images and narration into an MP4 with crossfades and subtitles."""

from __future__ import annotations

import asyncio
import functools
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from deepfort.aigc.video.compose import Clip, compose
from deepfort.aigc.video.ffmpeg import find_ffmpeg
from deepfort.aigc.workflow.nodes.base import NodeContext, NodeResult, Param
from deepfort.aigc.workflow.nodes.media import MediaNode
from deepfort.aigc.workflow.spec import NodeSpec, ValueType
from deepfort.errors import InvalidRequestError


def _clip(shot: Mapping[str, Any]) -> Clip:
    if not isinstance(shot, Mapping) or not shot.get("image"):
        raise InvalidRequestError(f"each shot needs an `image` path, got {shot!r}", param="shots")
    audio = shot.get("audio")
    return Clip(
        image=Path(str(shot["image"])),
        audio=Path(str(audio)) if audio else None,
        audio_duration=float(shot.get("audio_duration") or 0.0),
        duration=float(shot.get("duration") or 0.0),
        text=str(shot.get("narration") or ""),
    )


class VideoNode(MediaNode):
    """Params: `shots` ([{image, audio, audio_duration, duration, narration}]; null items, from failed
    iterate items, are left out), `width`, `height`, `fps`, `crossfade` (seconds), `burn_subtitles` (needs
    an ffmpeg with libass; the SRT is produced either way). Output: `video_id`, `video_path`, `srt_id`,
    `srt_path`, `duration`, `durations` (per shot), `subtitles_burned`."""

    type_name = "video"
    heavy = True
    params_schema: ClassVar[Mapping[str, Param]] = {
        "shots": Param("list", required=True),
        "width": Param("integer", default=1280),
        "height": Param("integer", default=720),
        "fps": Param("integer", default=25),
        "crossfade": Param("number", default=0.5),
        "burn_subtitles": Param("boolean", default=True),
    }
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = {
        "video_id": "string",
        "video_path": "string",
        "srt_id": "string",
        "srt_path": "string",
        "duration": "number",
        "durations": "list",
        "subtitles_burned": "boolean",
    }

    @classmethod
    def check(cls, spec: NodeSpec) -> list[str]:
        problems = []
        for name in ("width", "height"):
            value = spec.params.get(name)
            if isinstance(value, int) and (value % 2 or not 16 <= value <= 4096):
                problems.append(f"param {name!r} must be even and between 16 and 4096")
        fps = spec.params.get("fps")
        if isinstance(fps, int) and not 1 <= fps <= 60:
            problems.append("param 'fps' must be between 1 and 60")
        return problems

    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
        clips = [_clip(shot) for shot in params["shots"] if shot is not None]
        if not clips:
            raise InvalidRequestError("the video has no shots", param="shots")
        ffmpeg = find_ffmpeg(self.svc.ffmpeg)
        with tempfile.TemporaryDirectory(prefix="deepfort-video-") as tmp:
            expected = sum(max(c.audio_duration, c.duration) for c in clips)
            made = await compose(
                ffmpeg,
                clips,
                Path(tmp),
                width=int(params["width"]),
                height=int(params["height"]),
                fps=int(params["fps"]),
                crossfade=float(params["crossfade"]),
                burn_subtitles=bool(params["burn_subtitles"]),
                on_seconds=lambda seconds: ctx.progress(min(seconds, expected), expected),
            )
            data = made.video.read_bytes()
        put = functools.partial(self.svc.artefacts.put, run_id=ctx.run_id, node_id=ctx.node_id)
        video_id, video_path = await asyncio.to_thread(put, data, "video/mp4")
        srt_id, srt_path = await asyncio.to_thread(put, made.srt.encode("utf-8"), "application/x-subrip")
        return NodeResult(
            {
                "video_id": video_id,
                "video_path": str(video_path),
                "srt_id": srt_id,
                "srt_path": str(srt_path),
                "duration": made.duration,
                "durations": made.durations,
                "subtitles_burned": made.subtitles_burned,
            }
        )
