"""``/v1/models``: each card carries the model's sampling defaults and says whether it is the embedded
demonstration model (the console and ``deepfort chat`` show a notice for it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deepfort.catalog import embedded_spec
from tests.conftest import InProcess, in_process

CONFIG = {
    "models": [
        {
            "id": "tuned",
            "engine": "scripted",
            "n_ctx": 512,
            "aliases": ["tuned-alias"],
            "sampling_defaults": {"temperature": 0.6, "top_p": 0.95, "max_tokens": 64},
        },
        {"id": "plain", "engine": "scripted", "n_ctx": 512},
    ],
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with in_process(CONFIG, tmp_path_factory.mktemp("cards")) as app:
        yield app


def get(app: InProcess, path: str) -> tuple[int, Any]:
    async def send() -> tuple[int, Any]:
        reply = await app.client.get(path)
        return reply.status_code, reply.json()

    return app.run(send())


def test_a_card_shows_the_sampling_defaults(served: InProcess) -> None:
    status, card = get(served, "/v1/models/tuned")
    assert status == 200, card
    assert card["sampling_defaults"] == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 64}
    assert card["demo"] is False
    # under an alias too, and in the listing
    assert get(served, "/v1/models/tuned-alias")[1]["sampling_defaults"] == card["sampling_defaults"]
    listed = {m["id"]: m for m in get(served, "/v1/models")[1]["data"]}
    assert listed["tuned"]["sampling_defaults"] == card["sampling_defaults"]
    assert listed["plain"]["sampling_defaults"] == {}
    assert listed["plain"]["demo"] is False  # no path, but not the llama.cpp engine: not the embedded GGUF


def test_the_embedded_model_card_says_demo(served: InProcess) -> None:
    """Build the card the route builds for the embedded spec, on the scripted engine of the served app."""
    from deepfort.api.openai.models import _cards
    from deepfort.serving.pool import ServedModel

    engine = served.app.state.pool.get("plain").engine
    spec = embedded_spec()
    cards = _cards(ServedModel(spec=spec, engine=engine, parser=None))
    assert [c.id for c in cards] == ["smollm2-135m", "smollm2"]
    assert all(c.demo for c in cards)
    assert cards[0].sampling_defaults == {"temperature": 0.2, "top_p": 0.9, "top_k": 40}
