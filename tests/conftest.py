"""Shared fixtures: a real `deepfort serve` subprocess on a free loopback port, on the embedded model.

``make test-fast`` runs what stays in this process and off the real model; ``make test`` runs it all.
Tests that start a process (`deepfort serve`, llama_cpp.server, Chromium, promtool, helm, ffmpeg, the CLI
as a subprocess) are marked ``e2e``; tests that load the real model in process are marked ``slow``. A
test gets its marker from a fixture in :data:`FIXTURE_MARKS` (directly or through another fixture) or its
own decorator; one that starts a process or loads the model without it fails, saying which it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
import yaml

from deepfort.catalog import embedded_model_path
from tests.helpers import wait_until

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tests.engines.scripted import ScriptedEngine

T = TypeVar("T")

# ChatML, like SmolLM2's own template, but the assistant turn opens a reasoning block the way the
# DeepSeek-R1-Distill templates do: the model only ever emits the closing tag.
R1_STYLE_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def stats(self, model: str) -> dict[str, int]:
        data = httpx.get(f"{self.base_url}/stats", timeout=10).json()
        return dict(data["models"][model])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    config: dict[str, object],
    tmp: Path,
    ready_timeout: float = 120.0,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    port: int | None = None,
) -> Server:
    """``deepfort serve --config`` in a subprocess, once ``/ready`` answers 200. ``args`` are further
    flags (``--role center``), ``env`` further environment variables."""
    tmp.mkdir(parents=True, exist_ok=True)
    config_path = tmp / "deepfort.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = port or free_port()
    log_path = tmp / "server.log"
    env = {**os.environ, "DEEPFORT_DATA_DIR": str(tmp / "data"), **(env or {})}
    command = [sys.executable, "-m", "deepfort", "serve", "--config", str(config_path), "--port", str(port)]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*command, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(base_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"deepfort serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/ready", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"deepfort serve was not ready after {ready_timeout} s:\n{server.log()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


SERVER_CONFIG: dict[str, object] = {
    "server": {"max_n": 4, "max_body_bytes": 65536, "queue_size": 64},
    "models": [
        # Four slots: the everyday model, batched.
        {"id": "smollm2-135m", "n_ctx": 2048, "n_parallel": 4, "aliases": ["smollm2"]},
        # One slot: answers under concurrency must equal single runs.
        {"id": "smol-1slot", "path": None, "n_ctx": 2048, "n_parallel": 1},
        # One slot and a one-place queue: queue-full answers and cancellation.
        {"id": "smol-q1", "path": None, "n_ctx": 2048, "n_parallel": 1, "queue_size": 1},
        # A deliberately small KV cache shared by four slots: requests wait for cells and get preempted.
        {"id": "smol-tight", "path": None, "n_ctx": 512, "n_parallel": 4, "kv_cells": 640},
        # The same weights behind an R1-style template that opens <think>, with the deepseek_r1 parser.
        {
            "id": "smol-r1",
            "path": None,
            "n_ctx": 1024,
            "n_parallel": 2,
            "reasoning_parser": "deepseek_r1",
            "chat_template": R1_STYLE_TEMPLATE,
            "aliases": ["r1"],
        },
    ],
}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = yaml.safe_load(yaml.safe_dump(SERVER_CONFIG))
    for model in config["models"]:
        if "path" in model:
            model["path"] = str(embedded_model_path())
    srv = start_server(config, tmp_path_factory.mktemp("server"))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """llama-cpp-python's own OpenAI-compatible server on the embedded GGUF: a real third-party center."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama_cpp_server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_model_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024"]
    # By default it aborts a running generation whenever another request arrives (a health probe too).
    command += ["--interrupt_requests", "False"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    server = Server(base_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        wait_until(lambda: _ready(server), "llama_cpp.server answers GET /v1/models", limit=120)
        yield server
    finally:
        stop_server(server)


def _ready(server: Server) -> bool:
    if server.process.poll() is not None:
        raise RuntimeError(f"llama_cpp.server exited with {server.process.returncode}:\n{server.log()}")
    try:
        return httpx.get(f"{server.v1}/models", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# -- in process: the real app through httpx.ASGITransport, on scripted engines ---------------------------
INPROCESS_CONFIG: dict[str, object] = {
    "models": [
        {"id": "scripted", "engine": "scripted", "n_ctx": 512, "aliases": ["script"]},
        # The deepseek_r1 parser over a template that does not open <think>: the script writes the tags.
        {"id": "scripted-r1", "engine": "scripted", "n_ctx": 512, "reasoning_parser": "deepseek_r1"},
    ],
}


@dataclass
class InProcess:
    """The app ``build_app`` makes, its lifespan running on one event loop; ``run`` a coroutine there
    (``client`` and the app's background tasks live on that loop)."""

    app: FastAPI
    client: httpx.AsyncClient
    runner: asyncio.Runner

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(work)

    def engine(self, model: str) -> ScriptedEngine:
        from tests.engines.scripted import ScriptedEngine

        engine = self.app.state.pool.get(model).engine
        assert isinstance(engine, ScriptedEngine), engine
        return engine


@contextlib.contextmanager
def in_process(config: Mapping[str, object], tmp: Path, ready_timeout: float = 30.0) -> Iterator[InProcess]:
    """The real app on ``config`` (state and SQLite in ``tmp``), once ``/ready`` answers 200."""
    import tests.engines.scripted  # noqa: F401  (registers the `scripted` engine)
    from deepfort.api.app import build_app
    from deepfort.config import Settings

    app = build_app(Settings.model_validate({**config, "data_dir": tmp / "data"}))

    async def start(stack: contextlib.AsyncExitStack) -> httpx.AsyncClient:
        await stack.enter_async_context(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://test")
        )
        deadline = time.monotonic() + ready_timeout
        while (await client.get("/ready")).status_code != 200:  # models load after start-up
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app was not ready after {ready_timeout} s")
            await asyncio.sleep(0.01)
        return client

    with asyncio.Runner() as runner:
        stack = contextlib.AsyncExitStack()
        try:
            yield InProcess(app, runner.run(start(stack)), runner)
        finally:
            runner.run(stack.aclose())


@pytest.fixture(scope="module")
def inprocess(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    with in_process(INPROCESS_CONFIG, tmp_path_factory.mktemp("inprocess")) as served:
        yield served


# Fixtures that start a process (e2e) or load the real model in this process (slow), by module and name:
# a name alone is ambiguous (tests/cli has an in-process `cluster` fixture, tests/cluster one that starts
# a center and an edge).
FIXTURE_MARKS: dict[str, str] = {
    "tests.conftest.server": "e2e",
    "tests.conftest.llama_server": "e2e",
    "tests.aigc.test_files_access.keyed": "e2e",
    "tests.aigc.test_runs_api.server": "e2e",
    "tests.api.test_fuzz.target": "e2e",
    "tests.api.test_guards.stopping": "e2e",
    "tests.cli.conftest.run_deepfort": "e2e",
    "tests.cluster.conftest.cluster": "e2e",
    "tests.cluster.test_failover.own_cluster": "e2e",
    "tests.cluster.test_security.center": "e2e",
    "tests.cluster.test_tls.tls_center": "e2e",
    "tests.cluster.test_upstream_center.edge": "e2e",
    "tests.deploy.conftest.helm": "e2e",
    "tests.observability.test_serving_metrics.observed": "e2e",
    "tests.security.test_auth.secured": "e2e",
    "tests.security.test_data.site": "e2e",
    "tests.web.conftest.browser": "e2e",
    "tests.web.conftest.console": "e2e",
    "tests.serving.test_pipeline.outcomes": "slow",
}


def _fixture_marks(item: pytest.Item) -> set[str]:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    names = {
        f"{definition.func.__module__}.{definition.func.__name__}"
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    }
    return {FIXTURE_MARKS[name] for name in names & FIXTURE_MARKS.keys()}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for mark in sorted(_fixture_marks(item)):
            item.add_marker(mark)


# Programs libraries run for their own set-up, not processes a test starts: matplotlib asks fontconfig
# for the system fonts once, when it builds its font cache.
INCIDENTAL_PROGRAMS = frozenset({"fc-list"})


class OutOfLane(AssertionError):
    """A test did what its markers say it does not (start a process, load the real model)."""


def _program(args: object) -> str:
    if isinstance(args, str | bytes | os.PathLike):
        first = os.fsdecode(args).split()[0] if isinstance(args, str | bytes) else os.fsdecode(args)
    else:
        first = os.fsdecode(next(iter(args), ""))  # type: ignore[call-overload]
    return Path(first).name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """The fast lane's rules, checked while each test runs, so the markers stay true as tests change:
    outside ``e2e`` a test starts no process; outside ``e2e`` and ``slow`` it loads no real model."""
    from deepfort.engines.llamacpp.model import LlamaModel

    e2e = item.get_closest_marker("e2e") is not None
    slow = item.get_closest_marker("slow") is not None
    popen, load = subprocess.Popen.__init__, LlamaModel.__init__

    def refuse_process(self: subprocess.Popen[bytes], args: Any, *rest: Any, **kwargs: Any) -> None:
        if _program(args) not in INCIDENTAL_PROGRAMS:
            raise OutOfLane(f"{item.nodeid} starts a process ({args!r}): mark it e2e (see tests/conftest.py)")
        popen(self, args, *rest, **kwargs)

    def refuse_model(self: LlamaModel, path: Path, *, vocab_only: bool = False) -> None:
        if not vocab_only:
            raise OutOfLane(
                f"{item.nodeid} loads the model {path} in process: mark it slow, or use the scripted "
                "engine (tests/engines/scripted.py)"
            )
        load(self, path, vocab_only=vocab_only)

    with pytest.MonkeyPatch.context() as patch:
        if not e2e:
            patch.setattr(subprocess.Popen, "__init__", refuse_process)
            if not slow:
                patch.setattr(LlamaModel, "__init__", refuse_model)
        return (yield)
