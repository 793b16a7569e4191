"""A center slower than the deadline to accept, or refusing, is skipped: the edge answers, degraded.
The node is in-process with the real embedded model; the slow center is scripted (a stuck GPU engine
cannot be produced on this machine)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from deepfort.app.node import Node
from deepfort.catalog import embedded_spec
from deepfort.config import load_settings
from deepfort.engines.messages import MessageStream
from deepfort.errors import UpstreamError
from deepfort.protocol import ChatCompletionRequest
from deepfort.serving.assemble import chat_completion
from tests.routing.test_router import COMPLEX, ScriptedCenter


class StuckCenter(ScriptedCenter):
    def __init__(self, refuse: bool = False) -> None:
        super().__init__("stuck", ["big"])
        self.refuse = refuse
        self.cancelled = False

    async def open_chat(self, body: dict[str, Any], request_id: str) -> MessageStream:
        if self.refuse:
            raise UpstreamError("the center rejected our credentials")
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


def answer(center: StuckCenter, tmp_path: Path) -> tuple[dict[str, object], int]:
    settings = load_settings(data_dir=tmp_path, role="edge", routing={"deadline_s": 0.3})

    async def run() -> tuple[dict[str, object], int]:
        node = Node(settings, [embedded_spec()])
        node.centers.add(center)
        await node.pool.start()
        await node.centers.probe_all()
        try:
            request = ChatCompletionRequest.model_validate(
                {"model": "auto", "max_tokens": 2, "messages": [{"role": "user", "content": COMPLEX}]}
            )
            run = await node.pipeline.execute(request)
            try:
                result = await chat_completion(run)
            finally:
                await run.close()
            assert result.route is not None
            return result.route.model_dump(), node.centers.centers[0].outstanding
        finally:
            await node.close()

    return asyncio.run(run())


@pytest.mark.slow  # the real model, in process
def test_a_center_slower_than_the_deadline_is_skipped(tmp_path: Path) -> None:
    center = StuckCenter()
    route, outstanding = answer(center, tmp_path)
    assert route["tier"] == "edge" and route["degraded"] is True
    assert "did not accept within 0.3 s" in str(route["reason"])
    assert center.cancelled and outstanding == 0


@pytest.mark.slow  # the real model, in process
def test_a_refusing_center_is_skipped(tmp_path: Path) -> None:
    route, outstanding = answer(StuckCenter(refuse=True), tmp_path)
    assert route["degraded"] is True and "rejected our credentials" in str(route["reason"])
    assert outstanding == 0
