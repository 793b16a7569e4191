"""``deepfort models``."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, inspect, add and remove models.", no_args_is_help=True)
