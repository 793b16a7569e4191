"""Helpers shared by the CLI groups.

Errors: a command lets a :class:`~deepfort.errors.DeepfortError` out and :class:`DeepfortGroup`, the root
group's class, prints its message as ``error: ...`` in red on stderr and exits with 1, for every command
(what each command did with its own ``try``/``fail`` before). A command catches an error itself only to say
more than the message (``model X: ...``) or to go on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from deepfort.config import Settings, load_settings
from deepfort.errors import DeepfortError

err_console = Console(stderr=True)


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=1)


class DeepfortGroup(TyperGroup):
    """The root command group: a DeepfortError out of any command, callback or option check becomes the
    red ``error:`` line and exit status 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DeepfortError as exc:
            fail(escape(exc.message))


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    """The settings from ``config`` and the environment, with the options given (not None) on top."""
    return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
