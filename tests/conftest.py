"""Shared fixtures: a real `deepfort serve` subprocess on a free loopback port, on the embedded model.

Tests that start a process (`deepfort serve`, llama_cpp.server, Chromium, promtool, helm, ffmpeg, the CLI
as a subprocess) are marked ``e2e``; ``make test-fast`` runs the rest. A test gets the marker from a
fixture in :data:`E2E_FIXTURES` (directly or through another fixture) or from its own
``@pytest.mark.e2e``. Any other test that starts a process fails, so the fast lane stays in process.
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


# Fixtures that start a process, by module and name (a name alone is ambiguous: tests/cli has an
# in-process `cluster` fixture, tests/cluster one that starts a center and an edge).
E2E_FIXTURES = frozenset(
    {
        "tests.conftest.server",
        "tests.conftest.llama_server",
        "tests.aigc.test_files_access.keyed",
        "tests.aigc.test_runs_api.server",
        "tests.api.test_fuzz.target",
        "tests.api.test_guards.stopping",
        "tests.cli.conftest.run_deepfort",
        "tests.cluster.conftest.cluster",
        "tests.cluster.test_failover.own_cluster",
        "tests.cluster.test_security.center",
        "tests.cluster.test_tls.tls_center",
        "tests.cluster.test_upstream_center.edge",
        "tests.deploy.conftest.helm",
        "tests.observability.test_serving_metrics.observed",
        "tests.security.test_auth.secured",
        "tests.security.test_data.site",
        "tests.web.conftest.browser",
        "tests.web.conftest.console",
    }
)


def _starts_process(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for definitions in info.name2fixturedefs.values():
        for definition in definitions:
            func = definition.func
            if f"{func.__module__}.{func.__name__}" in E2E_FIXTURES:
                return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _starts_process(item):
            item.add_marker(pytest.mark.e2e)


# Programs libraries run for their own set-up, not processes a test starts: matplotlib asks fontconfig
# for the system fonts once, when it builds its font cache.
INCIDENTAL_PROGRAMS = frozenset({"fc-list"})


class ProcessStarted(AssertionError):
    pass


def _program(args: object) -> str:
    first = args if isinstance(args, str | bytes | os.PathLike) else next(iter(args), "")  # type: ignore[call-overload]
    return Path(os.fsdecode(first)).name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Outside ``e2e``, starting a process is a failure: the marker stays true as tests change."""
    if item.get_closest_marker("e2e") is not None:
        return (yield)

    popen = subprocess.Popen.__init__

    def refuse(self: subprocess.Popen[bytes], args: Any, *rest: Any, **kwargs: Any) -> None:
        if _program(args) not in INCIDENTAL_PROGRAMS:
            raise ProcessStarted(
                f"{item.nodeid} starts a process ({args!r}): mark it e2e (see tests/conftest.py)"
            )
        popen(self, args, *rest, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", refuse)
        return (yield)
