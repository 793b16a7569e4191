"""``python -m deepfort.training.quant.worker REQUEST_JSON``: one ``llama_model_quantize`` call in its own
process, so that Ctrl-C (or a llama.cpp abort) ends it without taking the caller with it.

It writes one JSON object per line on stdout: ``{"done": i, "total": n, "tensor": name}`` per tensor as
llama.cpp reports it, then ``{"ok": true}`` or ``{"error": message}``. The request names the input, the
output (the caller's temporary file), the ftype, the threads and whether requantizing is allowed.
"""

from __future__ import annotations

import ctypes
import json
import re
import sys
from typing import Any

import llama_cpp as lc

_PROGRESS = re.compile(r"\[\s*(\d+)/\s*(\d+)\]\s+(\S+)")
_FAILED = re.compile(r"failed to quantize: (.+)")


def _emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class _Log:
    """llama.cpp's log lines, read for tensor progress and the reason of a failure."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.callback = lc.llama_log_callback(self._on_log)

    def _on_log(self, level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", "replace")
        if (progress := _PROGRESS.search(line)) is not None:
            done, total, tensor = progress.groups()
            _emit({"done": int(done), "total": int(total), "tensor": tensor})
        if (failed := _FAILED.search(line)) is not None:
            self.error = failed.group(1).strip()


def quantize(request: dict[str, Any]) -> dict[str, Any]:
    log = _Log()
    lc.llama_log_set(log.callback, ctypes.c_void_p(0))
    lc.llama_backend_init()
    params = lc.llama_model_quantize_default_params()
    params.ftype = int(request["ftype"])
    params.nthread = int(request["threads"])
    params.allow_requantize = bool(request["allow_requantize"])
    status = lc.llama_model_quantize(
        str(request["input"]).encode(), str(request["output"]).encode(), ctypes.byref(params)
    )
    if status != 0:
        return {"error": log.error or f"llama_model_quantize returned {status}"}
    return {"ok": True}


def main() -> None:
    _emit(quantize(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
