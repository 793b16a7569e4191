"""``deepfort doctor``: hardware, model fit, the DeepSeek-R1 hardware table and the checks."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from deepfort.catalog import embedded_model_path, read_gguf_metadata
from deepfort.doctor import recommend
from deepfort.doctor.gguf import GgufError, read_metadata
from deepfort.doctor.hardware import probe_gpus
from tests.cli.conftest import RunCli
from tests.conftest import Server, free_port

HAS_NVIDIA = Path("/dev/nvidiactl").exists()


@pytest.fixture
def port(monkeypatch: pytest.MonkeyPatch) -> int:
    """The server port doctor checks: a free one, so that the machine's own 8080 does not matter."""
    number = free_port()
    monkeypatch.setenv("DEEPFORT_SERVER__PORT", str(number))
    return number


def doctor_json(cli: RunCli, *args: str, exit_code: int = 0) -> dict[str, Any]:
    result = cli("doctor", "--json", *args)
    assert result.exit_code == exit_code, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    assert out["ok"] is (exit_code == 0)
    return out


def check(out: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in out["checks"] if c["name"] == name]
    assert len(found) == 1, out["checks"]
    return found[0]


def test_this_machine(cli: RunCli, port: int) -> None:
    out = doctor_json(cli)
    # This development machine has 2 CPUs; the assertion holds wherever the test runs.
    assert out["cpu"]["logical_cores"] == os.cpu_count()
    assert out["cpu"]["avx2"] is ("avx2" in Path("/proc/cpuinfo").read_text())
    assert out["memory"]["available_bytes"] <= out["memory"]["total_bytes"]
    if not HAS_NVIDIA:
        assert out["gpu"]["devices"] == []
        assert out["gpu"]["error"]
    [model] = out["models"]
    assert (model["id"], model["kind"], model["fits"]) == ("smollm2-135m", "local", True)
    assert model["weights_bytes"] == embedded_model_path().stat().st_size
    slots = min(64, max(4, 8 * (os.cpu_count() or 1)))  # the default: 8 per core
    # A full context per slot, each in its own stream, when a quarter of the memory holds them.
    assert (model["n_parallel"], model["kv_cells"], model["kv_unified"]) == (slots, 4096 * slots, False)
    assert 4 <= model["max_slots"] <= 256
    assert {c["name"]: c["status"] for c in out["checks"]} == {
        "model file smollm2-135m": "ok",
        "memory": "ok",
        "server port": "ok",
        "cluster keyring": "ok",
        "master keys": "ok",
        "data dir": "ok",
        "database": "ok",
    }
    assert f"127.0.0.1:{port} is free" in check(out, "server port")["detail"]


