"""promtool (Debian's `prometheus` package, installed by `make tools`): Prometheus' own config and PromQL
checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary is not None, "promtool is missing: `make tools` installs it (Debian package prometheus)"
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)
