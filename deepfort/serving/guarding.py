"""Guards around one chat completion: personal data masked (or refused) on the way in, and restored,
reviewed and possibly cut on the way out.

The input side rewrites the request's message texts under the caller's PII policy. The output side is
one :class:`OutputFilter` per choice: the answer and the reasoning each pass through an unmasker (the
client sees its own values again) and then a streaming moderator (a banned phrase split across chunks is
still caught). A ``stop`` verdict ends that choice with ``finish_reason: "content_filter"``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, cast

from deepfort.config import GuardSettings
from deepfort.guard.external import ExternalModerator
from deepfort.guard.masking import PolicyResult, Unmasker, apply_policy
from deepfort.guard.moderation import Moderator, StreamModerator
from deepfort.guard.pii import PiiDetector
from deepfort.protocol import ChatCompletionRequest, TextPart
from deepfort.reasoning import ReasoningDelta

Policy = Literal["mask", "block", "allow"]


@dataclass
class _Pipe:
    unmasker: Unmasker | None
    moderator: StreamModerator | None

    def feed(self, text: str) -> tuple[str, bool, list[str]]:
        if self.unmasker is not None:
            text = self.unmasker.feed(text)
        if self.moderator is None:
            return text, False, []
        release = self.moderator.feed(text)
        return release.text, release.stopped, [hit.category for hit in release.hits]

    def finish(self) -> tuple[str, bool, list[str]]:
        text = self.unmasker.finish() if self.unmasker is not None else ""
        if self.moderator is None:
            return text, False, []
        release = self.moderator.feed(text) + self.moderator.finish()
        return release.text, release.stopped, [hit.category for hit in release.hits]


@dataclass
class OutputFilter:
    """Unmask then moderate the content and the reasoning of one choice."""

    content: _Pipe
    reasoning: _Pipe
    external: ExternalModerator | None = None
    hits: Counter[str] = field(default_factory=Counter)
    stopped: bool = False

    async def review_final(self, content: str, reasoning: str) -> bool:
        """Ask the external moderation API about the finished answer; True (and stopped) when flagged.
        A streamed answer has been sent by then: the verdict changes its finish reason, and is audited."""
        if self.external is None or self.stopped or not (content or reasoning):
            return False
        verdict = await self.external.check("\n".join(t for t in (reasoning, content) if t))
        if verdict.flagged:
            self.hits.update(verdict.categories or ["external"])
            self.stopped = True
        return verdict.flagged

    def feed(self, out: ReasoningDelta, *, final: bool) -> ReasoningDelta:
        """Filter one classified delta; with ``final`` flush what the pipes still hold. Once a phrase has
        stopped the choice, nothing more comes out."""
        if self.stopped:
            return ReasoningDelta()
        reasoning, stop_r, hits_r = self.reasoning.feed(out.reasoning) if out.reasoning else ("", False, [])
        content, stop_c, hits_c = (
            self.content.feed(out.content) if out.content and not stop_r else ("", False, [])
        )
        if final and not (stop_r or stop_c):
            more_r, stop_r, extra_r = self.reasoning.finish()
            more_c, stop_c, extra_c = self.content.finish() if not stop_r else ("", False, [])
            reasoning, content = reasoning + more_r, content + more_c
            hits_r, hits_c = hits_r + extra_r, hits_c + extra_c
        self.hits.update(hits_r + hits_c)
        self.stopped = stop_r or stop_c
        return ReasoningDelta(reasoning=reasoning, content=content)


def merge_hits(outputs: Iterable[OutputFilter | None]) -> dict[str, int]:
    """Moderation hits of every choice of a run, by category."""
    hits: Counter[str] = Counter()
    for output in outputs:
        if output is not None:
            hits.update(output.hits)
    return dict(hits)


@dataclass(frozen=True)
class Screened:
    request: ChatCompletionRequest
    policy: Policy
    pii: PolicyResult

    def unmasker(self) -> Unmasker | None:
        return self.pii.unmasker() if self.pii.mapping else None


@dataclass(frozen=True)
class ScreenedTexts:
    policy: Policy
    pii: PolicyResult

    def unmasker(self) -> Unmasker | None:
        return self.pii.unmasker() if self.pii.mapping else None


class Guards:
    def __init__(self, settings: GuardSettings) -> None:
        self.settings = settings
        self.detector = PiiDetector(settings.pii)
        self.moderator = Moderator(settings.moderation) if settings.moderation.enabled else None
        self.external = ExternalModerator.from_settings(settings.moderation)

    async def close(self) -> None:
        if self.external is not None:
            await self.external.aclose()

    def screen(self, request: ChatCompletionRequest, policy: str | None) -> Screened:
        """Apply the PII policy (the key's, else the configured one) to every message text; ``block``
        raises :class:`SensitiveInputError` naming the kinds found."""
        chosen = cast(Policy, policy or self.settings.pii.policy)
        texts: list[str] = []
        for message in request.messages:
            content = message.content
            if isinstance(content, str):
                texts.append(content)
            elif content is not None:
                texts.extend(part.text for part in content)
        result = apply_policy(chosen, self.detector, texts)
        if chosen != "mask" or not result.mapping:
            return Screened(request, chosen, result)
        masked = iter(result.texts)
        messages = []
        for message in request.messages:
            content = message.content
            if isinstance(content, str):
                message = message.model_copy(update={"content": next(masked)})
            elif content is not None:
                parts = [TextPart(type="text", text=next(masked)) for _ in content]
                message = message.model_copy(update={"content": parts})
            messages.append(message)
        return Screened(request.model_copy(update={"messages": messages}), chosen, result)

    def screen_texts(self, texts: list[str], policy: str | None) -> ScreenedTexts:
        """The PII policy applied to plain prompts (``/v1/completions``)."""
        chosen = cast(Policy, policy or self.settings.pii.policy)
        return ScreenedTexts(chosen, apply_policy(chosen, self.detector, texts))

    def output(self, screened: Screened | ScreenedTexts | None) -> OutputFilter | None:
        """A filter for one choice, or None when there is nothing to restore or review."""
        unmask = screened is not None and bool(screened.pii.mapping)
        if not unmask and self.moderator is None and self.external is None:
            return None

        def pipe() -> _Pipe:
            return _Pipe(
                screened.unmasker() if screened is not None else None,
                self.moderator.stream() if self.moderator is not None else None,
            )

        return OutputFilter(content=pipe(), reasoning=pipe(), external=self.external)
