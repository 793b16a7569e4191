"""The video node end to end through the executor: per-shot card + narration -> MP4 + SRT, checked by
reading the file back with ffmpeg."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from deepfort.aigc.video import find_ffmpeg, parse_srt, probe
from deepfort.aigc.video.srt import Cue, write_srt
from deepfort.aigc.workflow.executor import Executor
from tests.aigc.media_fakes import media_registry
from tests.aigc.scripted import run_to_end, version
from tests.aigc.test_executor import arun

FPS = 25

SHOTS_TO_VIDEO = """
    name: shots-to-video
    inputs: {shots: {type: list}, burn: {type: boolean, default: true}}
    nodes:
      - id: each
        type: iterate
        params:
          over: "{{ inputs.shots }}"
          parallel: 2
          body:
            nodes:
              - id: card
                type: image
                params: {shot: "{{ item }}", index: "{{ index }}", width: 320, height: 180}
              - {id: voice, type: tts, params: {text: "{{ item.narration }}"}}
          collect: >-
            {{ {"image": nodes.card.path, "audio": nodes.voice.path, "audio_duration": nodes.voice.duration,
                "duration": item.duration, "narration": item.narration} }}
      - id: film
        type: video
        params:
          shots: "{{ nodes.each.results }}"
          width: 320
          height: 180
          fps: 25
          crossfade: 0.4
          burn_subtitles: "{{ inputs.burn }}"
    edges: [each -> film]
    outputs: {video: "{{ nodes.film.video_path }}", srt: "{{ nodes.film.srt_path }}"}
"""

SHOTS: list[dict[str, Any]] = [
    {
        "scene": "Harbour",
        "visual_prompt": "boats at dawn",
        "narration": "The boats leave at dawn.",
        "duration": 1.0,
    },
    {"scene": "海上", "visual_prompt": "风浪中的渔船", "narration": "风浪越来越大。", "duration": 6.0},
    {
        "scene": "Home",
        "visual_prompt": "lights in the windows",
        "narration": "Everyone is home.",
        "duration": 0,
    },
]


@pytest.mark.e2e
@pytest.mark.parametrize("burn", [True, False])
def test_shots_become_a_narrated_video_with_subtitles(tmp_path: Path, burn: bool) -> None:
    async def body() -> None:
        registry = media_registry(tmp_path)
        _, result = await run_to_end(
            Executor(registry), version(SHOTS_TO_VIDEO, registry), {"shots": SHOTS, "burn": burn}
        )
        assert result.status == "succeeded", result.error
        film = result.nodes["film"]
        narration = [item["audio_duration"] for item in result.nodes["each"]["results"]]
        durations = film["durations"]
        # Each shot lasts its narration or its requested duration, whichever is longer (to a frame).
        for shown, spoken, shot in zip(durations, narration, SHOTS, strict=True):
            assert max(spoken, shot["duration"]) <= shown < max(spoken, shot["duration"]) + 1 / FPS
        assert durations[1] == pytest.approx(6.0) and film["subtitles_burned"] is burn

        info = await probe(find_ffmpeg(), Path(result.outputs["video"]))
        assert info.video_codecs == ["h264"] and info.audio_codecs == ["aac"]
        assert abs(info.duration - sum(durations)) <= 1 / FPS

        srt = await asyncio.to_thread(Path(result.outputs["srt"]).read_text, encoding="utf-8")
        cues = parse_srt(srt)
        assert [cue.text for cue in cues] == [shot["narration"] for shot in SHOTS]
        starts = [sum(durations[:i]) for i in range(len(SHOTS))]
        assert [cue.start for cue in cues] == pytest.approx(starts, abs=1e-3)
        assert [cue.end - cue.start for cue in cues] == pytest.approx(durations, abs=1e-3)

    arun(body)


@pytest.mark.e2e
def test_faststart_puts_the_index_before_the_media(tmp_path: Path) -> None:
    async def body() -> None:
        registry = media_registry(tmp_path)
        _, result = await run_to_end(
            Executor(registry), version(SHOTS_TO_VIDEO, registry), {"shots": SHOTS[:1], "burn": False}
        )
        assert result.status == "succeeded", result.error
        data = await asyncio.to_thread(Path(result.outputs["video"]).read_bytes)
        assert 0 < data.find(b"moov") < data.find(b"mdat")

    arun(body)


def test_srt_round_trips() -> None:
    cues = [Cue(0.0, 1.24, "one"), Cue(1.24, 3661.5, "两\nlines")]
    assert parse_srt(write_srt(cues)) == cues


@pytest.mark.e2e
def test_probe_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="duration"):
        asyncio.run(probe(find_ffmpeg(), tmp_path / "absent.mp4"))
