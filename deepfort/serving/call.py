"""Who asks, and one request on its way through the pipeline: what the layers read and write."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from deepfort.access.keys import LOCAL, ApiKey
from deepfort.protocol import ChatCompletionRequest, CompletionRequest
from deepfort.routing.route import Route
from deepfort.serving.guarding import Screened, ScreenedTexts

GenerationRequest = ChatCompletionRequest | CompletionRequest


def new_request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Caller:
    """The principal of a request and its id. ``forward`` is False on a center answering an edge:
    it answers with its own models and never forwards again."""

    key: ApiKey = LOCAL
    request_id: str = field(default_factory=new_request_id)
    forward: bool = True


@dataclass
class Call:
    """One request in the pipeline. ``request`` is what the model sees (personal data masked by the PII
    layer); ``original`` is what the caller sent (what a stored conversation keeps)."""

    request: GenerationRequest
    caller: Caller
    original: GenerationRequest = field(init=False)
    started: float = field(default_factory=time.perf_counter)
    screened: Screened | ScreenedTexts | None = None
    route: Route | None = None
    conversation_id: str | None = None
    summary: dict[str, object] = field(default_factory=dict)
    """What the access log line of this request carries (filled when the run has ended)."""

    def __post_init__(self) -> None:
        self.original = self.request
