"""The complexity classifier on the labelled question set: the held-out split is never used for tuning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepfort.cli.main import app
from deepfort.config import RoutingSettings
from deepfort.routing.classifier import ComplexityClassifier, features
from deepfort.routing.evaluate import evaluate, fit, load_items

QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "routing" / "questions.jsonl"
THRESHOLD = RoutingSettings().complexity_threshold


def test_the_question_set_is_big_enough_and_half_chinese() -> None:
    items = load_items(QUESTIONS)
    assert len(items) >= 300
    assert sum(i.lang == "zh" for i in items) >= len(items) / 2 - 5
    holdout = load_items(QUESTIONS, "holdout")
    assert len(holdout) >= 100 and {i.label for i in holdout} == {"simple", "complex"}


def test_holdout_accuracy_is_at_least_90_percent() -> None:
    report = evaluate(load_items(QUESTIONS, "holdout"), ComplexityClassifier(), THRESHOLD)
    assert report.accuracy >= 0.90, report.errors
    for lang, (correct, total) in report.by_lang.items():
        assert correct / total >= 0.85, lang


def test_fitting_on_the_tune_split_reproduces_the_shipped_weights() -> None:
    shipped = ComplexityClassifier().weights
    refit = fit(load_items(QUESTIONS, "tune"))
    assert refit.keys() == shipped.keys()
    assert all(abs(refit[k] - shipped[k]) < 0.01 for k in shipped), refit


@pytest.mark.parametrize(
    ("question", "turns", "cue"),
    [
        ("证明根号2是无理数，并说明每一步的理由。", 0, "proof"),
        ("Write a Python function that merges overlapping intervals and analyse its complexity.", 0, "code"),
        ("比较 PostgreSQL 和 MySQL 在我们行的核心账务系统中的优缺点，给出迁移方案。", 0, "multi-step"),
        ("那如果数据量再翻十倍，这个方案还成立吗？请分析原因。", 4, "depth"),
    ],
)
def test_complex_questions_score_high_and_say_why(question: str, turns: int, cue: str) -> None:
    verdict = ComplexityClassifier().assess(question, turns)
    assert verdict.score >= THRESHOLD
    assert cue in verdict.reasons


@pytest.mark.parametrize(
    "question",
    [
        "你好",
        "Hello, thanks for your help!",
        "把“早上好”翻译成英文",
        "What is the capital of France?",
        "3+5等于几",
    ],
)
def test_simple_questions_score_low(question: str) -> None:
    assert ComplexityClassifier().assess(question).score < THRESHOLD


def test_full_width_digits_and_quoted_material_are_normalised() -> None:
    long_paste = "请把下面这段话的错别字改一下就好：“" + "今天天气很好，我们去公园散步。" * 30 + "”"
    values = features(long_paste)
    assert values["quoted"] > 0.8 and values["length"] < 0.2
    assert features("１２３＋４５６")["maths"] == features("123+456")["maths"]


def test_route_eval_cli_reports_accuracy_precision_recall_and_edge_share() -> None:
    result = CliRunner().invoke(app, ["route", "eval", str(QUESTIONS), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["split"] == "holdout" and report["total"] >= 100
    assert {"accuracy", "complex_precision", "complex_recall", "edge_share"} <= report.keys()
    assert 0.3 < report["edge_share"] < 0.7


def test_route_eval_cli_refuses_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "label": "maybe", "question": "?"}\n')
    result = CliRunner().invoke(app, ["route", "eval", str(bad), "--split", "tune"])
    assert result.exit_code == 1 and "must be simple or complex" in " ".join(result.output.split())
