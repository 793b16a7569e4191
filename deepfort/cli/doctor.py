"""``deepfort doctor``: check this machine and the settings before serving."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from deepfort.cli.common import err_console, settings_or_exit
from deepfort.doctor import Diagnosis, diagnose
from deepfort.doctor.fit import HEADROOM_MIN_BYTES, HEADROOM_SHARE
from deepfort.doctor.recommend import OVERHEAD, recommend, seed_hardware, tiers

GIB = 1024**3
STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def doctor(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Hardware, which models fit, DeepSeek-R1 hardware sizes, and checks of ports, files and services.

    Exits with 1 when a check fails.
    """
    settings = settings_or_exit(config)
    with err_console.status("checking") as status:
        result = diagnose(settings, step=lambda name: status.update(f"checking {name}"))
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        _print(Console(), result)
    if not result.ok:
        raise typer.Exit(code=1)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / GIB:.1f} GiB" if n >= GIB else f"{n / 1024**2:.0f} MiB"


def _machine(d: Diagnosis) -> Panel:
    cpu, memory, disk = d.cpu, d.memory, d.disk
    lines = [
        f"[bold]CPU[/]  {escape(cpu.model)}: {cpu.logical_cores} logical cores ({cpu.usable_cores} usable, "
        f"{cpu.physical_cores or '?'} physical); {' '.join(cpu.flags) or 'no vector extensions found'}",
        f"[bold]RAM[/]  {_size(memory.total_bytes)} total, {_size(memory.available_bytes)} available",
        f"[bold]Disk[/] {_size(disk.free_bytes)} free of {_size(disk.total_bytes)} at {escape(disk.path)}",
    ]
    if d.gpus.devices:
        lines.append(f"[bold]GPU[/]  driver {d.gpus.driver}, CUDA {d.gpus.cuda}")
        for g in d.gpus.devices:
            free = _size(g.memory_free_bytes)
            lines.append(f"     {g.index}: {escape(g.name)}, {_size(g.memory_total_bytes)} ({free} free)")
    else:
        lines.append(f"[bold]GPU[/]  no GPU [dim]({escape(d.gpus.error or 'NVML found no device')})[/]")
    return Panel("\n".join(lines), title="This machine", expand=False)


def _models(d: Diagnosis) -> Table:
    table = Table(
        title="Models",
        caption=f"budget: available RAM less {HEADROOM_SHARE:.0%} of total (at least "
        f"{HEADROOM_MIN_BYTES // 1024**2} MiB) = {_size(d.budget_bytes)}",
    )
    for name in ("model", "weights", "KV cells", "KV cache", "needs", "fits", "max slots"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for m in d.models:
        if m.kind == "remote":
            table.add_row(escape(m.id), escape(f"remote: {m.upstream}"), "", "", "", "-", "-")
        elif m.error is not None:
            table.add_row(escape(m.id), f"[red]{escape(m.error)}[/]", "", "", "", "?", "?")
        else:
            table.add_row(
                escape(m.id),
                _size(m.weights_bytes),
                f"{m.kv_cells} ({'one pool' if m.kv_unified else 'per slot'})",
                _size(m.kv_bytes),
                _size(m.need_bytes),
                "[green]yes[/]" if m.fits else "[red]no[/]",
                f"{m.max_slots} x {m.n_ctx}",
            )
    return table


def _recommendations(d: Diagnosis) -> Table:
    seed = seed_hardware()
    cpu_tier = tiers(d.memory.total_bytes)[0]
    table = Table(
        title="DeepSeek-R1 hardware (estimates)",
        caption=f"weights = parameters x bytes per parameter (GB = 10^9 bytes); fits when weights x "
        f"{OVERHEAD} <= memory. min: {seed['minimum']}, rec: {seed['recommended']}; "
        f"CPU: {cpu_tier.name} less headroom.",
    )
    for name in ("model", "quant", "GB", "CPU", "smallest GPU", "min", "rec", "here"):
        table.add_column(name, justify="right" if name == "GB" else "left")
    yes = {True: "[green]yes[/]", False: "[dim]no[/]"}
    for row in recommend(d.memory.total_bytes, d.gpus.memory_total_bytes):
        table.add_row(
            row.short,
            row.quant,
            f"{row.weights_gb:.0f}",
            yes[cpu_tier.name in row.fits],
            row.min_gpu_tier or "-",
            yes[seed["minimum"] in row.fits],
            yes[seed["recommended"] in row.fits],
            f"[bold green]{row.here}[/]" if row.here else "",
        )
    return table


def _checks(d: Diagnosis) -> Table:
    table = Table(title="Checks")
    for name in ("", "check", "detail", "fix"):
        table.add_column(name)
    for c in d.checks:
        style = STYLE[c.status]
        table.add_row(f"[{style}]{c.status}[/]", c.name, escape(c.detail), escape(c.hint or ""))
    return table


def _print(console: Console, d: Diagnosis) -> None:
    console.print(Group(_machine(d), _models(d), _recommendations(d), _checks(d)))
    failed = [c.name for c in d.checks if c.status == "fail"]
    if failed:
        console.print(f"[bold red]{len(failed)} check(s) failed:[/] {escape(', '.join(failed))}")
    else:
        console.print("[green]all checks passed[/]")
