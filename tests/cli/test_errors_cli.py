"""One error handler for every command: a DeepfortError a command lets out is one red ``error:`` line on
stderr and exit status 1, whichever group the command is in."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from deepfort.cli.common import DeepfortGroup
from deepfort.errors import CryptoError, DeepfortError, UnknownNameError
from tests.cli.conftest import RunCli


def _app(error: Exception) -> typer.Typer:
    app = typer.Typer(cls=DeepfortGroup)
    sub = typer.Typer()
    app.add_typer(sub, name="sub")

    @app.command()
    def ok() -> None:
        typer.echo("fine")

    @sub.command()
    def boom() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (CryptoError("the keyring is unreadable"), "error: the keyring is unreadable"),
        (UnknownNameError("x", ["b", "a"], kind="engine"), "error: unknown engine 'x' (known: a, b)"),
        (DeepfortError("[bold]not markup[/bold]"), "error: [bold]not markup[/bold]"),
    ],
    ids=["crypto", "unknown name", "brackets"],
)
def test_a_deepfort_error_is_one_red_line(error: DeepfortError, line: str) -> None:
    result = CliRunner().invoke(_app(error), ["sub", "boom"])
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", line + "\n")


def test_other_errors_are_not_swallowed() -> None:
    result = CliRunner().invoke(_app(RuntimeError("a bug")), ["sub", "boom"])
    assert isinstance(result.exception, RuntimeError)
    assert "error:" not in result.stderr


def test_the_deepfort_command_uses_it(cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.keys"
    result = cli("cluster", "activate", "--keyring", str(missing), "k1")
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())  # rich wraps long lines
    assert said.startswith(f"error: keyring file {missing} does not exist")
