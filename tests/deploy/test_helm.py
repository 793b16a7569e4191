"""The Helm chart, rendered by a real helm (v3.17.3): lint, Kubernetes 1.31 schemas, and what deepfort
itself needs from the manifests (settings that load, env names that exist, ports and probes that match)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deepfort.config import UpstreamModel
from tests.deploy import settings_env
from tests.deploy.conftest import Manifest, run_helm
from tests.deploy.tools import CHART, DEPLOY, KUBE_VERSION

Render = Callable[..., list[Manifest]]

VALUE_SETS = {
    "default": (),
    "center": ("ci/center-values.yaml",),
    "production": ("ci/production-values.yaml",),
}
# Prometheus Operator CRDs: no schema in kubernetes-validate; checked below instead.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


def one(docs: list[Manifest], kind: str, component: str | None = None) -> Manifest:
    found = [
        d
        for d in docs
        if d["kind"] == kind
        and (component is None or d["metadata"]["labels"].get("app.kubernetes.io/component") == component)
    ]
    assert len(found) == 1, f"{len(found)} {kind} ({component})"
    return found[0]


def kinds(docs: list[Manifest]) -> list[str]:
    return sorted(d["kind"] for d in docs)


def gateway_container(docs: list[Manifest]) -> dict[str, Any]:
    containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "deepfort")


def config_file(docs: list[Manifest], tmp_path: Path) -> Path:
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and "deepfort.yaml" in d["data"])
    path = tmp_path / "deepfort.yaml"
    path.write_text(cm["data"]["deepfort.yaml"])
    return path


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment, secret references replaced by well-formed stand-ins."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif item["name"] in settings_env.DUMMY_SECRETS:
            env[item["name"]] = settings_env.DUMMY_SECRETS[item["name"]]
        else:
            env[item["name"]] = "stand-in"
    return env


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint_strict(helm: Path, name: str) -> None:
    args = ["lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION]
    for values in VALUE_SETS[name]:
        args += ["--values", str(CHART / values)]
    done = run_helm(helm, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("name", VALUE_SETS)
def test_manifests_are_valid_kubernetes_1_31(render: Render, name: str) -> None:
    docs = render(VALUE_SETS[name])
    checked = 0
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        checked += 1
    assert checked >= 7


def test_what_each_value_set_renders(render: Render) -> None:
    common = ["ConfigMap", "Deployment", "Pod", "Secret", "Service", "ServiceAccount"]
    assert kinds(render(())) == sorted([*common, "PersistentVolumeClaim", "PersistentVolumeClaim"])
    assert kinds(render(VALUE_SETS["center"])) == sorted(
        [*common, "PersistentVolumeClaim", "PersistentVolumeClaim", "Service", "Service", "StatefulSet"]
    )
    # Production: models from an existing claim, /data an emptyDir (state in PostgreSQL).
    center = ["Service", "Service", "StatefulSet"]
    operator = ["PrometheusRule", "ServiceMonitor", "ConfigMap"]
    assert kinds(render(VALUE_SETS["production"])) == sorted(
        [*common, *center, *operator, "HorizontalPodAutoscaler"]
    )


@pytest.mark.parametrize("name", VALUE_SETS)
def test_references_resolve(render: Render, name: str) -> None:
    """Selectors match pod labels, mounts name volumes, claims / ConfigMaps / Secrets exist, named ports
    exist on the containers they point at."""
    docs = render(VALUE_SETS[name])
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    for workload in workloads:
        spec = workload["spec"]
        pod = spec["template"]
        labels = pod["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        claim_templates = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
        for container in pod["spec"]["containers"] + pod["spec"].get("initContainers", []):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes or mount["name"] in claim_templates, mount
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert ("Secret", ref["name"]) in names
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert ("PersistentVolumeClaim", claim) in names or claim == "deepfort-models"
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
            if "secret" in volume:
                assert ("Secret", volume["secret"]["secretName"]) in names
        if workload["kind"] == "StatefulSet":
            assert ("Service", spec["serviceName"]) in names
    for service in (d for d in docs if d["kind"] == "Service"):
        targets = [
            w
            for w in workloads
            if service["spec"]["selector"].items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(targets) == 1, service["metadata"]["name"]
        port_names = {
            p["name"] for c in targets[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


@pytest.mark.parametrize("name", VALUE_SETS)
def test_gateway_pod(render: Render, name: str) -> None:
    docs = render(VALUE_SETS[name])
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    container = gateway_container(docs)
    assert container["args"][:3] == ["serve", "--config", "/etc/deepfort/deepfort.yaml"]
    assert "--insecure-no-auth" not in container["args"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["resources"]["requests"]["cpu"]
    # Non-root with the UID the image's USER line names; nothing written outside the mounted volumes.
    dockerfile_user = next(
        line.split()[1]
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.startswith("USER ")
    )
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == dockerfile_user
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert {"/data", "/tmp", "/etc/deepfort"} <= mounts.keys()
    assert mounts["/etc/deepfort"]["readOnly"] is True
    assert mounts["/models"]["readOnly"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "persistentVolumeClaim" in volumes[mounts["/models"]["name"]]
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("name", VALUE_SETS)
def test_config_and_env_load_as_deepfort_settings(render: Render, name: str, tmp_path: Path) -> None:
    docs = render(VALUE_SETS[name])
    container = gateway_container(docs)
    env = container_env(container)
    for key in env:
        if key.startswith("DEEPFORT_"):
            assert settings_env.field_exists(key), key
    settings = settings_env.load(config_file(docs, tmp_path), env)
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert settings.server.host == "0.0.0.0"
    assert settings.server.port == port["http"]
    assert settings.observability.metrics_port == port["metrics"]
    assert str(settings.data_dir) == "/data"
    if name != "default":
        assert settings.store.url is not None  # from the Secret (here: the stand-in)


@pytest.mark.parametrize("name", ["center", "production"])
def test_center_is_a_vllm_statefulset_on_gpus(render: Render, name: str, tmp_path: Path) -> None:
    docs = render(VALUE_SETS[name])
    values = yaml.safe_load((CHART / "values.yaml").read_text())["center"]
    values.update(yaml.safe_load((CHART / VALUE_SETS[name][0]).read_text())["center"])
    tp = values["tensorParallelSize"]
    sts = one(docs, "StatefulSet", "center")
    pod = sts["spec"]["template"]["spec"]
    (vllm,) = pod["containers"]
    assert vllm["image"] == "vllm/vllm-openai:v0.33.0"
    args = vllm["args"]
    assert vllm["command"] == ["vllm", "serve"]
    assert args[0] == values["model"]
    assert args[args.index("--tensor-parallel-size") + 1] == str(tp)
    assert args[args.index("--reasoning-parser") + 1] == "deepseek_r1"
    assert args[args.index("--served-model-name") + 1] == values["servedModelName"]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == tp
    assert vllm["resources"]["requests"]["nvidia.com/gpu"] == tp
    shm = next(m for m in vllm["volumeMounts"] if m["mountPath"] == "/dev/shm")
    shm_volume = next(v for v in pod["volumes"] if v["name"] == shm["name"])
    assert shm_volume["emptyDir"]["medium"] == "Memory"
    key_ref = next(e for e in vllm["env"] if e["name"] == "VLLM_API_KEY")["valueFrom"]["secretKeyRef"]
    assert key_ref["key"] == "center-api-key"
    assert "optional" not in key_ref

    # The gateway became an edge whose upstream model is the center's Service, with the same key.
    settings = settings_env.load(config_file(docs, tmp_path), container_env(gateway_container(docs)))
    assert settings.role == "edge"
    upstream = next(m for m in settings.models if isinstance(m, UpstreamModel))
    (service,) = [
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == sts["metadata"]["name"]
    ]
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert upstream.upstream == f"http://{service['metadata']['name']}:{port['port']}/v1"
    assert upstream.upstream_model == values["servedModelName"]
    assert settings.routing.center_model == upstream.id
    gateway_ref = next(e for e in gateway_container(docs)["env"] if e["name"] == upstream.api_key_env)
    assert gateway_ref["valueFrom"]["secretKeyRef"]["key"] == key_ref["key"]


def test_hpa_scales_on_queue_depth_with_cpu_fallback(render: Render) -> None:
    docs = render(VALUE_SETS["production"])
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": one(docs, "Deployment")["metadata"]["name"],
    }
    by_type = {m["type"]: m for m in hpa["spec"]["metrics"]}
    assert by_type["Pods"]["pods"]["metric"]["name"] == "deepfort_num_requests_waiting"
    assert by_type["Pods"]["pods"]["target"]["type"] == "AverageValue"
    assert by_type["Resource"]["resource"]["name"] == "cpu"
    assert "replicas" not in one(docs, "Deployment")["spec"]  # the HPA owns the count
    # The prometheus-adapter rule the chart ships serves exactly that name from deepfort's gauge.
    adapter = yaml.safe_load((CHART / "files" / "prometheus-adapter-values.yaml").read_text())
    (rule,) = adapter["rules"]["custom"]
    series = rule["seriesQuery"].split("{")[0]
    assert series == "deepfort:num_requests_waiting"
    served = re.sub(rule["name"]["matches"], rule["name"]["as"].replace("${1}", r"\1"), series)
    assert served == by_type["Pods"]["pods"]["metric"]["name"]
    assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}


def test_prometheus_operator_objects(render: Render) -> None:
    docs = render(VALUE_SETS["production"])
    monitor = one(docs, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    service = one(docs, "Service", "gateway")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    rule = one(docs, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load((CHART / "files" / "alerts.yml").read_text())
    assert rule["spec"]["groups"][0]["rules"]
    dashboard = next(d for d in docs if d["kind"] == "ConfigMap" and "deepfort.json" in d.get("data", {}))
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["deepfort.json"]) == json.loads(
        (DEPLOY / "grafana" / "dashboards" / "deepfort.json").read_text()
    )


def test_chart_copies_match_their_sources() -> None:
    """The chart cannot read files outside itself, so it carries copies: keep them identical."""
    assert (CHART / "files" / "alerts.yml").read_bytes() == (
        DEPLOY / "prometheus" / "alerts.yml"
    ).read_bytes()
    assert (CHART / "files" / "deepfort.json").read_bytes() == (
        DEPLOY / "grafana" / "dashboards" / "deepfort.json"
    ).read_bytes()


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("replicaCount=3",), "shared database"),
        (("autoscaling.enabled=true", "secrets.storeUrl=postgresql+psycopg://h/db"), "one master keyring"),
        (
            (
                "replicaCount=2",
                "secrets.storeUrl=postgresql+psycopg://h/db",
                "secrets.masterKeyring={}",
            ),
            "ReadWriteOnce /data",
        ),
        (("center.enabled=true",), "secrets.centerApiKey"),
        (("serviceMonitor.enabled=true", "config.observability.metrics_port=null"), "metrics_port"),
    ],
)
def test_values_that_would_deploy_something_broken_are_refused(
    helm: Path, sets: tuple[str, ...], message: str
) -> None:
    args = ["template", "rel", str(CHART)]
    for item in sets:
        args += ["--set", item]
    done = run_helm(helm, *args)
    assert done.returncode != 0
    assert message in done.stderr


def test_init_script_copies_the_keyring_and_bootstraps_auth(render: Render, tmp_path: Path) -> None:
    """The init container's script, run against the real deepfort CLI: the master keyring from the Secret
    becomes a 0600 file in /data; one admin key is created when none exists, and only then."""
    docs = render(VALUE_SETS["production"])
    script = next(d for d in docs if d["kind"] == "ConfigMap" and "init.sh" in d["data"])["data"]["init.sh"]
    secret = one(docs, "Secret")
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "secret").mkdir()
    master = tmp_path / "secret" / "master.keys"
    master.write_text(secret["stringData"]["master.keys"])
    config = tmp_path / "deepfort.yaml"
    config.write_text("role: standalone\n")
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DEEPFORT_DATA_DIR": str(data),
        "CONFIG_FILE": str(config),
        "MASTER_KEYS_SECRET": str(master),
        "BOOTSTRAP_ADMIN_KEY": "true",
    }

    def run() -> str:
        done = subprocess.run(
            ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "df-" not in done.stdout + done.stderr  # the bootstrap key's secret is never shown
        return done.stdout

    assert "created the admin key 'bootstrap'" in run()
    copied = data / "master.keys"
    assert copied.read_text() == master.read_text()
    assert copied.stat().st_mode & 0o777 == 0o600
    assert "has an active API key" in run()
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "deepfort"), "keys", "list", "--json", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (key,) = json.loads(listed.stdout)
    assert (key["name"], key["role"], key["state"]) == ("bootstrap", "admin", "active")


def test_init_script_registers_the_secret_admin_key(render: Render, tmp_path: Path) -> None:
    """With secrets.adminKey, the init script imports that key (hash only), idempotently, and the
    bootstrap key is not created."""
    token = "df-adminkey-" + "A1b2" * 10 + "xyz"
    docs = render(VALUE_SETS["production"], f"secrets.adminKey={token}")
    script = next(d for d in docs if d["kind"] == "ConfigMap" and "init.sh" in d["data"])["data"]["init.sh"]
    assert one(docs, "Secret")["stringData"]["admin-key"] == token
    data = tmp_path / "data"
    data.mkdir()
    key_file = tmp_path / "admin-key"
    key_file.write_text(token)
    config = tmp_path / "deepfort.yaml"
    config.write_text("role: standalone\n")
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DEEPFORT_DATA_DIR": str(data),
        "CONFIG_FILE": str(config),
        "MASTER_KEYS_SECRET": str(tmp_path / "absent"),
        "ADMIN_KEY_SECRET": str(key_file),
        "BOOTSTRAP_ADMIN_KEY": "true",
    }
    for _ in range(2):
        done = subprocess.run(
            ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "deepfort"), "keys", "list", "--json", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (key,) = json.loads(listed.stdout)
    assert (key["id"], key["name"], key["role"]) == ("adminkey", "admin", "admin")
