"""The storyboard node's repair, retry and fallback (scripted chat answers), the llm and http nodes, and
the text-to-video template end to end."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from deepfort.aigc.video import find_ffmpeg, parse_srt, probe
from deepfort.aigc.workflow.executor import Executor
from tests.aigc.media_fakes import media_registry
from tests.aigc.scripted import run_to_end, version
from tests.aigc.test_executor import arun

GOOD = {
    "shots": [{"scene": "Dawn", "narration": "Boats leave.", "visual_prompt": "a harbour", "duration": 2}]
}


class ScriptedChat:
    """Answers from a list, in order; records what it was asked."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[Mapping[str, Any] | None] = []

    async def __call__(
        self,
        messages: Sequence[Mapping[str, str]],
        model: str | None = None,
        json_schema: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> str:
        self.calls.append(json_schema)
        return self.answers.pop(0)


STORYBOARD = """
    name: sb
    inputs: {text: {type: string}}
    nodes:
      - {id: sb, type: storyboard, params: {text: "{{ inputs.text }}", max_shots: 3}}
"""


@pytest.mark.parametrize(
    ("answers", "source", "attempts"),
    [
        ([json.dumps(GOOD)], "model", 1),
        (["```json\n" + json.dumps(GOOD) + "\n```"], "repaired", 1),
        (["Sure! Here it is: " + json.dumps(GOOD)[:-2] + ",]}"], "repaired", 1),
        ([json.dumps(GOOD["shots"])], "model", 1),  # a bare list of shots is accepted
        (["I cannot do that", json.dumps(GOOD)], "model", 2),
        (['{"shots": []}', "{not json"], "fallback", 2),
    ],
)
def test_storyboard_repairs_retries_then_falls_back(
    tmp_path: Path, answers: list[str], source: str, attempts: int
) -> None:
    async def body() -> None:
        chat = ScriptedChat(answers)
        registry = media_registry(tmp_path, chat=chat)
        text = "The boats leave at dawn. The storm comes! Everyone is home."
        _, result = await run_to_end(Executor(registry), version(STORYBOARD, registry), {"text": text})
        assert result.status == "succeeded", result.error
        out = result.nodes["sb"]
        assert (out["source"], out["attempts"]) == (source, attempts)
        # The grammar holds the answer to max_shots shots of bounded text (it closes before max_tokens).
        for schema in chat.calls:
            assert schema is not None
            shots = schema["properties"]["shots"]
            assert shots["maxItems"] == 3
            assert all(
                "maxLength" in field
                for field in shots["items"]["properties"].values()
                if field["type"] == "string"
            )
        if source == "fallback":
            assert [shot["narration"] for shot in out["shots"]] == [
                "The boats leave at dawn.",
                "The storm comes!",
                "Everyone is home.",
            ]
        else:
            assert out["shots"] == [GOOD["shots"][0] | {"duration": 2.0}]
        assert all(set(shot) == {"scene", "narration", "visual_prompt", "duration"} for shot in out["shots"])

    arun(body)


def test_llm_node_parses_json_when_asked(tmp_path: Path) -> None:
    async def body() -> None:
        registry = media_registry(tmp_path, chat=ScriptedChat(['{"a": 1}']), default_model="m")
        doc = """
            name: ask
            nodes:
              - {id: ask, type: llm, params: {prompt: "hi", json_schema: {type: object}}}
        """
        _, result = await run_to_end(Executor(registry), version(doc, registry), {})
        assert result.nodes["ask"] == {"text": '{"a": 1}', "json": {"a": 1}}

    arun(body)


def test_http_is_off_unless_the_host_is_allowed(tmp_path: Path) -> None:
    async def body() -> None:
        registry = media_registry(tmp_path, http_allowed_hosts=frozenset({"allowed.example"}))
        doc = """
            name: fetch
            nodes:
              - {id: get, type: http, params: {url: "http://other.example/x"}}
        """
        _, result = await run_to_end(Executor(registry), version(doc, registry), {})
        assert result.status == "failed" and "allow-list" in str(result.error)

    arun(body)


@pytest.mark.e2e
def test_text_to_video_template_end_to_end(tmp_path: Path) -> None:
    """A model whose storyboard JSON is broken beyond repair: the run still makes a video."""

    async def body() -> None:
        chat = ScriptedChat(["{oops", "no json at all"])
        registry = media_registry(tmp_path, chat=chat)
        doc = resources.files("deepfort.aigc.workflow").joinpath("templates/text-to-video.yaml").read_text()
        text = "渔船在黎明出海。风暴突然来临！The boats come home."
        inputs = {"text": text, "width": 320, "height": 180}
        _, result = await run_to_end(Executor(registry), version(doc, registry), inputs)
        assert result.status == "succeeded", result.error
        shots = result.outputs["shots"]
        assert len(shots) == 3 and result.nodes["storyboard"]["source"] == "fallback"
        info = await probe(find_ffmpeg(), Path(result.outputs["video_path"]))
        assert info.video_codecs and info.audio_codecs
        assert abs(info.duration - result.outputs["duration"]) <= 1 / 25
        srt = Path(result.outputs["srt_path"]).read_text(encoding="utf-8")  # noqa: ASYNC240 - a tiny file
        assert [cue.text for cue in parse_srt(srt)] == [shot["narration"] for shot in shots]

    arun(body)
