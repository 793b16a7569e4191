"""Merge GGUF LoRA adapters into a GGUF base model, with the ``gguf`` package and numpy only (no torch,
no llama.cpp tool): what llama.cpp's ``llama-export-lora`` does, in this process.

The update is the one llama.cpp applies at run time (``llm_graph_context::build_lora_mm`` in
``llama-graph.cpp``, the scale from ``llama_adapter_lora_weight::get_scale``)::

    W' = W + scale * alpha / rank * B @ A      (rank = lora_b's ne[0]; alpha 0 means no alpha/rank factor)

GGUF dims are the numpy shape reversed: a weight with ne ``[in, out]`` is read as ``out x in``,
``lora_a`` (ne ``[in, rank]``) as ``rank x in`` and ``lora_b`` (ne ``[rank, out]``) as ``out x rank``,
so ``B @ A`` has the weight's numpy shape; expert tensors carry a leading expert axis and ``@`` merges
each expert with its own pair. ``token_embd.weight`` is the exception llama.cpp makes
(``build_inp_embd``): its pair is stored flipped, ``A`` as ``n_vocab x rank`` and ``B`` as
``n_embd x rank``, and the update of the embedding rows is ``A @ B.T``.

Every other tensor is copied byte for byte and every metadata key unchanged (``general.file_type`` too:
a Q4_1 base stays "mostly Q4_1"). Adapted tensors are written in f32 when the base tensor is f32 and in
f16 otherwise (llama-export-lora's rule), or in the type asked for. Tensors are merged one at a time
from the memory-mapped files, so memory stays at about one dequantized tensor, and the output is a
temporary file renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gguf
import numpy as np
import numpy.typing as npt

from deepfort.errors import ConfigError

__all__ = ["AdapterSpec", "MergeResult", "OutType", "merge_lora"]

OutType = Literal["auto", "f16", "f32"]
ProgressFn = Callable[[int, int, str], None]
"""Told ``(done, total, tensor)`` after each tensor written."""

_TOKEN_EMBD = "token_embd.weight"
_ALORA = "adapter.alora.invocation_tokens"


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    """One adapter and the scale it is applied with (llama-server's ``--lora-scaled FILE SCALE``)."""

    path: Path
    scale: float = 1.0

    @classmethod
    def parse(cls, text: str) -> AdapterSpec:
        """``ADAPTER`` or ``ADAPTER:SCALE``; a colon followed by anything but a number is part of the
        path."""
        path, sep, scale = text.rpartition(":")
        if sep and path:
            try:
                return cls(Path(path), float(scale))
            except ValueError:
                pass
        return cls(Path(text))


@dataclass(frozen=True, slots=True)
class MergeResult:
    out: Path
    merged: tuple[str, ...]
    """The base tensors that changed, in file order."""
    skipped: tuple[str, ...]
    """Adapter tensors llama.cpp ignores too (``*_norm.weight``)."""


@dataclass(frozen=True, slots=True)
class _Pair:
    a: Any  # gguf.ReaderTensor
    b: Any
    factor: float
    """``scale * alpha / rank`` (or ``scale`` when alpha is 0), as llama.cpp computes it."""


def _field(reader: gguf.GGUFReader, key: str) -> Any:
    field = reader.fields.get(key)
    return None if field is None else field.contents()


def _open(path: Path, what: str) -> gguf.GGUFReader:
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a directory, not a GGUF file")
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        return gguf.GGUFReader(path)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{what} {path} is not a readable GGUF file: {exc}") from None


def _array(tensor: Any) -> npt.NDArray[np.float32]:
    """A copy of a tensor of any GGML type as float32, in its numpy shape (the GGUF dims reversed)."""
    data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    return np.array(data, dtype=np.float32).reshape(_shape(tensor))


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in reversed(tensor.shape))


def _out_dtype(tensor: Any, out: OutType) -> type[np.float32] | type[np.float16]:
    """What an adapted tensor is written as: f32 when asked, or when the base tensor is f32 and the type
    is ``auto``; f16 otherwise."""
    keep_f32 = out == "auto" and tensor.tensor_type == gguf.GGMLQuantizationType.F32
    return np.float32 if out == "f32" or keep_f32 else np.float16


def _ne(tensor: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in tensor.shape)


