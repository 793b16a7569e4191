"""`image`: draw one storyboard shot with an image backend and keep it as a PNG artefact."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from deepfort.aigc.image.base import ShotCard
from deepfort.aigc.workflow.nodes.base import NodeContext, NodeResult, Param
from deepfort.aigc.workflow.nodes.media import MediaNode
from deepfort.aigc.workflow.spec import NodeSpec, ValueType


class ImageNode(MediaNode):
    """Params: `shot` ({scene, visual_prompt, narration}), `index` (shot position, from 0), `backend`
    (default `cards`), `width`, `height`. Output: `artefact_id`, `path`, `mime`, `width`, `height`."""

    type_name = "image"
    heavy = True
    params_schema: ClassVar[Mapping[str, Param]] = {
        "shot": Param("object", required=True),
        "index": Param("integer", default=0),
        "backend": Param("string", default="cards"),
        "width": Param("integer", default=1280),
        "height": Param("integer", default=720),
    }
    outputs_schema: ClassVar[Mapping[str, ValueType] | None] = {
        "artefact_id": "string",
        "path": "string",
        "mime": "string",
        "width": "integer",
        "height": "integer",
    }

    @classmethod
    def check(cls, spec: NodeSpec) -> list[str]:
        problems = []
        for name in ("width", "height"):
            value = spec.params.get(name)
            if isinstance(value, int) and not 16 <= value <= 4096:
                problems.append(f"param {name!r} must be between 16 and 4096")
        return problems

    async def run(self, params: Mapping[str, Any], ctx: NodeContext) -> NodeResult:
        shot: Mapping[str, Any] = params["shot"]
        card = ShotCard(
            index=int(params.get("index") or 0),
            scene=str(shot.get("scene") or ""),
            visual_prompt=str(shot.get("visual_prompt") or ""),
            narration=str(shot.get("narration") or ""),
        )
        width, height = int(params["width"]), int(params["height"])
        backend = self.svc.image_backends.get(str(params["backend"]))
        png = await asyncio.to_thread(backend.render, card, width, height)
        artefact_id, path = await asyncio.to_thread(
            self.svc.artefacts.put, png, "image/png", run_id=ctx.run_id, node_id=ctx.node_id
        )
        return NodeResult(
            {
                "artefact_id": artefact_id,
                "path": str(path),
                "mime": "image/png",
                "width": width,
                "height": height,
            }
        )
