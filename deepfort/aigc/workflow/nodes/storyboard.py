"""`storyboard`: split a text into shots {scene, narration, visual_prompt, duration} with an LLM.

The model's JSON is repaired when it is almost right (code fences, prose around it, trailing commas, a
bare list of shots), the model is asked again when it is not, and after the last attempt the text is
split into sentences, one shot each, so the node always yields a storyboard.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar

from deepfort.aigc.workflow.nodes.base import NodeContext, NodeResult, Param
from deepfort.aigc.workflow.nodes.media import MediaNode
from deepfort.aigc.workflow.spec import ValueType
from deepfort.errors import DeepfortError

log = logging.getLogger(__name__)

# Each text field is bounded: a small model left an unbounded string can loop inside it until max_tokens
# cuts the answer, and no repair closes JSON cut mid-string.
FIELD_CHARS = {"scene": 48, "narration": 80, "visual_prompt": 80}


def shots_schema(max_shots: int) -> dict[str, Any]:
    """The JSON schema the model answers in (the grammar holds it to at most ``max_shots`` shots)."""
    fields: dict[str, Any] = {name: {"type": "string", "maxLength": n} for name, n in FIELD_CHARS.items()}
    return {
        "type": "object",
        "properties": {
            "shots": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_shots,
                "items": {
                    "type": "object",
                    "properties": {**fields, "duration": {"type": "number"}},
                    "required": ["scene", "narration", "visual_prompt", "duration"],
                },
            }
        },
        "required": ["shots"],
    }


SYSTEM = (
    "You are a storyboard artist. Split the user's text into shots for a short narrated video. Answer "
    'only with JSON: {"shots": [{"scene": short title, "narration": the words spoken over the shot, '
    '"visual_prompt": what the picture shows, "duration": seconds}]}. Write in the language of the text.'
)

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_SENTENCE = re.compile(r"[^。！？!?.\n]+[。！？!?.]*")


def _candidates(text: str) -> list[str]:
    found = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            found.append(text[start : end + 1])
    return found


def repair_json(text: str) -> Any:
    """Parse `text` as JSON, or the JSON inside it after light repairs; raise ValueError if none."""
    for candidate in _candidates(text.strip()):
        for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                return json.loads(attempt)
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON found in the answer")


def _seconds(value: Any, narration: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 60:
        return float(value)
    return estimate_seconds(narration)


def estimate_seconds(narration: str) -> float:
    """About 4 CJK characters or 2.5 words a second, at least 2 seconds."""
    cjk = len(re.findall(r"[\u3400-\u9fff]", narration))
    words = len(re.findall(r"[A-Za-z0-9']+", narration))
    return round(max(2.0, cjk / 4 + words / 2.5), 2)


def normalise(data: Any) -> list[dict[str, Any]]:
    """The shots in a parsed answer, with every field present and typed; raise ValueError if unusable."""
    raw = data.get("shots") if isinstance(data, dict) else data
    if not isinstance(raw, list):
        raise ValueError("the answer has no `shots` list")
    shots: list[dict[str, Any]] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        narration = str(item.get("narration") or "").strip()
        visual = str(item.get("visual_prompt") or item.get("visual") or "").strip()
        if not narration and not visual:
            continue
        shots.append(
            {
                "scene": str(item.get("scene") or f"Shot {len(shots) + 1}").strip(),
                "narration": narration,
                "visual_prompt": visual or narration,
                "duration": _seconds(item.get("duration"), narration),
            }
        )
    if not shots:
        raise ValueError("the answer's `shots` list has no usable shot")
    return shots


def sentence_shots(text: str, max_shots: int) -> list[dict[str, Any]]:
    """The fallback storyboard: one shot per sentence (the last shot takes any remainder)."""
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()] or [text.strip() or "…"]
    if len(sentences) > max_shots:
        sentences = [*sentences[: max_shots - 1], " ".join(sentences[max_shots - 1 :])]
    return [
        {
            "scene": f"Shot {i + 1}",
            "narration": sentence,
            "visual_prompt": sentence,
            "duration": estimate_seconds(sentence),
        }
        for i, sentence in enumerate(sentences)
    ]


class StoryboardNode(MediaNode):
    """Params: `text`, `max_shots` (default 6), `attempts` (model calls before the fallback, default 2),
    `model`, `max_tokens`. Output: `shots` ([{scene, narration, visual_prompt, duration}]), `source`
    (`model`, `repaired` or `fallback`), `attempts`."""

    type_name = "storyboard"
    params_schema: ClassVar[Mapping[str, Param]] = {
        "text": Param("string", required=True),
        "max_shots": Param("integer", default=6),
        "attempts": Param("integer", default=2),
        "model": Param("string"),
        "max_tokens": Param("integer", default=768),
    }
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = {
        "shots": "list",
        "source": "string",
        "attempts": "integer",
    }

    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
        text = str(params["text"])
        max_shots = max(int(params["max_shots"]), 1)
        attempts = max(int(params["attempts"]), 0)
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"At most {max_shots} shots.\n\n{text}"},
        ]
        chat = self.svc.chat
        for attempt in range(1, attempts + 1 if chat is not None else 1):
            assert chat is not None
            ctx.progress(attempt - 1, attempts)
            try:
                answer = await chat(
                    messages,
                    model=params.get("model") or self.svc.default_model,
                    json_schema=shots_schema(max_shots),
                    max_tokens=int(params["max_tokens"]),
                )
            except DeepfortError as exc:
                log.warning("storyboard model call %d failed: %s", attempt, exc)
                continue
            try:
                strict = True
                try:
                    data = json.loads(answer)
                except json.JSONDecodeError:
                    strict, data = False, repair_json(answer)
                shots = normalise(data)[:max_shots]
            except ValueError as exc:
                log.warning("storyboard answer %d unusable: %s", attempt, exc)
                continue
            return NodeResult(
                {"shots": shots, "source": "model" if strict else "repaired", "attempts": attempt}
            )
        return NodeResult(
            {
                "shots": sentence_shots(text, max_shots),
                "source": "fallback",
                "attempts": attempts if chat else 0,
            }
        )
