"""A model's own sampling defaults reach its engine when a request leaves them out (as vLLM does with a
model's generation_config.json and Ollama with a Modelfile's PARAMETERs); a request's own values win."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import InProcess, in_process
from tests.engines.scripted import ScriptedEngine

DEFAULTS = {"temperature": 0.3, "top_p": 0.8, "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.2}
CONFIG: dict[str, object] = {
    "models": [
        {
            "id": "tuned",
            "engine": "scripted",
            "n_ctx": 512,
            "sampling_defaults": {**DEFAULTS, "max_tokens": 5},
        }
    ]
}
ASK = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with in_process(CONFIG, tmp_path_factory.mktemp("tuned")) as served:
        yield served


def _sent(tuned: InProcess, path: str, body: dict[str, object]) -> ScriptedEngine:
    engine = tuned.engine("tuned")
    engine.reset()

    async def send() -> None:
        reply = await tuned.client.post(path, json={"model": "tuned", **body})
        assert reply.status_code == 200, reply.text

    tuned.run(send())
    return engine


@pytest.mark.parametrize(
    ("path", "body"),
    [("/v1/chat/completions", {"messages": ASK}), ("/v1/completions", {"prompt": "Hi"})],
    ids=["chat", "text"],
)
def test_defaults_fill_what_the_request_leaves_out(
    tuned: InProcess, path: str, body: dict[str, object]
) -> None:
    request = _sent(tuned, path, body).requests[-1]
    sampling = request.sampling
    got = {name: getattr(sampling, name) for name in DEFAULTS}
    assert got == pytest.approx(DEFAULTS)
    assert request.max_tokens == 5


def test_the_request_s_own_values_win(tuned: InProcess) -> None:
    body = {"messages": ASK, "temperature": 0.9, "top_k": 3, "max_completion_tokens": 7}
    request = _sent(tuned, "/v1/chat/completions", body).requests[-1]
    assert (request.sampling.temperature, request.sampling.top_k, request.max_tokens) == (0.9, 3, 7)
    assert request.sampling.top_p == pytest.approx(0.8)
