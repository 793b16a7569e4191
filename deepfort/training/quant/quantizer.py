"""GGUF to GGUF through llama.cpp's ``llama_model_quantize``, run in a child process
(:mod:`deepfort.training.quant.worker`) that writes a temporary file next to the output; the file is
renamed onto the output only when llama.cpp succeeded, so a failure or Ctrl-C never leaves a half-written
model behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from deepfort.engines.llamacpp.model import LlamaModel
from deepfort.errors import ConfigError, DeepfortError
from deepfort.training.quant.types import UNQUANTIZED, QuantType, file_type_name

__all__ = ["HF_DIRECTORY_HELP", "QuantizeError", "check_input", "input_file_type", "quantize_file"]

ProgressFn = Callable[[int, int, str], None]
"""Told ``(done, total, tensor)`` after each tensor."""

HF_DIRECTORY_HELP = (
    "deepfort quantizes GGUF files; it does not convert Hugging Face checkpoints, because no maintained "
    "converter is installable from PyPI (the `gguf` package reads and writes GGUF but has no converter "
    "for whole models, and llama.cpp's convert_hf_to_gguf.py is not published there). Convert with "
    "llama.cpp's own script, from the llama.cpp checkout that llama-cpp-python 0.3.36 vendors "
    "(git clone --recursive https://github.com/abetlen/llama-cpp-python -b v0.3.36; its vendor/llama.cpp): "
    "pip install -r vendor/llama.cpp/requirements/requirements-convert_hf_to_gguf.txt; "
    "python vendor/llama.cpp/convert_hf_to_gguf.py HF_DIR --outtype f16 --outfile model-f16.gguf; "
    "then deepfort quantize model-f16.gguf OUT.gguf --type q8_0"
)


class QuantizeError(DeepfortError):
    """llama.cpp refused or failed to quantize (the message is its reason)."""


def input_file_type(path: Path) -> int | None:
    """The input's ``general.file_type`` (None when the file does not say), read with its vocabulary
    only. Raises ConfigError for a missing file, a directory (with what to run instead) or not a GGUF."""
    if path.is_dir():
        raise ConfigError(f"{path} is a directory. {HF_DIRECTORY_HELP}")
    if not path.exists():
        raise ConfigError(f"input model not found: {path}")
    model = LlamaModel(path, vocab_only=True)
    try:
        raw = model.metadata.get("general.file_type")
    finally:
        model.close()
    return int(raw) if raw is not None and raw.isdigit() else None


def check_input(path: Path, target: QuantType, *, allow_requantize: bool) -> int | None:
    """The input's file type, once it is a GGUF we may quantize to ``target``: an already quantized file
    is refused unless ``allow_requantize``, saying why that loses quality."""
    ftype = input_file_type(path)
    if ftype is not None and ftype not in UNQUANTIZED and not allow_requantize:
        name = file_type_name(ftype)
        raise ConfigError(
            f"{path} is already quantized ({name}). Quantizing it again to {target.name.upper()} rounds "
            f"weights that were already rounded to {name}: the two errors add up, so the result is worse "
            f"than {target.name.upper()} made from the original f16/bf16/f32 weights, and no better than "
            f"{name} even at more bits. Quantize from the unquantized GGUF if you have it, or pass "
            "--allow-requantize to do it anyway."
        )
    return ftype


def quantize_file(
    source: Path,
    target: Path,
    qtype: QuantType,
    *,
    threads: int,
    allow_requantize: bool,
    progress: ProgressFn | None = None,
) -> int | None:
    """Quantize ``source`` into ``target`` (replaced if it exists) and return the input's file type.
    Raises ConfigError for bad paths, QuantizeError with llama.cpp's reason when it fails;
    KeyboardInterrupt stops the child and removes the temporary file."""
    ftype = check_input(source, qtype, allow_requantize=allow_requantize)
    if not target.parent.is_dir():
        raise ConfigError(f"output directory not found: {target.parent}")
    if target.exists() and target.resolve() == source.resolve():
        raise ConfigError("the output would overwrite the input; name another file")
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    partial = Path(name)
    try:
        _run_worker(source, partial, qtype, threads, allow_requantize, progress)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return ftype


def _run_worker(
    source: Path,
    partial: Path,
    qtype: QuantType,
    threads: int,
    allow_requantize: bool,
    progress: ProgressFn | None,
) -> None:
    request = {
        "input": str(source),
        "output": str(partial),
        "ftype": qtype.ftype,
        "threads": threads,
        "allow_requantize": allow_requantize,
    }
    command = [sys.executable, "-m", "deepfort.training.quant.worker", json.dumps(request)]
    result: dict[str, object] = {}
    # stderr (only an abort writes there: the worker takes llama.cpp's log) goes to a file, so a full
    # pipe can never block the child while we read its progress.
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, encoding="utf-8"
        ) as child,
    ):
        try:
            assert child.stdout is not None
            for line in child.stdout:
                message = json.loads(line)
                if "done" in message and progress is not None:
                    progress(int(message["done"]), int(message["total"]), str(message["tensor"]))
                elif "done" not in message:
                    result = message
            child.wait()
            errors.seek(0)
            stderr = errors.read().decode("utf-8", "replace")
        except BaseException:
            child.kill()
            child.wait()
            raise
    if "error" in result:
        raise QuantizeError(f"llama.cpp could not quantize {source}: {result['error']}")
    if child.returncode != 0 or not result.get("ok"):
        tail = stderr.strip()[-500:] or "no message"
        raise QuantizeError(f"the quantizer exited with status {child.returncode}: {tail}")
