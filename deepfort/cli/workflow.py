"""``deepfort workflow``: validate a workflow file, run one (in process, or on a server with ``--url``),
list runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from deepfort.access.master import open_store
from deepfort.aigc.runs.service import run_record
from deepfort.aigc.workflow import WorkflowValidationError, default_registry, load_workflow
from deepfort.app.node import Node
from deepfort.catalog import resolve_models
from deepfort.cli.common import err_console, fail, settings_or_exit
from deepfort.config import LocalModel

app = typer.Typer(help="AIGC workflows: validate, run, list runs.", no_args_is_help=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="A deepfort server, e.g. http://127.0.0.1:8080.")]
KeyOpt = Annotated[
    str | None, typer.Option("--api-key", envvar="DEEPFORT_API_KEY", help="Bearer key for --url.")
]


def _problems_table(exc: WorkflowValidationError) -> Table:
    table = Table("line", "node", "problem", title="invalid workflow", title_justify="left")
    for problem in exc.problems:
        table.add_row(str(problem.line), problem.node or "-", problem.reason)
    return table


@app.command("validate")
def validate(file: Path, as_json: JsonOpt = False) -> None:
    """Check a workflow file; print every problem with its line and node id (exit 1 when there are any)."""
    try:
        version = load_workflow(file.read_text(), default_registry())
    except OSError as exc:
        fail(f"{file}: {exc.strerror}")
    except WorkflowValidationError as exc:
        if as_json:
            problems = [{"line": p.line, "node": p.node, "reason": p.reason} for p in exc.problems]
            typer.echo(json.dumps({"valid": False, "problems": problems}, ensure_ascii=False))
        else:
            Console().print(_problems_table(exc))
        raise typer.Exit(code=1) from None
    workflow = version.workflow
    if as_json:
        typer.echo(json.dumps({"valid": True, "name": workflow.name, "digest": version.digest}))
    else:
        typer.echo(f"{file}: workflow {workflow.name!r} is valid ({len(workflow.graph.nodes)} nodes)")


def _parse_inputs(pairs: list[str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            fail(f"--input {pair!r}: give name=value")
        try:
            inputs[name] = json.loads(raw)  # numbers, lists, objects; anything else is a string
        except json.JSONDecodeError:
            inputs[name] = raw
    return inputs


class _NodeProgress:
    """One progress line per node, from the run's events."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        kind, node = event.get("type"), event.get("node_id")
        if node is None:
            return
        if node not in self.tasks:
            self.tasks[node] = self.progress.add_task(
                f"{node} [dim]{event.get('node_type', '')}[/]", total=None
            )
        task = self.tasks[node]
        if kind == "node_progress":
            self.progress.update(task, completed=event["value"], total=event["max"])
        elif kind == "node_finished":
            self.progress.update(task, completed=1, total=1, description=f"[green]✓[/] {node}")
        elif kind == "node_failed" and not event.get("will_retry"):
            self.progress.update(
                task, completed=0, total=1, description=f"[red]✗[/] {node}: {event['error']}"
            )
        elif kind == "node_skipped":
            self.progress.update(task, completed=0, total=1, description=f"[dim]- {node} (skipped)[/]")


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console
    )


async def _run_local(text: str, inputs: dict[str, Any], config: Path | None, show: bool) -> dict[str, Any]:
    """In this process, with the first local model loaded (the llm and storyboard nodes need one)."""
    settings = settings_or_exit(config)
    local = [m for m in resolve_models(settings, []) if isinstance(m, LocalModel)]
    node = await asyncio.to_thread(
        Node, settings.model_copy(update={"role": "standalone", "centers": []}), local[:1]
    )
    service = node.runs
    try:
        await node.pool.start()
        await service.start(adopt=False)  # heartbeat only: a one-off run adopts no server's runs
        workflow, _ = await service.publish(text)
        run, _ = await service.start_run(workflow.id, inputs, key_id="local")
        with _progress() as progress:
            display = _NodeProgress(progress) if show else None
            async for event in service.follow(run.id):
                if display is not None:
                    display(event.body)
        record = run_record(await service.get_run(run.id), workflow)
        record["nodes"] = await service.node_outputs(run.id)
        return record
    finally:
        await service.close(interrupt=False)  # Ctrl-C cancels the run
        await node.close()


