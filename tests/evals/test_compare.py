"""``compare_runs`` and its paired bootstrap on runs whose answer is known."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from deepfort.evals.cache import RunData, RunFile, RunParams, read_run
from deepfort.evals.compare import compare_runs, paired_bootstrap, print_comparison
from deepfort.evals.html import comparison_html


def write_run(
    path: Path, model: str, correct: Sequence[bool], *, suite: str = "mcq", subjects: Sequence[str] = ("",)
) -> RunData:
    with RunFile.open(path, RunParams(model, temperature=0.0)) as run:
        run.suite({"suite": suite, "mode": "generate", "metric": "accuracy"})
        for i, right in enumerate(correct):
            run.append(
                {
                    "suite": suite,
                    "item": f"q{i}",
                    "sample": 0,
                    "mode": "generate",
                    "hash": "h",
                    "subject": subjects[i % len(subjects)],
                    "target": "A",
                    "correct": right,
                    "extracted": "A" if right else "B",
                }
            )
    return read_run(path)


def test_every_question_gained_gives_a_certain_delta_of_one(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a.jsonl", "base", [False] * 50)
    b = write_run(tmp_path / "b.jsonl", "tuned", [True] * 50)
    suite = compare_runs(a, b, resamples=2000)["suites"]["mcq"]
    assert (suite["delta"], suite["ci_low"], suite["ci_high"]) == (1.0, 1.0, 1.0)
    assert suite["significant"]
    assert len(suite["flipped"]["wrong_to_right"]) == 50 and suite["flipped"]["right_to_wrong"] == []
    assert suite["flipped"]["wrong_to_right"][0] == {
        "item": "q0",
        "subject": "",
        "target": "A",
        "a": "B",
        "b": "A",
        "a_right": 0,
        "a_samples": 1,
        "b_right": 1,
        "b_samples": 1,
    }


def test_the_same_answers_give_zero_and_no_flips(tmp_path: Path) -> None:
    answers = [i % 3 == 0 for i in range(60)]
    a = write_run(tmp_path / "a.jsonl", "m", answers)
    b = write_run(tmp_path / "b.jsonl", "m", answers)
    suite = compare_runs(a, b)["suites"]["mcq"]
    assert (suite["delta"], suite["ci_low"], suite["ci_high"], suite["significant"]) == (0.0, 0.0, 0.0, False)
    assert suite["score_a"] == suite["score_b"] == 0.3333
    assert suite["flipped"] == {"right_to_wrong": [], "wrong_to_right": []}


def test_bootstrap_interval_matches_the_normal_approximation() -> None:
    """90 of 300 questions gained, none lost: delta 0.3, and the interval of a mean of 0/1 differences
    is 0.3 +- 1.96 * sqrt(0.3 * 0.7 / 300) to within the resampling noise."""
    a = np.zeros(300)
    b = np.zeros(300)
    b[:90] = 1
    delta, low, high = paired_bootstrap(a, b, resamples=10_000, seed=1)
    half = 1.96 * math.sqrt(0.3 * 0.7 / 300)
    assert delta == pytest.approx(0.3)
    assert low == pytest.approx(0.3 - half, abs=0.01)
    assert high == pytest.approx(0.3 + half, abs=0.01)


def test_pairing_keeps_shared_difficulty_out_of_the_interval() -> None:
    """B answers exactly what A answers plus 10 more: paired, the interval is that of 10 gains in 200;
    it must be narrower than resampling each run apart would make it."""
    a = np.array([1.0] * 100 + [0.0] * 100)
    b = a.copy()
    b[100:110] = 1
    _, low, high = paired_bootstrap(a, b, resamples=5000, seed=0)
    rng = np.random.default_rng(0)
    unpaired = [rng.choice(b, 200).mean() - rng.choice(a, 200).mean() for _ in range(2000)]
    assert high - low < (np.quantile(unpaired, 0.975) - np.quantile(unpaired, 0.025)) / 2
    assert low > 0


def test_bootstrap_is_seeded_and_chunked() -> None:
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2, 5000).astype(float)
    b = rng.integers(0, 2, 5000).astype(float)
    first = paired_bootstrap(a, b, resamples=2000, seed=3)  # 800 resamples a chunk: three chunks
    assert first == paired_bootstrap(a, b, resamples=2000, seed=3)
    assert first != paired_bootstrap(a, b, resamples=2000, seed=4)
    assert first[1] < first[0] < first[2]


def test_confidence_level_widens_the_interval() -> None:
    a = np.zeros(100)
    b = (np.arange(100) % 4 == 0).astype(float)
    _, low90, high90 = paired_bootstrap(a, b, confidence=0.90, seed=0)
    _, low99, high99 = paired_bootstrap(a, b, confidence=0.99, seed=0)
    assert low99 < low90 and high99 > high90
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(a, b, confidence=1.0)


def test_questions_and_suites_only_in_one_run_are_counted_not_paired(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a.jsonl", "m", [True, False, True, True])
    b = write_run(tmp_path / "b.jsonl", "m", [True, True])
    write_run(tmp_path / "c.jsonl", "m", [True], suite="other")
    comparison = compare_runs(a, b)
    suite = comparison["suites"]["mcq"]
    assert (suite["n"], suite["only_in_a"], suite["only_in_b"]) == (2, 2, 0)
    assert suite["delta"] == 0.5
    assert [f["item"] for f in suite["flipped"]["wrong_to_right"]] == ["q1"]
    other = compare_runs(a, read_run(tmp_path / "c.jsonl"))
    assert other["suites"] == {} and other["only_in_a"] == ["mcq"] and other["only_in_b"] == ["other"]


def test_subjects_get_their_own_interval(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a.jsonl", "m", [True] * 40, subjects=("law", "physics"))
    b = write_run(tmp_path / "b.jsonl", "m", [i % 2 == 1 for i in range(40)], subjects=("law", "physics"))
    subjects = compare_runs(a, b)["suites"]["mcq"]["subjects"]
    assert subjects["law"]["delta"] == -1.0 and subjects["law"]["significant"]
    assert subjects["physics"]["delta"] == 0.0 and subjects["physics"]["n"] == 20


def test_table_and_page_name_the_flips(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a.jsonl", "base", [True, True, False], subjects=("<b>law</b>",))
    b = write_run(tmp_path / "b.jsonl", "q4", [False, True, True], subjects=("<b>law</b>",))
    comparison = compare_runs(a, b)
    console = Console(record=True, width=160)
    print_comparison(comparison, console)
    text = console.export_text()
    assert "mcq right -> wrong: q0" in text and "mcq wrong -> right: q2" in text
    page = comparison_html(comparison)
    assert page.count("<svg") == 2  # the suite deltas and the subject deltas
    assert "1 flipped right → wrong" in page and "1 flipped wrong → right" in page
    assert "&lt;b&gt;law&lt;/b&gt;" in page and "<b>law</b>" not in page


def test_a_flip_over_samples_shows_how_many_were_right(tmp_path: Path) -> None:
    runs = []
    for name, rights in (("a", [True, True, False]), ("b", [False, False, True])):
        with RunFile.open(tmp_path / f"{name}.jsonl", RunParams(name)) as run:
            for sample, right in enumerate(rights):
                record = {"suite": "code", "item": "t1", "sample": sample, "mode": "generate", "hash": "h"}
                run.append({**record, "correct": right, "extracted": "passed" if right else "failed"})
        runs.append(read_run(tmp_path / f"{name}.jsonl"))
    suite = compare_runs(*runs)["suites"]["code"]
    assert suite["delta"] == round(1 / 3 - 2 / 3, 4)
    (flip,) = suite["flipped"]["right_to_wrong"]
    assert (flip["a_right"], flip["a_samples"], flip["b_right"], flip["b_samples"]) == (2, 3, 1, 3)
    assert "2/3 right" in comparison_html(compare_runs(*runs)) and "1/3 right" in comparison_html(
        compare_runs(*runs)
    )


def test_flips_are_listed_in_question_order_whatever_order_the_answers_came_in(tmp_path: Path) -> None:
    order = [10, 2, 1, 33, 3]
    for name, right in (("a", True), ("b", False)):
        with RunFile.open(tmp_path / f"{name}.jsonl", RunParams("m")) as run:
            for i in order:
                record = {"suite": "s", "item": f"q{i}", "sample": 0, "mode": "generate", "hash": "h"}
                run.append({**record, "correct": right, "extracted": None})
    flips = compare_runs(read_run(tmp_path / "a.jsonl"), read_run(tmp_path / "b.jsonl"))["suites"]["s"][
        "flipped"
    ]
    assert [f["item"] for f in flips["right_to_wrong"]] == ["q1", "q2", "q3", "q10", "q33"]
