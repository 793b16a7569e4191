"""What the media nodes (llm, storyboard, http, image, tts, video) reach outside the executor for.

A node class is its own factory: the executor builds each node as ``cls(services)`` with the services its
:class:`~deepfort.aigc.workflow.nodes.NodeRegistry` holds, so one class serves every node of a process:

    registry = default_registry(MediaServices(artefacts=..., chat=ServingChat(pipeline)))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from deepfort.aigc.image.registry import ImageBackendRegistry
from deepfort.errors import ConfigError

if TYPE_CHECKING:
    from deepfort.aigc.tts.base import Voice


class ArtefactStore(Protocol):
    """Where nodes keep the files they produce (images, speech, video, subtitles)."""

    def put(self, data: bytes, mime: str, *, run_id: str, node_id: str) -> tuple[str, Path]:
        """Store `data` made by `node_id` of `run_id` (the run's key may fetch it); returns the artefact id
        and the path of a file holding it (kept after the run)."""


class ChatFunction(Protocol):
    """One chat completion, answered as text. `json_schema` asks for structured output."""

    async def __call__(
        self,
        messages: Sequence[Mapping[str, str]],
        model: str | None = None,
        json_schema: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> str: ...


@dataclass
class MediaServices:
    """What the media nodes reach outside the executor for. `chat` None makes llm/storyboard nodes fail
    with a clear error (storyboard then falls back to sentence splitting); `voice` None uses espeak-ng.
    `http_allowed_hosts` empty keeps the http node off."""

    artefacts: ArtefactStore
    chat: ChatFunction | None = None
    voice: Voice | None = None
    image_backends: ImageBackendRegistry = field(default_factory=ImageBackendRegistry)
    http_allowed_hosts: frozenset[str] = frozenset()
    http_timeout_s: float = 10.0
    ffmpeg: str | None = None
    """Path of the ffmpeg binary; None finds imageio-ffmpeg's, then one on PATH."""
    default_model: str | None = None

    def require_chat(self) -> ChatFunction:
        if self.chat is None:
            raise ConfigError("no chat service is configured for workflow llm nodes")
        return self.chat

    def require_voice(self) -> Voice:
        if self.voice is None:
            from deepfort.aigc.tts.espeak import EspeakVoice

            self.voice = EspeakVoice()
        return self.voice
