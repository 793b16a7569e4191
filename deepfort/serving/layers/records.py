"""Request records: one row per answered request (no prompt text), what usage reports and feedback use."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, ClassVar

from deepfort.serving.call import Call
from deepfort.serving.layers.base import Layer
from deepfort.store import RowExistsError, Store

if TYPE_CHECKING:
    from deepfort.serving.run import Run

log = logging.getLogger(__name__)


class RecordsLayer(Layer):
    name: ClassVar[str] = "records"

    def __init__(self, store: Store) -> None:
        self.store = store

    async def after(self, call: Call, run: Run) -> None:
        usage, route, first = run.usage(), call.route, run.timing.first
        try:
            await asyncio.to_thread(
                self.store.add_request_record,
                id=call.caller.request_id,
                key_id=call.caller.key.key_id,
                model=run.model[:200],
                tier=None if route is None else route.tier,
                route_reason=None if route is None else route.reason[:200],
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                status=200,
                finish_reason=run.finish_reasons()[0],
                latency_ms=(time.perf_counter() - call.started) * 1000,
                ttft_ms=None if first is None else round((first - call.started) * 1000, 2),
            )
        except RowExistsError:
            log.info("request id reused; request record kept from the first use")