def _run_remote(url: str, key: str | None, text: str, inputs: dict[str, Any], show: bool) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(
        base_url=url.rstrip("/"), headers=headers, timeout=httpx.Timeout(30, read=None)
    ) as client:
        published = client.post("/v1/workflows", json={"definition": text})
        if published.status_code >= 400:
            fail(published.json()["error"]["message"])
        run_id = None
        with (
            _progress() as progress,
            client.stream(
                "POST",
                f"/v1/workflows/{published.json()['id']}/runs",
                json={"inputs": inputs, "mode": "streaming"},
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                fail(response.json()["error"]["message"])
            display = _NodeProgress(progress) if show else None
            for line in response.iter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    run_id = event["run_id"]
                    if display is not None:
                        display(event)
        record: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        return record


def _source(file_or_name: str) -> str:
    path = Path(file_or_name)
    if path.is_file():
        return path.read_text()
    templates = Path(__file__).resolve().parent.parent / "aigc" / "workflow" / "templates"
    builtin = templates / f"{file_or_name}.yaml"
    if builtin.is_file():
        return builtin.read_text()
    fail(f"{file_or_name!r} is neither a workflow file nor a built-in template")


@app.command("run")
def run(
    file_or_name: Annotated[str, typer.Argument(help="A workflow file or a built-in template's name.")],
    input_: Annotated[list[str] | None, typer.Option("--input", "-i", help="An input, name=value.")] = None,
    url: UrlOpt = None,
    api_key: KeyOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a workflow and show each node's progress; prints the outputs (the run record with --json)."""
    text = _source(file_or_name)
    inputs = _parse_inputs(input_ or [])
    show = not as_json
    try:
        if url:
            record = _run_remote(url, api_key, text, inputs, show)
        else:
            record = asyncio.run(_run_local(text, inputs, config, show))
    except WorkflowValidationError as exc:
        err_console.print(_problems_table(exc))
        raise typer.Exit(code=1) from None
    except httpx.HTTPError as exc:
        fail(f"{url}: {exc}")
    if as_json:
        typer.echo(json.dumps(record, ensure_ascii=False))
    else:
        typer.echo(
            f"run {record['id']}: {record['status']}" + (f" ({record['error']})" if record["error"] else "")
        )
        for name, value in (record.get("outputs") or {}).items():
            typer.echo(
                f"  {name}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
            )
    if record["status"] != "succeeded":
        raise typer.Exit(code=1)


@app.command("runs")
def runs(
    url: UrlOpt = None, api_key: KeyOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False
) -> None:
    """List recent runs, newest first (this node's database, or a server's with --url)."""
    if url:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            response = httpx.get(f"{url.rstrip('/')}/v1/runs", headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            fail(f"{url}: {exc}")
        if response.status_code >= 400:
            fail(response.json()["error"]["message"])
        records: list[dict[str, Any]] = response.json()["data"]
    else:
        with open_store(settings_or_exit(config)) as store:
            names = {w.id: w for w in store.list_workflows(limit=10_000)}
            records = [run_record(r, names.get(r.workflow_id)) for r in store.list_runs()]
    if as_json:
        typer.echo(json.dumps(records, ensure_ascii=False))
        return
    table = Table("run", "workflow", "status", "created", "error")
    for record in records:
        table.add_row(
            record["id"],
            f"{record['workflow']} v{record['version']}",
            record["status"],
            str(record["created_at"]),
            record["error"] or "",
        )
    Console().print(table)
