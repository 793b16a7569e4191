"""One pipeline for every entry point: the same request through HTTP chat, HTTP completions, ``/generate``,
the gRPC center, the workflow ``llm`` node and ``deepfort chat`` leaves the same guards, records, metrics
and audit entries.

One node runs in process on the embedded model, as a center (so its real gRPC service listens on
loopback), with the external moderation API pointed at a scripted endpoint that flags every answer and
records what it was asked. The prompt carries a phone number, so the PII layer masks it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from deepfort.aigc.workflow.nodes.llm import ServingChat
from deepfort.api.app import build_app
from deepfort.app.node import Node
from deepfort.cli.chat_client import ChatOptions, InProcessBackend
from deepfort.cluster.client import RemoteEngine
from deepfort.cluster.keys import load_keyring, node_secret
from deepfort.config import Settings
from tests.conftest import free_port
from tests.helpers import JsonEndpoint, loopback_http, wait_until

PHONE = "13812345678"
QUESTION = f"My phone number is {PHONE}. Say hello."
MODEL = "smollm2-135m"
ENTRIES = ["http chat", "http completions", "generate", "grpc center", "workflow llm node", "deepfort chat"]


class FlagEverything(JsonEndpoint):
    """An OpenAI-style moderation endpoint that flags every text and keeps what it was asked."""

    asked: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FlagEverything.asked.append(str(body["input"]))
        self.send_json(200, b'{"results": [{"flagged": true, "categories": {"violence": true}}]}')


@dataclass
class Outcome:
    """What one request through one entry point left behind."""

    records: list[tuple[str, str | None]] = field(default_factory=list)
    audit: list[tuple[str, str]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    reviews: int = 0
    finish: str | None = None


def _metrics(node: Node) -> dict[str, float]:
    registry = node.metrics.registry
    out: dict[str, float] = {}
    for name, labels in [
        ("deepfort:guard_hits_total", {"kind": "pii:phone"}),
        ("deepfort:guard_hits_total", {"kind": "moderation:violence"}),
    ]:
        out[f"{name}{labels}"] = registry.get_sample_value(name, labels) or 0.0
    success = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == "deepfort:request_success_total" and sample.labels.get("finished_reason") == (
                "content_filter"
            ):
                success += sample.value
    out["content_filter answers"] = success
    return out


def _snapshot(node: Node) -> tuple[int, int, dict[str, float], int]:
    records = len(node.store.list_request_records(limit=1000))
    audit = len(list(node.store.iter_audit()))
    return records, audit, _metrics(node), len(FlagEverything.asked)


def _named(detail: dict[str, dict[str, int]]) -> str:
    """The kinds (PII) or categories (moderation) an audit entry names."""
    return ",".join(sorted(detail.get("kinds") or detail.get("categories") or {}))


def _outcome(node: Node, before: tuple[int, int, dict[str, float], int], finish: str | None) -> Outcome:
    records, audit, metrics, asked = before
    rows = node.store.list_request_records(limit=1000)
    new_rows = sorted(rows, key=lambda r: r.created_at)[records:] if len(rows) > records else []
    entries = list(node.store.iter_audit())[audit:]
    after = _metrics(node)
    return Outcome(
        records=[(row.model, row.finish_reason) for row in new_rows],
        audit=sorted(
            (
                e.action,
                ",".join(
                    sorted(json.loads(e.detail).get("kinds", json.loads(e.detail).get("categories", {})))
                ),
            )
            for e in entries
        ),
        metrics={k: after[k] - metrics[k] for k in after},
        reviews=len(FlagEverything.asked) - asked,
        finish=finish,
    )


async def _through_every_entry(tmp: Path, moderation_url: str) -> dict[str, Outcome]:
    settings = Settings(
        data_dir=tmp / "data",
        role="center",
        models=[{"id": MODEL, "n_ctx": 1024, "n_parallel": 2}],
        cluster={
            "grpc_port": free_port(),
            "keys": "k1:" + secrets.token_hex(16),
            "node_secret": "pipeline-test-secret-" + secrets.token_hex(4),
        },
        guard={"moderation": {"external_url": moderation_url}},
    )
    app = build_app(settings)
    outcomes: dict[str, Outcome] = {}
    messages = [{"role": "user", "content": QUESTION}]
    async with app.router.lifespan_context(app):
        node: Node = app.state.node
        await asyncio.to_thread(wait_until, lambda: node.pool.ready, "the model loaded")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://deepfort") as client:

            async def http_chat() -> str | None:
                body = {"model": MODEL, "messages": messages, "max_tokens": 8, "temperature": 0}
                reply = (await client.post("/v1/chat/completions", json=body)).raise_for_status().json()
                return str(reply["choices"][0]["finish_reason"])

            async def http_completions() -> str | None:
                body = {"model": MODEL, "prompt": QUESTION, "max_tokens": 8, "temperature": 0}
                reply = (await client.post("/v1/completions", json=body)).raise_for_status().json()
                return str(reply["choices"][0]["finish_reason"])

            async def generate() -> str | None:
                body = {"model": MODEL, "prompt": QUESTION, "max_length": 8, "temperature": 0}
                reply = (await client.post("/generate", json=body)).raise_for_status().json()
                return str(reply["finish_reason"])

            async def grpc_center() -> str | None:
                cluster = settings.cluster
                remote = RemoteEngine(
                    f"grpc://127.0.0.1:{cluster.grpc_port}",
                    load_keyring(cluster, settings.data_dir),
                    node_secret(cluster),
                    cluster.tls,
                )
                body = {"model": MODEL, "messages": messages, "max_tokens": 8, "temperature": 0}
                try:
                    stream = await remote.open_chat(body, secrets.token_hex(16))
                    finishes = [e.finish_reason async for e in stream if e.finish_reason]
                finally:
                    await remote.close()
                return finishes[-1]

            async def workflow_llm_node() -> str | None:
                await ServingChat(node.pipeline, default_model=MODEL)(messages, max_tokens=8)
                return None  # the node sees text only

            async def deepfort_chat() -> str | None:
                backend = InProcessBackend(node, ChatOptions(max_tokens=8, temperature=0))
                async with aclosing(backend.stream(messages)) as deltas:
                    async for _ in deltas:
                        pass
                return None  # the terminal shows text only

            entries: dict[str, Callable[[], Awaitable[str | None]]] = dict(
                zip(
                    ENTRIES,
                    [http_chat, http_completions, generate, grpc_center, workflow_llm_node, deepfort_chat],
                    strict=True,
                )
            )
            for name, entry in entries.items():
                before = await asyncio.to_thread(_snapshot, node)
                finish = await entry()
                outcomes[name] = await asyncio.to_thread(_outcome, node, before, finish)
    return outcomes


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    FlagEverything.asked.clear()
    with loopback_http(FlagEverything) as url:
        yield asyncio.run(_through_every_entry(tmp_path_factory.mktemp("pipeline"), url))


@pytest.mark.parametrize("entry", ENTRIES)
def test_every_entry_point_gets_the_same_guards_records_metrics_and_audit(
    outcomes: dict[str, Outcome], entry: str
) -> None:
    got = outcomes[entry]
    assert got.records == [(MODEL, "content_filter")], "one request record, cut by the external review"
    assert got.audit == [("guard.moderation", "violence"), ("guard.pii", "phone")]
    assert got.metrics == {
        "deepfort:guard_hits_total{'kind': 'pii:phone'}": 1.0,
        "deepfort:guard_hits_total{'kind': 'moderation:violence'}": 1.0,
        "content_filter answers": 1.0,
    }
    assert got.reviews == 1, "the external moderation API reviewed the finished answer once"
    if got.finish is not None:
        assert got.finish == "content_filter"


def test_text_completions_go_through_the_external_review(outcomes: dict[str, Outcome]) -> None:
    # Before the one pipeline, /v1/completions never asked the external moderation API.
    completions = outcomes["http completions"]
    assert completions.reviews == 1 and completions.finish == "content_filter"
