"""The base of the node types that need :class:`~deepfort.aigc.workflow.nodes.services.MediaServices`
(llm, storyboard, http, image, tts, video)."""

from __future__ import annotations

from deepfort.aigc.workflow.nodes.base import Node
from deepfort.aigc.workflow.nodes.services import MediaServices
from deepfort.errors import ConfigError


class MediaNode(Node):
    """A node that reaches outside the executor: `svc` is the services it was built with."""

    @property
    def svc(self) -> MediaServices:
        if self.services is None:
            raise ConfigError(
                f"node type {self.type_name!r} needs the media services, and its registry was given none"
            )
        return self.services
