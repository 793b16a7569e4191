"""``deepfort audit``: check the audit trail's hash chain, and show its entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deepfort.access.audit import verify as verify_chain
from deepfort.access.master import open_store
from deepfort.cli.common import err_console, settings_or_exit

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("verify")
def verify(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Recompute the chain; exit 1 naming the first entry that was edited, removed or moved."""
    settings = settings_or_exit(config)
    store = open_store(settings)
    try:
        verdict = verify_chain(store.iter_audit())
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(verdict.__dict__))
    elif verdict.ok:
        err_console.print(f"audit trail intact: {verdict.entries} entries; head {verdict.head}")
    else:
        err_console.print(f"[red]audit trail broken[/] at entry {verdict.bad_seq}: {verdict.reason}")
    if not verdict.ok:
        raise typer.Exit(1)


@app.command("show")
def show(
    limit: Annotated[int, typer.Option(help="Newest entries to show.")] = 50,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The newest entries."""
    settings = settings_or_exit(config)
    store = open_store(settings)
    try:
        rows = list(store.iter_audit())[-limit:]
    finally:
        store.close()
    items = [
        {
            "seq": r.seq,
            "ts": r.ts.isoformat(),
            "actor": r.actor,
            "action": r.action,
            "detail": json.loads(r.detail),
        }
        for r in rows
    ]
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False))
        return
    table = Table(title="audit trail")
    for column in ("seq", "time", "actor", "action", "detail"):
        table.add_column(column)
    for item in items:
        table.add_row(
            str(item["seq"]),
            str(item["ts"]),
            str(item["actor"]),
            str(item["action"]),
            json.dumps(item["detail"], ensure_ascii=False),
        )
    Console().print(table)
