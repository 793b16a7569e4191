"""The built-in text-to-video template end to end on a real server with the embedded model: storyboard
from the model (the llm path: the chat is asked with the shots' JSON schema, so the grammar keeps the
answer parseable), a card and a narration per shot, then an MP4 with video and audio streams and an SRT
with one cue per shot."""

from __future__ import annotations

import asyncio
from importlib.resources import files
from pathlib import Path

import httpx
import pytest

from deepfort.aigc.video import find_ffmpeg, parse_srt, probe
from tests.conftest import start_server, stop_server

TEXT = "清晨，工厂的机器开始运转。工人们检查每一条生产线。傍晚，最后一批产品装箱发货。"


@pytest.mark.e2e
def test_text_to_video_on_the_embedded_model(tmp_path: Path) -> None:
    config: dict[str, object] = {"models": [{"id": "smollm2-135m", "n_ctx": 2048, "n_parallel": 1}]}
    server = start_server(config, tmp_path)
    try:
        definition = files("deepfort.aigc.workflow").joinpath("templates/text-to-video.yaml").read_text()
        created = httpx.post(f"{server.v1}/workflows", json={"definition": definition}, timeout=60)
        assert created.status_code in (200, 201), created.text
        run = httpx.post(
            f"{server.v1}/workflows/{created.json()['id']}/runs",
            json={"mode": "blocking", "inputs": {"text": TEXT, "max_shots": 3, "width": 640, "height": 360}},
            timeout=900,
        )
        assert run.status_code == 200, run.text
        nodes = httpx.get(f"{server.v1}/runs/{run.json()['id']}", timeout=60).json()["nodes"]
    finally:
        stop_server(server)
    record = run.json()
    assert record["status"] == "succeeded", record
    outputs = record["outputs"]
    shots = outputs["shots"]
    assert 1 <= len(shots) <= 3
    # The shots came from the model's answer, not from the sentence-split fallback.
    storyboard = nodes["storyboard"]
    assert storyboard["source"] in ("model", "repaired"), storyboard
    assert storyboard["shots"] == shots
    info = asyncio.run(probe(find_ffmpeg(), Path(outputs["video_path"])))
    assert info.video_codecs and info.audio_codecs
    frame = 1 / 25
    assert abs(info.duration - outputs["duration"]) <= frame
    cues = parse_srt(Path(outputs["srt_path"]).read_text(encoding="utf-8"))
    assert len(cues) == len(shots)
    assert [cue.start for cue in cues] == sorted(cue.start for cue in cues)
