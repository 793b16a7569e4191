"""Settings: one tree, loaded from defaults < YAML file < ``DEEPFORT_*`` environment < CLI flags.

Nested keys use a double underscore in the environment: ``DEEPFORT_SERVER__PORT=9000``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from deepfort.errors import ConfigError

EMBEDDED_MODEL_ID = "smollm2-135m"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "deepfort"


class ModelConfig(BaseModel):
    """One model to serve. ``path: null`` means the embedded SmolLM2-135M-Instruct GGUF."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Model id clients send in the `model` field.", min_length=1)
    path: Path | None = Field(default=None, description="GGUF file; null for the embedded model.")
    n_ctx: int = Field(default=4096, ge=64, description="Context length of one sequence, in tokens.")
    n_threads: int | None = Field(default=None, ge=1, description="Decode threads; default: all cores.")
    n_threads_batch: int | None = Field(default=None, ge=1, description="Prompt threads; default: n_threads.")
    n_batch: int = Field(default=512, ge=16, description="Most tokens sent to llama_decode in one step.")
    n_parallel: int = Field(default=4, ge=1, le=256, description="Sequences decoded together (slots).")
    kv_cells: int | None = Field(
        default=None,
        ge=64,
        description="KV cache cells shared by all slots; default n_ctx * n_parallel. Fewer cells save "
        "memory: requests then wait (or the newest is preempted) until cells free up.",
    )
    prefill_chunk: int = Field(
        default=256, ge=16, description="Most prompt tokens computed in a step while other streams decode."
    )
    queue_size: int | None = Field(
        default=None, ge=0, description="Requests that may wait for a slot; default: server.queue_size."
    )
    chat_template: str | None = Field(
        default=None, description="A Jinja chat template overriding the one stored in the GGUF."
    )
    reasoning_parser: str | None = Field(
        default=None, description="Split reasoning from the answer, e.g. `deepseek_r1`."
    )
    aliases: list[str] = Field(default_factory=list, description="Further ids that name this model.")

    @property
    def names(self) -> list[str]:
        return [self.id, *self.aliases]


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: int = Field(default=8080, ge=0, le=65535, description="TCP port to listen on.")
    queue_size: int = Field(
        default=64, ge=0, description="Requests that may wait for a free slot, per model; more get 503."
    )
    retry_after_s: int = Field(
        default=1, ge=1, description="Retry-After sent with 503 when the queue is full."
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest request body; 413 over."
    )
    max_n: int = Field(default=8, ge=1, description="Largest `n` (choices per request) accepted.")
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")


class Settings(BaseSettings):
    """Everything deepfort reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="DEEPFORT_",
        env_nested_delimiter="__",
        extra="forbid",
        yaml_file=None,
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    models: list[ModelConfig] = Field(
        default_factory=list,
        description="Models to serve; empty means the embedded model plus those added with `models add`.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir, description="Where deepfort keeps its registry and state."
    )

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[ModelConfig]) -> list[ModelConfig]:
        seen: set[str] = set()
        for model in models:
            for name in model.names:
                if name in seen:
                    raise ValueError(f"model name {name!r} is used twice")
                seen.add(name)
        return models

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))


def load_settings(config_path: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` (from CLI flags) win over env, which wins over the YAML file."""
    if config_path is not None and not config_path.is_file():
        raise ConfigError(f"config file not found: {config_path}")
    cls: type[Settings] = Settings
    if config_path is not None:
        config = SettingsConfigDict(**{**Settings.model_config, "yaml_file": config_path})
        cls = type("FileSettings", (Settings,), {"model_config": config})
    try:
        return cls(**overrides)
    except ValueError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
