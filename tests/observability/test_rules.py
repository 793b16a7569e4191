"""The alert rules: promtool checks and unit-tests them, and the built-in evaluator agrees with promtool."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deepfort.observability.rules import load_rules, packaged_rules
from tests.observability.alerts_replay import ExprOutcome, Outcome, replay, replay_exprs

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
PROMQL_CASES = Path(__file__).parent / "data" / "promql_agreement.yml"


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing: `make tools` installs it (Debian package `prometheus`)")
    return subprocess.run(
        ["promtool", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def test_packaged_rules_are_the_deploy_rules() -> None:
    assert packaged_rules().read_bytes() == RULES.read_bytes()


@pytest.mark.e2e
def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(load_rules(RULES))} rules found" in result.stdout


@pytest.mark.e2e
def test_promtool_rule_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.e2e
def test_promtool_agrees_with_the_promql_cases() -> None:
    result = promtool("test", "rules", PROMQL_CASES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_quiet() -> None:
    cases = [
        case for group in yaml.safe_load(RULE_TESTS.read_text())["tests"] for case in group["alert_rule_test"]
    ]
    for rule in load_rules(RULES):
        mine = [case for case in cases if case["alertname"] == rule.name]
        assert any(case.get("exp_alerts") for case in mine), f"{rule.name}: no case where it fires"
        assert any(not case.get("exp_alerts") for case in mine), f"{rule.name}: no case where it is quiet"


ALERT_OUTCOMES = replay(RULE_TESTS)


@pytest.mark.parametrize(
    "outcome",
    ALERT_OUTCOMES,
    ids=[f"{o.expected.alertname}@{o.expected.eval_time:g}s" for o in ALERT_OUTCOMES],
)
def test_builtin_evaluator_fires_what_promtool_expects(outcome: Outcome) -> None:
    assert outcome.got == outcome.expected.alerts


EXPR_OUTCOMES = replay_exprs(PROMQL_CASES, RULES)


@pytest.mark.parametrize("outcome", EXPR_OUTCOMES, ids=[f"{o.expr}@{o.eval_time:g}s" for o in EXPR_OUTCOMES])
def test_builtin_promql_matches_promtool(outcome: ExprOutcome) -> None:
    assert outcome.got.keys() == outcome.expected.keys()
    for labels, expected in outcome.expected.items():
        got = outcome.got[labels]
        # Same float operations in the same order: the same bits, infinities included.
        assert got == expected or (math.isnan(got) and math.isnan(expected)), labels


def test_the_agreement_cases_cover_the_supported_subset() -> None:
    text = PROMQL_CASES.read_text()
    for construct in (
        "rate(",
        "increase(",
        "histogram_quantile(",
        "avg_over_time(",
        "min_over_time(",
        "max_over_time(",
        "sum by",
        "sum without",
        "count(",
        "avg(",
        "max(",
        "min(",
        "absent(",
        "vector(",
        " and ",
        " or ",
        " unless ",
        "=~",
        "!=",
        "stale",
        " _ ",
    ):
        assert construct in text, construct
