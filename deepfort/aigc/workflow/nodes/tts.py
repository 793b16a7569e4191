"""`tts`: speak a text with the configured voice (espeak-ng by default) and keep the WAV as an artefact."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from deepfort.aigc.tts.base import Language, silence
from deepfort.aigc.workflow.nodes.base import NodeContext, NodeResult, Param
from deepfort.aigc.workflow.nodes.media import MediaNode
from deepfort.aigc.workflow.spec import NodeSpec, ValueType

LANGUAGES: dict[str, Language | None] = {"auto": None, "zh": "zh", "en": "en"}
SILENT_S = 0.5


class TtsNode(MediaNode):
    """Params: `text`, `language` (`auto` | `zh` | `en`; auto picks by the text). Output: `artefact_id`,
    `path`, `mime`, `duration` (seconds, measured from the WAV), `language`."""

    type_name = "tts"
    params_schema: ClassVar[Mapping[str, Param]] = {
        "text": Param("string", required=True),
        "language": Param("string", default="auto"),
    }
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = {
        "artefact_id": "string",
        "path": "string",
        "mime": "string",
        "duration": "number",
        "language": "string",
    }

    @classmethod
    def check(cls, spec: NodeSpec) -> list[str]:
        language = spec.params.get("language", "auto")
        if isinstance(language, str) and "{{" not in language and language not in LANGUAGES:
            return [f"param 'language' must be one of {', '.join(LANGUAGES)}"]
        return []

    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
        language = LANGUAGES[str(params["language"])]
        text = str(params["text"])
        if text.strip():
            speech = await self.svc.require_voice().speak(text, language)
        else:  # a shot the storyboard left without narration: a moment of silence, not a failure
            speech = silence(SILENT_S, language or "en")
        artefact_id, path = await asyncio.to_thread(
            self.svc.artefacts.put, speech.wav, "audio/wav", run_id=ctx.run_id, node_id=ctx.node_id
        )
        return NodeResult(
            {
                "artefact_id": artefact_id,
                "path": str(path),
                "mime": "audio/wav",
                "duration": speech.duration,
                "language": speech.language,
            }
        )
