"""deploy/compose.yaml against the Compose Specification schema (as docker compose would see it after
interpolating deploy/.env.example), plus what the schema cannot know: files exist, services are healthy
and restartable, images pinned, deepfort's settings load."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from deepfort.config import UpstreamModel
from tests.deploy import settings_env
from tests.deploy.tools import COMPOSE_SCHEMA, DEPLOY, fetch

COMPOSE = DEPLOY / "compose.yaml"
_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``, applied to every string."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = env.get(name)
        if op in (":-", "-"):
            return current if current or (op == "-" and current is not None) else arg
        if op in (":?", "?"):
            if not current:
                raise KeyError(f"{name}: {arg}")
            return current
        return current or ""

    return _VAR.sub(one, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, settings_env.dotenv(DEPLOY / ".env.example"))


@pytest.mark.e2e
def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(fetch(COMPOSE_SCHEMA).read_text())
    jsonschema.validate(compose, schema, cls=jsonschema.Draft7Validator)


def test_a_required_variable_missing_is_an_error(raw: dict[str, Any]) -> None:
    env = settings_env.dotenv(DEPLOY / ".env.example")
    del env["GRAFANA_ADMIN_PASSWORD"]
    with pytest.raises(KeyError, match="GRAFANA_ADMIN_PASSWORD"):
        interpolate(raw, env)


def test_every_service_is_healthchecked_restarted_and_pinned(compose: dict[str, Any]) -> None:
    assert {"deepfort", "prometheus", "grafana"} <= compose["services"].keys()
    for name, service in compose["services"].items():
        assert service["restart"] == "unless-stopped", name
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL"), name
        tag = service["image"].rpartition(":")[2]
        assert re.search(r"\d+\.\d+", tag), f"{name}: pin {service['image']}"


def test_optional_services_sit_behind_profiles(compose: dict[str, Any]) -> None:
    profiles = {name: s.get("profiles", []) for name, s in compose["services"].items()}
    assert profiles["postgres"] == ["scale"]
    assert profiles["redis"] == ["scale"]
    assert profiles["vllm"] == ["center"]
    assert not profiles["deepfort"] and not profiles["prometheus"] and not profiles["grafana"]
    # deepfort waits for them only when their profile is on.
    for dependency in ("postgres", "redis"):
        assert compose["services"]["deepfort"]["depends_on"][dependency]["required"] is False


def test_bind_mounts_and_builds_point_at_files_in_the_repository(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = DEPLOY / source
                if source == "./models":
                    continue  # the operator's own GGUF directory (DEEPFORT_MODELS_DIR)
                assert path.exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} is not declared"


def test_deepfort_settings_load_for_each_config(compose: dict[str, Any]) -> None:
    service = compose["services"]["deepfort"]
    command = service["command"]
    assert command[:2] == ["serve", "--config"]
    mount = next(v for v in service["volumes"] if v.endswith(":/etc/deepfort:ro"))
    configs = sorted((DEPLOY / mount.split(":")[0]).glob("*.yaml"))
    assert [c.name for c in configs] == ["edge-vllm.yaml", "standalone.yaml"]
    assert command[2] == "/etc/deepfort/standalone.yaml"  # DEEPFORT_CONFIG of .env.example
    env = {k: str(v) for k, v in service["environment"].items()}
    optional = settings_env.dotenv(DEPLOY / "deepfort.env.example", uncomment=True)
    for key in [*env, *optional]:
        if key.startswith("DEEPFORT_"):
            assert settings_env.field_exists(key), key
    for config in configs:
        settings = settings_env.load(config, {**env, **optional})
        assert settings.observability.metrics_port == 9464
        assert settings.server.port == 8080
        assert settings.store.url == optional["DEEPFORT_STORE__URL"]
    edge = settings_env.load(DEPLOY / "config" / "edge-vllm.yaml", env)
    upstream = next(m for m in edge.models if isinstance(m, UpstreamModel))
    vllm = compose["services"]["vllm"]
    assert upstream.upstream == "http://vllm:8000/v1"
    assert "8000" in vllm["expose"]
    assert upstream.upstream_model == vllm["environment"]["SERVED_MODEL_NAME"]
    assert upstream.api_key_env in env
    assert vllm["environment"]["VLLM_API_KEY"] == env[upstream.api_key_env]


def test_prometheus_and_grafana_are_wired_to_each_other(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus_mounts = dict(
        v.rsplit(":", 2)[:2] for v in services["prometheus"]["volumes"] if v.startswith(".")
    )
    assert prometheus_mounts["./prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert prometheus_mounts["./prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "deepfort")
    metrics_port = services["deepfort"]["environment"]["DEEPFORT_OBSERVABILITY__METRICS_PORT"]
    assert job["static_configs"][0]["targets"] == [f"deepfort:{metrics_port}"]
    assert str(metrics_port) in services["deepfort"]["expose"]

    grafana_mounts = dict(v.rsplit(":", 2)[:2] for v in services["grafana"]["volumes"] if v.startswith("."))
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert grafana_mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert any(p.endswith(":9090") for p in services["prometheus"]["ports"])
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "deepfort.yaml").read_text())["providers"]
    dashboards_dir = provider["options"]["path"]
    assert grafana_mounts["./grafana/dashboards"] == dashboards_dir
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DEPLOY / "grafana" / "dashboards" / Path(home).relative_to(dashboards_dir)).is_file()


def test_only_deepfort_listens_beyond_loopback(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            if name != "deepfort":
                assert port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_local_env_copies_are_ignored_by_git() -> None:
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert {".env", "deepfort.env"} <= set(ignored)
