"""The committed gRPC stubs are what `make proto` generates from deepfort.proto."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ["deepfort_pb2.py", "deepfort_pb2.pyi", "deepfort_pb2_grpc.py", "deepfort_pb2_grpc.pyi"]


@pytest.mark.e2e
def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    (tmp_path / "deepfort" / "cluster").mkdir(parents=True)
    shutil.copy(ROOT / "deepfort/cluster/deepfort.proto", tmp_path / "deepfort/cluster/deepfort.proto")
    bin_dir = str(Path(sys.executable).parent)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            ".",
            "--python_out=.",
            "--grpc_python_out=.",
            "--mypy_out=.",
            "--mypy_grpc_out=.",
            "deepfort/cluster/deepfort.proto",
        ],
        cwd=tmp_path,
        check=True,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
    )
    for name in GENERATED:
        fresh = (tmp_path / "deepfort/cluster" / name).read_text()
        committed = (ROOT / "deepfort/cluster" / name).read_text()
        assert fresh == committed, f"{name} is stale: run `make proto`"
