"""Fixtures for the deploy tests: a real helm binary (pinned, fetched once) and rendered charts."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import CHART, KUBE_VERSION, helm_binary

Manifest = dict[str, Any]


@pytest.fixture(scope="session")
def helm() -> Path:
    return helm_binary()


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def render(helm: Path) -> Callable[..., list[Manifest]]:
    """``render(values_files, *set_args)``: the manifests ``helm template`` makes, parsed."""
    cache: dict[tuple[str, ...], list[Manifest]] = {}

    def _render(values: Sequence[str] = (), *sets: str) -> list[Manifest]:
        key = (*values, "|", *sets)
        if key not in cache:
            args = ["template", "rel", str(CHART), "--namespace", "ai", "--kube-version", KUBE_VERSION]
            args += ["--api-versions", "monitoring.coreos.com/v1"]
            for name in values:
                args += ["--values", str(CHART / name)]
            for item in sets:
                args += ["--set", item]
            done = run_helm(helm, *args)
            assert done.returncode == 0, done.stderr
            cache[key] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
        return cache[key]

    return _render
