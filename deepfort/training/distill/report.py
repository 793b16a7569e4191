"""The distillation's one report (``OUT/distill.json``) and its summary on the terminal."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepfort.training.distill.prompts import Prompt
from deepfort.training.distill.traces import Outcome, verifier_summary

__all__ = ["build_report", "print_summary", "write_report"]


def _prompt_entry(prompt: Prompt, split: str) -> dict[str, Any]:
    return {"id": prompt.id, "line": prompt.line, "kind": prompt.kind, "suite": prompt.suite, "split": split}


def build_report(
    *,
    options: Mapping[str, Any],
    train: Sequence[Prompt],
    heldout: Sequence[Prompt],
    found: Sequence[Outcome],
    teacher: Mapping[str, Any],
    sft: Mapping[str, Any],
    finetune: Mapping[str, Any] | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    comparison: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Everything one distillation did, as one JSON-ready object (see docs/distill.md)."""
    by_id = {outcome.prompt.id: outcome for outcome in found}
    prompts = []
    for prompt in train:
        entry = _prompt_entry(prompt, "train")
        outcome = by_id.get(prompt.id)
        entry["answers"] = [trace.to_dict() for trace in outcome.traces] if outcome else []
        entry["kept"] = sum(trace["kept"] for trace in entry["answers"])
        prompts.append(entry)
    prompts.extend(_prompt_entry(prompt, "heldout") for prompt in heldout)
    return {
        "object": "distill.report",
        "options": dict(options),
        "counts": {
            "prompts": len(train) + len(heldout),
            "train": len(train),
            "heldout": len(heldout),
            "answers": sum(len(outcome.traces) for outcome in found),
            "kept": sum(len(outcome.kept) for outcome in found),
            "prompts_kept": sum(bool(outcome.kept) for outcome in found),
        },
        "verifiers": verifier_summary(found),
        "teacher": dict(teacher),
        "sft": dict(sft),
        "finetune": dict(finetune) if finetune is not None else None,
        "eval": {
            "heldout": [prompt.id for prompt in heldout],
            "before": before,
            "after": after,
            "comparison": comparison,
        },
        "prompts": prompts,
    }


def write_report(report: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)


def _score(report: Mapping[str, Any] | None, suite: str) -> str:
    if not report or suite not in report["suites"]:
        return "-"
    return f"{report['suites'][suite]['score']:.1%}"


def print_summary(report: Mapping[str, Any], console: Console) -> None:
    """The counts, the verifiers' table (kept, rejected and why) and the held-out scores before and after."""
    counts = report["counts"]
    console.print(
        f"{counts['prompts']} prompts: {counts['train']} for the teacher, {counts['heldout']} held out; "
        f"{counts['answers']} teacher answers, {counts['kept']} kept, for {counts['prompts_kept']} of "
        f"{counts['train']} prompts",
        highlight=False,
    )
    verifiers = Table("verifier", "prompts", "answers", "kept", "rejected", "why rejected", title="verifiers")
    for kind, row in report["verifiers"].items():
        reasons = ", ".join(f"{why} {n}" for why, n in row["reasons"].items()) or "-"
        verifiers.add_row(
            kind,
            str(row["prompts"]),
            str(row["answers"]),
            str(row["kept"]),
            str(row["rejected"]),
            escape(reasons),
        )
    console.print(verifiers)
    evals = report["eval"]
    before, after, comparison = evals["before"], evals["after"], evals["comparison"]
    if before is not None:
        scores = Table("suite", "questions", "before", "after", "delta (95% CI)", title="held-out eval")
        for suite, entry in before["suites"].items():
            compared = (comparison or {}).get("suites", {}).get(suite)
            delta = "-"
            if compared is not None:
                delta = f"{compared['delta']:+.1%} ({compared['ci_low']:+.1%}, {compared['ci_high']:+.1%})"
            scores.add_row(suite, str(entry["n"]), _score(before, suite), _score(after, suite), delta)
        console.print(scores)
    finetune = report["finetune"]
    if finetune is not None:
        console.print(f"adapter: {escape(str(finetune['adapter_gguf']))}", highlight=False)
    console.print(f"report: {escape(str(report['options']['out']))}/distill.json", highlight=False)