def _read_adapter(
    spec: AdapterSpec, arch: str, base: dict[str, Any]
) -> tuple[dict[str, _Pair], list[str], gguf.GGUFReader]:
    """The adapter's pairs by base tensor name, checked against the base as ``llama-adapter.cpp`` checks
    them, and the tensors it skips."""
    reader = _open(spec.path, "LoRA adapter")
    where = spec.path
    if (
        _field(reader, gguf.Keys.General.TYPE) != "adapter"
        or _field(reader, gguf.Keys.Adapter.TYPE) != "lora"
    ):
        raise ConfigError(f"{where} is not a GGUF LoRA adapter (general.type adapter, adapter.type lora)")
    if (adapter_arch := _field(reader, gguf.Keys.General.ARCHITECTURE)) != arch:
        raise ConfigError(f"{where} is an adapter for {adapter_arch!r} models; the base model is {arch!r}")
    if _ALORA in reader.fields:
        raise ConfigError(
            f"{where} is an activated LoRA (aLoRA): it applies only after its invocation tokens, so it "
            "cannot be merged into the weights; load it at run time instead"
        )
    alpha = float(_field(reader, gguf.Keys.Adapter.LORA_ALPHA) or 0.0)
    halves: dict[str, dict[str, Any]] = {}
    skipped = []
    for tensor in reader.tensors:
        name = tensor.name
        if name.endswith((".lora_a", ".lora_b")):
            halves.setdefault(name[: -len(".lora_a")], {})[name[-1]] = tensor
        elif name.endswith("_norm.weight"):
            skipped.append(name)  # llama.cpp loads no norm vectors from an adapter either
        else:
            raise ConfigError(f"{where}: tensor {name} is neither a .lora_a nor a .lora_b")
    pairs: dict[str, _Pair] = {}
    for name, half in halves.items():
        if set(half) != {"a", "b"}:
            raise ConfigError(f"{where}: {name} has only one of .lora_a and .lora_b")
        if name not in base:
            raise ConfigError(f"{where}: the base model has no tensor {name} (another base model?)")
        a, b, w = _ne(half["a"]), _ne(half["b"]), _ne(base[name])
        if name == _TOKEN_EMBD:
            fits = w[0] == b[1] and w[1] == a[1] and a[0] == b[0]
        else:
            fits = w[0] == a[0] and w[1] == b[1] and a[1] == b[0] and a[2:] == b[2:] == w[2:]
        if not fits:
            raise ConfigError(
                f"{where}: {name}.lora_a {list(a)} and .lora_b {list(b)} do not fit the base tensor "
                f"{list(w)} (another base model?)"
            )
        rank = b[0]
        factor = spec.scale * alpha / rank if alpha else spec.scale
        pairs[name] = _Pair(half["a"], half["b"], factor)
    return pairs, skipped, reader


def _merged(base: Any, pairs: Sequence[_Pair], out: OutType) -> npt.NDArray[Any]:
    weight = _array(base)
    for pair in pairs:
        a, b = _array(pair.a), _array(pair.b)
        delta = a @ b.T if base.name == _TOKEN_EMBD else b @ a
        weight += np.float32(pair.factor) * delta
    return np.ascontiguousarray(weight, dtype=_out_dtype(base, out))


def merge_lora(
    base_path: Path,
    adapters: Sequence[AdapterSpec],
    out: Path,
    *,
    out_type: OutType = "auto",
    progress: ProgressFn | None = None,
) -> MergeResult:
    """Write ``base_path`` with ``adapters`` merged into its weights to ``out`` (replaced if it exists).
    Several adapters add up, as llama.cpp applies them together. Raises ConfigError for a file that is
    not what it should be or an adapter that does not fit the base model."""
    if not adapters:
        raise ConfigError("no LoRA adapter to merge")
    reader = _open(base_path, "base model")
    if _field(reader, gguf.Keys.General.TYPE) == "adapter":
        raise ConfigError(f"{base_path} is a LoRA adapter, not a model")
    if int(_field(reader, gguf.Keys.Split.LLM_KV_SPLIT_COUNT) or 1) > 1:
        raise ConfigError(f"{base_path} is one shard of a split model; join it first (gguf-split --merge)")
    arch = str(_field(reader, gguf.Keys.General.ARCHITECTURE))
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    by_tensor: dict[str, list[_Pair]] = {}
    skipped: list[str] = []
    readers = []  # kept open (memory-mapped) until the merge is written
    for spec in adapters:
        pairs, skips, adapter_reader = _read_adapter(spec, arch, tensors)
        readers.append(adapter_reader)
        skipped += skips
        for name, pair in pairs.items():
            by_tensor.setdefault(name, []).append(pair)
    if not out.parent.is_dir():
        raise ConfigError(f"output directory not found: {out.parent}")
    if out.exists() and out.resolve() in {base_path.resolve(), *(s.path.resolve() for s in adapters)}:
        raise ConfigError("the output would overwrite an input; name another file")

    handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(handle)
    partial = Path(name)
    try:
        _write(reader, arch, by_tensor, partial, out_type, progress)
        os.replace(partial, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    merged = tuple(t.name for t in reader.tensors if t.name in by_tensor)
    return MergeResult(out=out, merged=merged, skipped=tuple(skipped))


def _write(
    reader: gguf.GGUFReader,
    arch: str,
    by_tensor: dict[str, list[_Pair]],
    out: Path,
    out_type: OutType,
    progress: ProgressFn | None,
) -> None:
    writer = gguf.GGUFWriter(out, arch, endianess=reader.endianess)
    if (alignment := _field(reader, gguf.Keys.General.ALIGNMENT)) is not None:
        writer.data_alignment = int(alignment)
    for key, field in reader.fields.items():
        # GGUF.* are the reader's view of the header; the writer writes the architecture itself
        if key.startswith("GGUF.") or key == gguf.Keys.General.ARCHITECTURE:
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type)

    for tensor in reader.tensors:
        if tensor.name in by_tensor:
            dtype = np.dtype(_out_dtype(tensor, out_type))
            shape = _shape(tensor)
            writer.add_tensor_info(tensor.name, shape, dtype, int(np.prod(shape)) * dtype.itemsize)
        else:
            writer.add_tensor_info(
                tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type
            )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    total = len(reader.tensors)
    for done, tensor in enumerate(reader.tensors, start=1):
        if tensor.name in by_tensor:  # computed here, in this machine's byte order
            writer.write_tensor_data(_merged(tensor, by_tensor[tensor.name], out_type))
        else:
            writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
        if progress is not None:
            progress(done, total, tensor.name)
    writer.close()
