"""GET /ready while the models load and once they have, and POST /detokenize: the round trip through
/tokenize on the embedded model, and token ids the model does not have."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from deepfort.api.app import build_app
from deepfort.config import ServerSettings, Settings
from deepfort.engines.registry import register_engine
from tests.conftest import Server
from tests.engines.scripted import ScriptedEngine, _Config


class GatedEngine(ScriptedEngine):
    """A scripted engine whose loading lasts until the test opens its gate."""

    def __init__(self, config: _Config) -> None:
        super().__init__(config)
        self.gate = asyncio.Event()

    async def start(self) -> None:
        await self.gate.wait()


@register_engine("gated")
def _create(config: _Config, server: ServerSettings) -> GatedEngine:
    return GatedEngine(config)


@contextlib.asynccontextmanager
async def loading(tmp: Path) -> AsyncIterator[tuple[httpx.AsyncClient, GatedEngine]]:
    """The real app on one gated model, its lifespan started and the model still loading."""
    config = {"models": [{"id": "gated", "engine": "gated", "n_ctx": 512}], "data_dir": tmp / "data"}
    app = build_app(Settings.model_validate(config))
    async with app.router.lifespan_context(app):
        (served,) = list(app.state.pool)
        engine = served.engine
        assert isinstance(engine, GatedEngine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            try:
                yield client, engine
            finally:
                engine.gate.set()  # let the loading task end before the lifespan closes


def test_ready_says_loading_until_every_model_is_loaded(tmp_path: Path) -> None:
    async def body() -> None:
        async with loading(tmp_path) as (client, engine):
            before = await client.get("/ready")
            assert before.status_code == 503
            assert before.headers["retry-after"] == "1"
            assert before.json() == {"status": "loading", "models": ["gated"]}
            assert (await client.get("/health")).status_code == 200  # the process answers meanwhile
            chat = {"model": "gated", "messages": [{"role": "user", "content": "hi"}]}
            early = await client.post("/v1/chat/completions", json=chat)
            assert early.status_code == 503 and "still loading" in early.json()["error"]["message"]
            engine.gate.set()
            for _ in range(500):
                after = await client.get("/ready")
                if after.status_code == 200:
                    break
                await asyncio.sleep(0.01)
            assert after.status_code == 200
            assert after.json() == {"status": "ready", "models": ["gated"]}

    asyncio.run(body())


MODEL = "smollm2-135m"


@pytest.mark.parametrize("text", ["Hello, world!", "深度求索 — 你好", " leading space\nand a newline"])
def test_detokenize_reverses_tokenize(server: Server, text: str) -> None:
    tokens = httpx.post(
        f"{server.base_url}/tokenize", json={"model": MODEL, "prompt": text, "add_special_tokens": False}
    ).json()["tokens"]
    assert len(tokens) > 1
    reply = httpx.post(f"{server.base_url}/detokenize", json={"model": MODEL, "tokens": tokens})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"prompt": text}


def test_detokenize_reads_each_id(server: Server) -> None:
    tokens = httpx.post(
        f"{server.base_url}/tokenize",
        json={"model": MODEL, "prompt": "Hello, world", "add_special_tokens": False},
    ).json()["tokens"]
    pieces = [
        httpx.post(f"{server.base_url}/detokenize", json={"model": MODEL, "tokens": [token]}).json()["prompt"]
        for token in tokens
    ]
    assert pieces == ["Hello", ",", " world"]


@pytest.mark.parametrize("tokens", [[-1], [0x110000], [72, -5]], ids=["negative", "past the end", "mixed"])
def test_detokenize_refuses_ids_the_model_lacks(tmp_path: Path, tokens: list[int]) -> None:
    from tests.conftest import INPROCESS_CONFIG, in_process

    with in_process(INPROCESS_CONFIG, tmp_path) as app:
        reply = app.run(app.client.post("/detokenize", json={"model": "scripted", "tokens": tokens}))
        fine = app.run(app.client.post("/detokenize", json={"model": "scripted", "tokens": [72, 105]}))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "tokens"
    assert fine.json() == {"prompt": "Hi"}
