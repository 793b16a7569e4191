"""``deepfort eval golden``: ask a live server a golden question set and record each verdict."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import Progress

from deepfort.cli.common import err_console, fail
from deepfort.training.golden import load_golden

app = typer.Typer(help="Evaluate answers against golden sets.", no_args_is_help=True)


@app.command("golden")
def golden(
    file: Annotated[Path, typer.Argument(help="Golden set, JSONL: question + answers or a checker.")],
    url: Annotated[str, typer.Option(help="Base URL of the server, e.g. http://127.0.0.1:8080/v1.")],
    api_key: Annotated[
        str | None, typer.Option(help="An admin key (verdicts are recorded as golden); env DEEPFORT_API_KEY.")
    ] = None,
    model: Annotated[str, typer.Option(help="Model to ask.")] = "auto",
    max_tokens: Annotated[int, typer.Option(help="Longest answer.")] = 128,
    record: Annotated[bool, typer.Option(help="Record each verdict with POST /v1/feedback.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Accuracy of the server's answers on FILE; with --record (default) each verdict feeds the server's
    rolling `deepfort:answer_accuracy`."""
    try:
        items = load_golden(file)
    except OSError as exc:
        fail(str(exc))
    key = api_key or os.environ.get("DEEPFORT_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    base = url.rstrip("/")
    results: list[dict[str, object]] = []
    verdicts: list[bool] = []
    with httpx.Client(headers=headers, timeout=600) as client, Progress(console=err_console) as progress:
        task = progress.add_task("asking", total=len(items))
        for item in items:
            body = {
                "model": model,
                "temperature": 0,
                "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": item.question}],
            }
            try:
                reply = client.post(f"{base}/chat/completions", json=body)
            except httpx.TransportError as exc:
                fail(f"cannot reach {base}: {exc}")
            if reply.status_code != 200:
                fail(f"{base} answered {reply.status_code}: {reply.text[:300]}")
            answer = reply.json()
            content = answer["choices"][0]["message"].get("content") or ""
            correct = item.check(content)
            results.append({"question": item.question, "answer": content, "correct": correct})
            verdicts.append(correct)
            if record:
                verdict = {
                    "response_id": answer["id"],
                    "rating": "up" if correct else "down",
                    "source": "golden",
                }
                recorded = client.post(f"{base}/feedback", json=verdict)
                if recorded.status_code != 201:
                    fail(f"recording the verdict failed: {recorded.status_code} {recorded.text[:300]}")
            progress.advance(task)
    correct_count = sum(verdicts)
    accuracy = correct_count / len(results)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "file": str(file),
                    "total": len(results),
                    "correct": correct_count,
                    "accuracy": round(accuracy, 4),
                    "results": results,
                },
                ensure_ascii=False,
            )
        )
        return
    Console().print(f"{correct_count}/{len(results)} correct: accuracy {accuracy:.1%}")
