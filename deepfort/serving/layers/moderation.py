"""Moderation: one output filter per choice, attached before any output is read. It restores the caller's
masked values, holds back and cuts banned phrases as they stream (lexicon), and asks the external
moderation API about every finished choice, chat and text completions alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from deepfort.serving.call import Call
from deepfort.serving.guarding import Guards
from deepfort.serving.layers.base import Layer

if TYPE_CHECKING:
    from deepfort.serving.run import Run


class ModerationLayer(Layer):
    name: ClassVar[str] = "moderation"

    def __init__(self, guards: Guards) -> None:
        self.guards = guards

    def attach(self, call: Call, run: Run) -> None:
        run.outputs = [self.guards.output(call.screened) for _ in run.choices]
