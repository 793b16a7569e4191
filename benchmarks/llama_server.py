"""llama.cpp's own ``llama-server``, built from the llama.cpp sources vendored in the llama-cpp-python sdist
of the version deepfort runs, so that both servers run the same llama.cpp.

The sdist comes from the package index (``pip download --no-binary``); the build uses ``-DGGML_NATIVE=OFF``
like deepfort's own llama-cpp-python (see the Makefile), no web UI download, no HTTPS, and the
``llama-server`` target only. The binary is kept under ``.cache/llama-server/<version>/`` (ignored by git)
and reused.

    python benchmarks/llama_server.py          # build if missing, print the binary's path
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "llama-server"

CMAKE_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def binary_path(lcp_version: str | None = None) -> Path:
    return CACHE / (lcp_version or version("llama-cpp-python")) / "build" / "bin" / "llama-server"


def ensure_built(lcp_version: str | None = None) -> Path:
    """The path of a ``llama-server`` built from llama-cpp-python ``lcp_version``'s vendored llama.cpp."""
    lcp_version = lcp_version or version("llama-cpp-python")
    binary = binary_path(lcp_version)
    if binary.exists():
        return binary
    home = CACHE / lcp_version
    home.mkdir(parents=True, exist_ok=True)
    sdist = home / f"llama_cpp_python-{lcp_version}.tar.gz"
    if not sdist.exists():
        _log(f"downloading the llama-cpp-python {lcp_version} sdist")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"llama-cpp-python=={lcp_version}",
                "-d",
                str(home),
            ],
            check=True,
        )
    source = home / "llama.cpp"
    if not source.exists():
        prefix = f"llama_cpp_python-{lcp_version}/vendor/llama.cpp/"
        staging = home / "extract"
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
            tar.extractall(staging, members=members, filter="data")
        (staging / prefix).rename(source)
        shutil.rmtree(staging)
    build = home / "build"
    jobs = str(os.cpu_count() or 1)
    _log(f"building llama-server in {build} (a few minutes)")
    subprocess.run(["cmake", "-S", str(source), "-B", str(build), *CMAKE_FLAGS], check=True)
    subprocess.run(["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs], check=True)
    if not binary.exists():
        raise SystemExit(f"the build finished without {binary}")
    return binary


if __name__ == "__main__":
    print(ensure_built())
