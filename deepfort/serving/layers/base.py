"""What a layer may do, and when. Every hook has a default that does nothing.

- ``before(call)``: in declared order, before the engine step; may rewrite ``call.request`` or refuse by
  raising a :class:`~deepfort.errors.DeepfortError`.
- ``refused(call, exc)``: on every layer when a ``before`` hook or the engine step refused the request.
- ``attach(call, run)``: once the engine accepted the request, before any output is read (output filters).
- ``after(call, run)``: in declared order, once, when the run has been closed. A failing hook is logged
  and the next one still runs: a record that could not be written never costs the client its answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from deepfort.errors import DeepfortError
from deepfort.serving.call import Call

if TYPE_CHECKING:
    from deepfort.serving.run import Run


class Layer:
    name: ClassVar[str]

    async def before(self, call: Call) -> None:
        return None

    async def refused(self, call: Call, exc: DeepfortError) -> None:
        return None

    def attach(self, call: Call, run: Run) -> None:
        return None

    async def after(self, call: Call, run: Run) -> None:
        return None