def test_kv_size_follows_the_models_own_metadata(cli: RunCli, port: int) -> None:
    """Our header reader agrees with llama.cpp, and the KV estimate is 2 * layers * (n_embd / n_head *
    n_head_kv) * 2 bytes per cell."""
    ours = read_metadata(embedded_model_path())
    llama = read_gguf_metadata(embedded_model_path())
    for key in ("block_count", "embedding_length", "attention.head_count", "attention.head_count_kv"):
        assert str(ours[f"llama.{key}"]) == llama[f"llama.{key}"]
    n_layer, n_embd = int(llama["llama.block_count"]), int(llama["llama.embedding_length"])
    n_head, n_head_kv = int(llama["llama.attention.head_count"]), int(llama["llama.attention.head_count_kv"])
    [model] = doctor_json(cli)["models"]
    assert model["kv_bytes_per_cell"] == 2 * n_layer * (n_embd // n_head * n_head_kv) * 2
    assert model["kv_bytes"] == model["kv_bytes_per_cell"] * model["kv_cells"]


def test_gguf_reader_refuses_other_files(tmp_path: Path) -> None:
    text = tmp_path / "model.gguf"
    text.write_text("not a model")
    with pytest.raises(GgufError, match="does not start with GGUF"):
        read_metadata(text)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(embedded_model_path().read_bytes()[:2000])
    with pytest.raises(GgufError, match="ends inside its header"):
        read_metadata(cut)


@pytest.mark.parametrize("file", ["cluster-keyring.json", "master.keys"])
@pytest.mark.parametrize(("mode", "status"), [(0o644, "fail"), (0o640, "fail"), (0o600, "ok")])
def test_key_file_modes(cli: RunCli, data_dir: Path, port: int, file: str, mode: int, status: str) -> None:
    data_dir.mkdir()
    path = data_dir / file
    path.write_text("{}")
    path.chmod(mode)
    out = doctor_json(cli, exit_code=1 if status == "fail" else 0)
    found = check(out, {"cluster-keyring.json": "cluster keyring", "master.keys": "master keys"}[file])
    assert found["status"] == status
    if status == "fail":
        assert f"mode {mode:04o}" in found["detail"]
        assert found["hint"] == f"chmod 600 {path}"


def test_a_configured_keyring_must_exist(cli: RunCli, tmp_path: Path, port: int) -> None:
    config = tmp_path / "deepfort.yaml"
    config.write_text(yaml.safe_dump({"cluster": {"keyring": str(tmp_path / "missing.json")}}))
    out = doctor_json(cli, "--config", str(config), exit_code=1)
    assert check(out, "cluster keyring")["status"] == "fail"


def test_a_taken_port(cli: RunCli, port: int) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        out = doctor_json(cli, exit_code=1)
    found = check(out, "server port")
    assert found["status"] == "fail"
    assert f"127.0.0.1:{port} is taken by pid {os.getpid()}" in found["detail"]
    assert found["hint"] == "stop it or choose another server.port"


def test_center_checks_its_grpc_port_too(cli: RunCli, port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    grpc_port = free_port()
    monkeypatch.setenv("DEEPFORT_ROLE", "center")
    monkeypatch.setenv("DEEPFORT_CLUSTER__GRPC_PORT", str(grpc_port))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", grpc_port))
        holder.listen()
        out = doctor_json(cli, exit_code=1)
    assert check(out, "server port")["status"] == "ok"
    assert check(out, "gRPC port")["status"] == "fail"


@pytest.mark.slow
def test_a_port_deepfort_already_serves(cli: RunCli, server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFORT_SERVER__PORT", server.base_url.rsplit(":", 1)[1])
    out = doctor_json(cli)
    found = check(out, "server port")
    assert found["status"] == "ok"
    assert f"in use by deepfort (pid {server.process.pid})" in found["detail"]


def test_unreachable_postgresql(cli: RunCli, port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFORT_STORE__URL", "postgresql+psycopg://deepfort:s3cret@127.0.0.1:1/deepfort")
    out = doctor_json(cli, exit_code=1)
    found = check(out, "database")
    assert found["status"] == "fail"
    assert "127.0.0.1:1" in found["hint"] and "store.url" in found["hint"]
    assert "s3cret" not in json.dumps(out)


def test_unreachable_redis(cli: RunCli, port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFORT_SECURITY__REDIS_URL", "redis://127.0.0.1:1/0")
    found = check(doctor_json(cli, exit_code=1), "redis")
    assert found["status"] == "fail"
    assert "security.redis_url" in found["hint"]


def test_sqlite_files(cli: RunCli, data_dir: Path, port: int) -> None:
    data_dir.mkdir()
    db = data_dir / "deepfort.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (x)")
    conn.close()
    before = db.read_bytes()
    assert check(doctor_json(cli), "database")["detail"] == f"SQLite {db} (1 schema objects)"
    assert db.read_bytes() == before  # opened read-only
    db.write_bytes(b"garbage" * 1000)
    found = check(doctor_json(cli, exit_code=1), "database")
    assert found["status"] == "fail"
    assert "not a database" in found["detail"]


def test_models_from_a_config(cli: RunCli, tmp_path: Path, port: int) -> None:
    text = tmp_path / "fake.gguf"
    text.write_text("this is not a model")
    settings = {
        "models": [
            {"id": "small", "path": None, "n_ctx": 1024, "n_parallel": 2},
            {"id": "fake", "path": str(text)},
            {"id": "deepseek-r1", "upstream": "http://vllm:8000/v1"},
        ]
    }
    config = tmp_path / "deepfort.yaml"
    config.write_text(yaml.safe_dump(settings))
    out = doctor_json(cli, "--config", str(config), exit_code=1)
    models = {m["id"]: m for m in out["models"]}
    assert models["small"]["fits"] is True and models["small"]["kv_cells"] == 2048
    assert models["small"]["kv_unified"] is False
    assert models["fake"]["fits"] is None and "does not start with GGUF" in models["fake"]["error"]
    remote = models["deepseek-r1"]
    assert (remote["kind"], remote["upstream"], remote["fits"]) == ("remote", "http://vllm:8000/v1", None)
    assert check(out, "model file fake")["status"] == "fail"
    assert check(out, "model file small")["status"] == "ok"
    assert "model file deepseek-r1" not in {c["name"] for c in out["checks"]}


def test_recommendation_table(cli: RunCli, port: int) -> None:
    assert recommend.seed_hardware() == {"minimum": "1x A100 40GB", "recommended": "2x H100 80GB"}
    out = doctor_json(cli)["recommendations"]
    assert out["seed"] == {"minimum": "1x A100 40GB", "recommended": "2x H100 80GB"}
    assert "estimates" in out["note"]
    rows = {(r["short"], r["quant"]): r for r in out["rows"]}
    assert set(rows) >= {("R1 671B MoE", "FP8"), ("R1 671B MoE", "Q4_K_M"), ("Qwen-1.5B", "FP16")}
    for name in ("Llama-70B", "Qwen-32B", "Qwen-14B", "Llama-8B", "Qwen-7B", "Qwen-1.5B"):
        assert {q for m, q in rows if m == name} == {"FP16", "Q8_0", "Q4_K_M"}
    assert rows[("Qwen-32B", "FP16")]["weights_gb"] == pytest.approx(32.8 * 2, abs=0.05)
    assert rows[("R1 671B MoE", "FP8")]["min_gpu_tier"] == "8x H200 141GB"
    assert rows[("Qwen-14B", "FP16")]["min_gpu_tier"] == "1x A100 40GB"
    seventy = rows[("Llama-70B", "Q8_0")]["fits"]
    assert "2x H100 80GB" in seventy and "1x A100 40GB" not in seventy
    assert [t["name"] for t in out["tiers"]][1:] == [t.name for t in recommend.GPU_TIERS]
    assert out["tiers"][0]["gpus"] == 0 and out["tiers"][0]["name"].startswith("CPU-only")


def test_which_rows_a_machine_runs() -> None:
    gb = recommend.GB
    cpu_only = {(r.short, r.quant): r.here for r in recommend.recommend(16 * gb, 0)}
    assert cpu_only[("Qwen-7B", "Q4_K_M")] == "cpu"
    assert cpu_only[("Qwen-32B", "Q4_K_M")] is None
    two_h100 = {(r.short, r.quant): r.here for r in recommend.recommend(16 * gb, 160 * gb)}
    assert two_h100[("Llama-70B", "Q8_0")] == "gpu"
    assert two_h100[("R1 671B MoE", "Q4_K_M")] is None


def _fake_nvml(fail_init: bool = False) -> ModuleType:
    """NVML as ``pynvml`` shows it on a machine with one H100, or without a driver."""
    nvml = ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    class Memory:
        total, free = 80 * 1024**3, 79 * 1024**3

    def init() -> None:
        if fail_init:
            raise NVMLError("NVML Shared Library Not Found")

    calls = {
        "NVMLError": NVMLError,
        "nvmlInit": init,
        "nvmlShutdown": lambda: None,
        "nvmlSystemGetDriverVersion": lambda: "550.54.15",
        "nvmlSystemGetCudaDriverVersion": lambda: 12040,
        "nvmlDeviceGetCount": lambda: 1,
        "nvmlDeviceGetHandleByIndex": lambda i: f"handle-{i}",
        "nvmlDeviceGetName": lambda _h: b"NVIDIA H100 80GB HBM3",
        "nvmlDeviceGetMemoryInfo": lambda _h: Memory(),
    }
    for name, value in calls.items():
        setattr(nvml, name, value)
    return nvml


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml())
    yield


def test_gpus_through_nvml(nvml: None, cli: RunCli, port: int) -> None:
    gpus = probe_gpus()
    assert (gpus.driver, gpus.cuda, gpus.error) == ("550.54.15", "12.4", None)
    [device] = gpus.devices
    assert (device.name, device.memory_total_bytes) == ("NVIDIA H100 80GB HBM3", 80 * 1024**3)
    out = doctor_json(cli)
    assert out["gpu"]["devices"][0]["name"] == "NVIDIA H100 80GB HBM3"
    rows = {(r["short"], r["quant"]): r["here"] for r in out["recommendations"]["rows"]}
    assert rows[("Qwen-32B", "FP16")] == "gpu"
    text = cli("doctor").stdout
    assert "NVIDIA H100 80GB HBM3" in text and "CUDA 12.4" in text


def test_no_nvml_means_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(fail_init=True))
    gpus = probe_gpus()
    assert gpus.devices == []
    assert gpus.error == "NVML: NVML Shared Library Not Found"


def test_terminal_output(cli: RunCli, port: int) -> None:
    result = cli("doctor")
    assert result.exit_code == 0, result.output
    for heading in (
        "This machine",
        "Models",
        "DeepSeek-R1 hardware (estimates)",
        "Checks",
        "all checks passed",
    ):
        assert heading in result.stdout
    if not HAS_NVIDIA:
        assert "no GPU" in result.stdout
