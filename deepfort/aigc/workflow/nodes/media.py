"""The media node types (llm, storyboard, http, image, tts, video) and the services they need.

Node classes are instantiated by the executor without arguments, so `register_media_nodes` binds a
`MediaServices` to each class by registering a subclass that carries it:

    services = MediaServices(artefacts=store.artefacts, chat=ServingChat(chat_service))
    register_media_nodes(registry, services)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from deepfort.aigc.image.base import ImageBackendRegistry, default_image_backends
from deepfort.aigc.workflow.nodes.base import Node
from deepfort.errors import ConfigError

if TYPE_CHECKING:
    from deepfort.aigc.tts.base import Voice
    from deepfort.aigc.workflow.nodes import NodeRegistry


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
    image_backends: ImageBackendRegistry = field(default_factory=default_image_backends)
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


class MediaNode(Node):
    """Base of the nodes that need `MediaServices`; the registered subclass sets `services`."""

    services: ClassVar[MediaServices]

    @property
    def svc(self) -> MediaServices:
        try:
            return type(self).services
        except AttributeError:
            raise ConfigError(
                f"node type {self.type_name!r} was not registered through register_media_nodes"
            ) from None


def media_node_classes() -> list[type[MediaNode]]:
    from deepfort.aigc.workflow.nodes.http import HttpNode
    from deepfort.aigc.workflow.nodes.image import ImageNode
    from deepfort.aigc.workflow.nodes.llm import LlmNode
    from deepfort.aigc.workflow.nodes.storyboard import StoryboardNode
    from deepfort.aigc.workflow.nodes.tts import TtsNode
    from deepfort.aigc.workflow.nodes.video import VideoNode

    return [LlmNode, StoryboardNode, HttpNode, ImageNode, TtsNode, VideoNode]


def register_media_nodes(registry: NodeRegistry, services: MediaServices) -> None:
    """Register every media node type on `registry`, bound to `services`."""
    for cls in media_node_classes():
        bound = type(cls.__name__, (cls,), {"services": services, "__module__": cls.__module__})
        registry.register(bound)


class _NoArtefacts:
    """For checking documents only: nothing runs, so nothing is stored."""

    def put(self, data: bytes, mime: str, *, run_id: str, node_id: str) -> tuple[str, Path]:
        raise RuntimeError("this registry only validates workflows")


def validation_registry() -> NodeRegistry:
    """Every built-in node type (control and media), for validating documents without running them."""
    from deepfort.aigc.workflow.nodes import default_registry  # the package imports this module's users

    registry = default_registry()
    register_media_nodes(registry, MediaServices(artefacts=_NoArtefacts()))
    return registry
