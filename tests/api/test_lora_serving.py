"""LoRA adapters served per request (vLLM's multi-LoRA, llama-server's per-request `lora`): a model with
two adapters answers base, `model:a` and `model:b` requests side by side, each as it answers alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest

from deepfort.catalog import embedded_model_path
from tests.conftest import Server, start_server, stop_server
from tests.helpers import same_or_rounding

gguf = pytest.importorskip("gguf", reason="the GGUF writer comes with the `train` extra")

MODEL = "smol-lora"
PROMPTS = ["Name a colour.", "What do bees make?", "Write one word about the sea."]


def write_random_lora(out: Path, *, seed: int, rank: int = 8, size: float = 0.04) -> Path:
    """A LoRA adapter for the embedded model with random q and v updates, through deepfort's GGUF LoRA
    writer: large enough to change greedy answers, small enough to keep them words."""
    from deepfort.training.finetune.gguf_lora import write_lora_gguf

    reader = gguf.GGUFReader(embedded_model_path())

    def field(key: str) -> int:
        return int(reader.fields[key].contents())

    hidden, layers = field("llama.embedding_length"), field("llama.block_count")
    heads, kv_heads = field("llama.attention.head_count"), field("llama.attention.head_count_kv")
    kv_out = hidden // heads * kv_heads
    rng = np.random.default_rng(seed)
    state: dict[str, Any] = {}
    for i in range(layers):
        for module, out_dim in (("q_proj", hidden), ("v_proj", kv_out)):
            key = f"base_model.model.model.layers.{i}.self_attn.{module}"
            state[f"{key}.lora_A.weight"] = rng.normal(0, size, (rank, hidden)).astype(np.float32)
            state[f"{key}.lora_B.weight"] = rng.normal(0, size, (out_dim, rank)).astype(np.float32)
    config = SimpleNamespace(model_type="llama", num_attention_heads=heads, num_key_value_heads=kv_heads)
    return write_lora_gguf(state, config, out, alpha=2.0 * rank)


@pytest.fixture(scope="module")
def lora_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, Path]]:
    tmp = tmp_path_factory.mktemp("lora")
    a = write_random_lora(tmp / "a.gguf", seed=1)
    b = write_random_lora(tmp / "b.gguf", seed=2)
    config = {
        "models": [
            {
                "id": MODEL,
                "path": str(embedded_model_path()),
                "n_ctx": 1024,
                "n_parallel": 6,
                "lora": [{"name": "a", "path": str(a)}, {"name": "b", "path": str(b)}],
            }
        ]
    }
    server = start_server(config, tmp)
    yield server, a, b
    stop_server(server)


def _greedy(server: Server, model: str, prompt: str, **extra: object) -> dict[str, Any]:
    return asyncio.run(_agreedy(server, [(model, prompt, extra)]))[0]


async def _agreedy(server: Server, asks: list[tuple[str, str, dict[str, object]]]) -> list[dict[str, Any]]:
    async def one(
        client: httpx.AsyncClient, model: str, prompt: str, extra: dict[str, object]
    ) -> dict[str, Any]:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 24,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": 2,
            "cache_prompt": False,
            **extra,
        }
        reply = await client.post("/chat/completions", json=body)
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data

    async with httpx.AsyncClient(base_url=server.v1, timeout=600) as client:
        return list(await asyncio.gather(*[one(client, m, p, e) for m, p, e in asks]))


def _text(reply: dict[str, Any]) -> str:
    return str(reply["choices"][0]["message"]["content"])


@pytest.mark.e2e
def test_adapters_are_models_of_their_own_in_the_model_list(lora_server: tuple[Server, Path, Path]) -> None:
    server, a, _ = lora_server
    cards = {m["id"]: m for m in httpx.get(f"{server.v1}/models", timeout=10).json()["data"]}
    assert {f"{MODEL}:a", f"{MODEL}:b"} <= cards.keys()
    assert cards[f"{MODEL}:a"]["parent"] == MODEL and cards[f"{MODEL}:a"]["root"] == str(a)
    assert [x["name"] for x in cards[MODEL]["details"]["lora"]] == ["a", "b"]


@pytest.mark.e2e
def test_base_and_two_adapters_side_by_side_answer_as_alone(lora_server: tuple[Server, Path, Path]) -> None:
    server, _, _ = lora_server
    models = [MODEL, f"{MODEL}:a", f"{MODEL}:b"]
    asks: list[tuple[str, str, dict[str, object]]] = [(m, p, {}) for p in PROMPTS for m in models]
    alone = [_greedy(server, m, p) for m, p, _ in asks]
    # The adapters change the answers (each is applied, and only to its own requests).
    for i in range(len(PROMPTS)):
        texts = [_text(alone[3 * i + k]) for k in range(3)]
        assert len(set(texts)) == 3, texts
    together = asyncio.run(_agreedy(server, asks))
    for solo, batched in zip(alone, together, strict=True):
        assert batched["model"] == solo["model"]
        same_or_rounding(solo, batched)


@pytest.mark.e2e
def test_the_lora_field_picks_adapters_by_name_id_and_scale(lora_server: tuple[Server, Path, Path]) -> None:
    server, _, _ = lora_server
    prompt = PROMPTS[0]
    base, with_a, with_b = (_text(_greedy(server, m, prompt)) for m in (MODEL, f"{MODEL}:a", f"{MODEL}:b"))
    assert _text(_greedy(server, MODEL, prompt, lora=["a"])) == with_a
    assert _text(_greedy(server, MODEL, prompt, lora=[{"id": 1}])) == with_b
    assert _text(_greedy(server, f"{MODEL}:a", prompt, lora=[{"name": "a", "scale": 0}])) == base
    unknown = httpx.post(
        f"{server.v1}/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "lora": ["nope"]},
        timeout=60,
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["param"] == "lora"
    no_model = httpx.post(
        f"{server.v1}/chat/completions",
        json={"model": f"{MODEL}:nope", "messages": [{"role": "user", "content": "Hi"}]},
        timeout=60,
    )
    assert no_model.status_code == 404 and no_model.json()["error"]["code"] == "model_not_found"


@pytest.mark.e2e
def test_adapters_added_and_removed_while_running(
    lora_server: tuple[Server, Path, Path], tmp_path: Path
) -> None:
    server, a, _ = lora_server
    prompt = PROMPTS[1]
    with_a = _text(_greedy(server, f"{MODEL}:a", prompt))
    added = httpx.post(f"{server.base_url}/admin/models/{MODEL}/adapters", json={"name": "c", "path": str(a)})
    assert added.status_code == 201, added.text
    assert added.json()["id"] == f"{MODEL}:c" and added.json()["registered"] is True
    assert _text(_greedy(server, f"{MODEL}:c", prompt)) == with_a
    again = httpx.post(f"{server.base_url}/admin/models/{MODEL}/adapters", json={"name": "c", "path": str(a)})
    assert again.status_code == 400 and again.json()["error"]["code"] == "adapter_exists"
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(60))
    refused = httpx.post(
        f"{server.base_url}/admin/models/{MODEL}/adapters", json={"name": "x", "path": str(broken)}
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "path"
    removed = httpx.delete(f"{server.base_url}/admin/models/{MODEL}/adapters/c")
    assert removed.status_code == 200 and removed.json()["deleted"] is True
    gone = httpx.post(
        f"{server.v1}/chat/completions",
        json={"model": f"{MODEL}:c", "messages": [{"role": "user", "content": "Hi"}]},
        timeout=60,
    )
    assert gone.status_code == 404
    # vLLM's runtime routes, for clients written against vLLM.
    loaded = httpx.post(
        f"{server.v1}/load_lora_adapter", json={"lora_name": f"{MODEL}:d", "lora_path": str(a)}
    )
    assert loaded.status_code == 200 and "Success" in loaded.text
    assert _text(_greedy(server, f"{MODEL}:d", prompt)) == with_a
    unloaded = httpx.post(f"{server.v1}/unload_lora_adapter", json={"lora_name": f"{MODEL}:d"})
    assert unloaded.status_code == 200
    assert _text(_greedy(server, f"{MODEL}:a", prompt)) == with_a  # the others serve on
