"""``deepfort route``: evaluate and fit the complexity router on a labelled question set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deepfort.cli.common import fail
from deepfort.routing.classifier import ComplexityClassifier
from deepfort.routing.evaluate import best_threshold, evaluate, fit, format_weights, load_items

app = typer.Typer(help="Evaluate and fit the complexity router.", no_args_is_help=True)

FileArg = Annotated[
    Path, typer.Argument(help="Labelled questions (JSONL), e.g. tests/data/routing/questions.jsonl.")
]
SplitOpt = Annotated[str | None, typer.Option(help="Only this split (tune or holdout); default: all.")]


@app.command("eval")
def eval_(
    file: FileArg,
    split: SplitOpt = "holdout",
    threshold: Annotated[float, typer.Option(help="Score at which a question goes to the center.")] = 0.45,
    show_errors: Annotated[bool, typer.Option(help="List the misrouted questions.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Accuracy, precision/recall for "complex", and the share kept on the edge."""
    try:
        items = load_items(file, split)
    except OSError as exc:
        fail(str(exc))
    if not items:
        fail(f"no questions in {file}" + (f" with split {split!r}" if split else ""))
    report = evaluate(items, ComplexityClassifier(), threshold)
    if as_json:
        out = report.as_dict()
        if not show_errors:
            out.pop("errors")
        typer.echo(
            json.dumps({"file": str(file), "split": split, "threshold": threshold, **out}, ensure_ascii=False)
        )
        return
    table = Table(title=f"router on {file.name} ({split or 'all'}, threshold {threshold:g})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("questions", str(report.total))
    table.add_row("accuracy", f"{report.accuracy:.1%}")
    table.add_row("complex precision", f"{report.precision:.1%}")
    table.add_row("complex recall", f"{report.recall:.1%}")
    table.add_row("kept on the edge", f"{report.edge_share:.1%}")
    for lang, (correct, total) in sorted(report.by_lang.items()):
        table.add_row(f"accuracy ({lang})", f"{correct / total:.1%}")
    console = Console()
    console.print(table)
    if show_errors:
        for error in report.errors:
            console.print(
                f"{error['id']} {error['label']:>7} {error['score']:.2f}  {error['question']!s:.100}",
                markup=False,
            )


@app.command("fit")
def fit_(
    file: FileArg,
    split: SplitOpt = "tune",
    l2: Annotated[float, typer.Option(help="L2 regularisation strength.")] = 0.003,
) -> None:
    """Fit the classifier's weights (logistic regression) on a split; prints them for classifier.py."""
    try:
        items = load_items(file, split)
    except OSError as exc:
        fail(str(exc))
    weights = fit(items, l2=l2)
    classifier = ComplexityClassifier(weights)
    threshold = best_threshold(items, classifier)
    report = evaluate(items, classifier, threshold)
    typer.echo(format_weights(weights))
    typer.echo(f"# best threshold on {split}: {threshold:.2f}, accuracy {report.accuracy:.1%}")
