"""``deepfort version``."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.metadata import version

from typer.testing import Result

import deepfort


def test_version_json(cli: Callable[..., Result]) -> None:
    result = cli("version", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "deepfort": deepfort.__version__,
        "llama-cpp-python": version("llama-cpp-python"),
    }
