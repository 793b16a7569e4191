"""deploy/prometheus/prometheus.yml, checked by promtool (which also checks the alerts.yml it loads)."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy.promtool import promtool
from tests.deploy.tools import DEPLOY

CONFIG = DEPLOY / "prometheus" / "prometheus.yml"


@pytest.mark.e2e
def test_promtool_accepts_the_config_and_its_rules() -> None:
    done = promtool("check", "config", CONFIG)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
    # rule_files resolve next to the config, in the container (/etc/prometheus) as here.
    assert "alerts.yml" in done.stdout + done.stderr


def test_scrapes_deepfort_and_loads_the_alert_rules() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert (CONFIG.parent / "alerts.yml").is_file()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["deepfort"]["static_configs"][0]["targets"] == ["deepfort:9464"]
    assert jobs["deepfort"].get("metrics_path", "/metrics") == "/metrics"
