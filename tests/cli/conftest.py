"""Fixtures for the CLI tests: a private data directory, and the CLI in-process or as a subprocess.
Tests that need a real ``deepfort serve`` use the shared ``server`` fixture of ``tests/conftest.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from deepfort.catalog import embedded_model_path
from deepfort.cli.main import app

# Guards against a hung child process; generous, because the machine may be busy. Not a timing assert.
SUBPROCESS_TIMEOUT_S = 300

RunCli = Callable[..., Result]
RunDeepfort = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data directory (model registry) for this test, never the user's."""
    path = tmp_path / "data"
    monkeypatch.setenv("DEEPFORT_DATA_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def embedded_gguf() -> Path:
    return embedded_model_path()


@pytest.fixture
def cli(data_dir: Path) -> RunCli:
    """Run ``deepfort ARGS...`` in this process; stdout and stderr come back apart."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input)

    return run


@pytest.fixture
def run_deepfort(data_dir: Path) -> RunDeepfort:
    """Run ``python -m deepfort ARGS...`` as a child process with piped stdin."""

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deepfort", *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, "DEEPFORT_DATA_DIR": str(data_dir)},
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )

    return run
