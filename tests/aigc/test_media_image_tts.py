"""The image (cards backend) and tts (espeak-ng) nodes, run through the real executor."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from PIL import Image

from deepfort.aigc.image import ShotCard, UnknownImageBackendError, default_image_backends
from deepfort.aigc.image.cards import CardsBackend, palette, wrap
from deepfort.aigc.image.fonts import cjk_font_path, load_font
from deepfort.aigc.tts import detect_language
from deepfort.aigc.workflow.executor import Executor
from tests.aigc.media_fakes import media_registry
from tests.aigc.scripted import run_to_end, version
from tests.aigc.test_executor import arun

CARD_AND_VOICE = """
    name: card
    inputs: {scene: {type: string}, narration: {type: string}}
    nodes:
      - id: card
        type: image
        params:
          shot:
            scene: "{{ inputs.scene }}"
            visual_prompt: "a quiet harbour at dawn"
            narration: "{{ inputs.narration }}"
          index: 2
          width: 320
          height: 180
      - {id: voice, type: tts, params: {text: "{{ inputs.narration }}"}}
    outputs:
      image: "{{ nodes.card.path }}"
      audio: "{{ nodes.voice.path }}"
      seconds: "{{ nodes.voice.duration }}"
"""


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("scene", "narration", "language"),
    [
        ("Harbour", "The boats come home before the storm.", "en"),
        ("港口", "风暴来临之前，渔船陆续回港。", "zh"),
    ],
)
def test_card_and_narration_become_artefacts(
    tmp_path: Path, scene: str, narration: str, language: str
) -> None:
    async def body() -> None:
        registry = media_registry(tmp_path)
        _, result = await run_to_end(
            Executor(registry), version(CARD_AND_VOICE, registry), {"scene": scene, "narration": narration}
        )
        assert result.status == "succeeded", result.error
        with Image.open(result.outputs["image"]) as image:
            assert image.format == "PNG" and image.size == (320, 180)
        with wave.open(result.outputs["audio"]) as wav:
            measured = wav.getnframes() / wav.getframerate()
        assert result.outputs["seconds"] == pytest.approx(measured) and measured > 0.5
        assert result.nodes["voice"]["language"] == language

    arun(body)


def test_a_shot_without_narration_gets_silence_not_a_failure(tmp_path: Path) -> None:
    async def body() -> None:
        registry = media_registry(tmp_path)
        wf = version(CARD_AND_VOICE, registry)
        _, result = await run_to_end(Executor(registry), wf, {"scene": "Harbour", "narration": " "})
        assert result.status == "succeeded", result.error
        with wave.open(result.outputs["audio"]) as wav:
            frames = wav.readframes(wav.getnframes())
            assert wav.getnframes() / wav.getframerate() == pytest.approx(result.outputs["seconds"])
        assert result.outputs["seconds"] > 0 and not any(frames)

    arun(body)


def test_cjk_text_draws_glyphs_not_boxes() -> None:
    if cjk_font_path() is None:
        pytest.fail("no CJK font installed: run `make tools` (fonts-wqy-microhei)")
    font = load_font(32)
    # A missing glyph renders as the same .notdef box for every character; real glyphs differ.
    masks = [bytes(font.getmask(ch)) for ch in "港口渔船"]
    assert len(set(masks)) == 4 and all(any(mask) for mask in masks)


def test_cards_differ_by_text_and_repeat_for_the_same_text() -> None:
    backend = CardsBackend()
    one = ShotCard(0, "Dawn", "a harbour", "Boats leave.")
    other = ShotCard(1, "Night", "a city", "Lights go on.")
    assert backend.render(one, 160, 90) == backend.render(one, 160, 90)
    assert backend.render(one, 160, 90) != backend.render(other, 160, 90)
    assert palette("a") != palette("b")


def test_wrap_breaks_latin_between_words_and_cjk_anywhere() -> None:
    font = load_font(20)
    latin = wrap("the quick brown fox jumps over the lazy dog", font, 120)
    assert len(latin) > 1 and " ".join(latin) == "the quick brown fox jumps over the lazy dog"
    cjk = wrap("风暴来临之前渔船陆续回港" * 3, font, 120)
    assert len(cjk) > 1 and "".join(cjk) == "风暴来临之前渔船陆续回港" * 3


def test_unknown_backend_lists_known_ones() -> None:
    with pytest.raises(UnknownImageBackendError, match="known: cards"):
        default_image_backends().get("diffusion")


@pytest.mark.parametrize(
    ("text", "language"),
    [("Hello there.", "en"), ("你好，世界。", "zh"), ("用 Python 写代码", "zh"), ("", "en")],
)
def test_language_is_picked_by_the_text(text: str, language: str) -> None:
    assert detect_language(text) == language
