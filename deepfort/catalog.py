"""Which models exist: the embedded one, those in the config, and those registered with ``models add``.

The registry is a JSON file in the data directory. ``models add`` records a GGUF by path (no copy unless
asked) with its metadata, so that ``deepfort serve --model ID`` and a bare ``deepfort serve`` find it.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, TypeAdapter

from deepfort.config import EMBEDDED_MODEL_ID, ModelConfig, Settings, embedded_model_path
from deepfort.errors import ConfigError

__all__ = ["embedded_model_path"]  # where the embedded GGUF lives is a settings fact; callers ask here


def embedded_model_config() -> ModelConfig:
    return ModelConfig(id=EMBEDDED_MODEL_ID, path=None, n_ctx=4096, aliases=["smollm2"])


class RegisteredModel(ModelConfig):
    added_at: str = Field(description="When `models add` recorded it (UTC, ISO 8601).")
    metadata: dict[str, str] = Field(default_factory=dict, description="GGUF metadata (short values only).")


_REGISTRY = TypeAdapter(list[RegisteredModel])


def registry_path(data_dir: Path) -> Path:
    return data_dir / "models.json"


def list_registered(data_dir: Path) -> list[RegisteredModel]:
    path = registry_path(data_dir)
    if not path.is_file():
        return []
    try:
        return _REGISTRY.validate_json(path.read_bytes())
    except ValueError as exc:
        raise ConfigError(f"model registry {path} is damaged: {exc}") from exc


def _save(data_dir: Path, models: list[RegisteredModel]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = registry_path(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(_REGISTRY.dump_json(models, indent=2))
    tmp.replace(path)  # atomic: a crash never leaves half a registry


def read_gguf_metadata(path: Path) -> dict[str, str]:
    """Load only the vocabulary of a GGUF (fast) to prove llama.cpp can read it, and return its metadata."""
    from deepfort.engines.llamacpp.model import LlamaModel

    model = LlamaModel(path, vocab_only=True)
    try:
        return {
            k: v for k, v in model.metadata.items() if len(v) <= 256 and not k.startswith("tokenizer.ggml.")
        }
    finally:
        model.close()


def add_model(
    data_dir: Path,
    path: Path,
    *,
    model_id: str | None = None,
    copy: bool = False,
    **options: object,
) -> RegisteredModel:
    path = path.expanduser().resolve()
    metadata = read_gguf_metadata(path)
    model_id = model_id or path.stem.lower()
    known = list_registered(data_dir)
    if model_id == EMBEDDED_MODEL_ID or any(model_id in m.names for m in known):
        raise ConfigError(f"a model named {model_id!r} is already registered")
    if copy:
        target = data_dir / "models" / path.name
        if target.exists():
            raise ConfigError(f"{target} already exists; another model was copied under that file name")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        path = target
    entry = RegisteredModel.model_validate(
        {
            "id": model_id,
            "path": path,
            "added_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "metadata": metadata,
            **options,
        }
    )
    _save(data_dir, [*known, entry])
    return entry


def remove_model(data_dir: Path, model_id: str) -> RegisteredModel:
    known = list_registered(data_dir)
    for entry in known:
        if model_id in entry.names:
            _save(data_dir, [m for m in known if m is not entry])
            return entry
    raise ConfigError(f"no registered model named {model_id!r}")


def _as_config(entry: RegisteredModel) -> ModelConfig:
    return ModelConfig.model_validate(entry.model_dump(exclude={"added_at", "metadata"}))


def resolve_models(settings: Settings, requested: list[str]) -> list[ModelConfig]:
    """The models ``deepfort serve`` loads: config + ``--model`` flags, or by default the embedded model
    plus every registered one. Models served by an upstream do not count as local: a config that lists
    only those still gets the local defaults (an edge needs a model of its own)."""
    registered = list_registered(settings.data_dir)
    if not any(m.upstream is None for m in settings.models) and not requested:
        return [*settings.models, embedded_model_config(), *(_as_config(m) for m in registered)]
    out = list(settings.models)
    for item in requested:
        path = Path(item).expanduser()
        if path.is_file():
            out.append(ModelConfig(id=path.stem.lower(), path=path.resolve()))
            continue
        if item in embedded_model_config().names:
            out.append(embedded_model_config())
            continue
        match = next((m for m in registered if item in m.names), None)
        if match is None:
            known = [EMBEDDED_MODEL_ID, *(m.id for m in registered)]
            raise ConfigError(
                f"--model {item!r} is neither a GGUF file nor a known model id ({', '.join(known)})"
            )
        out.append(_as_config(match))
    names = [n for m in out for n in m.names]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"model names used twice: {', '.join(dupes)}")
    return out
