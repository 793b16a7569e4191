"""``deepfort cluster``: manage the keyring file that seals traffic between cluster nodes.

Commands print key ids, never key material."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepfort.crypto.sm import Keyring, activate_key, generate_key, retire_key

app = typer.Typer(
    help="Manage the cluster keyring (SM4 keys that seal traffic between nodes).", no_args_is_help=True
)

KeyringOpt = Annotated[
    Path, typer.Option("--keyring", help="The keyring file (JSON, mode 0600).", show_default=False)
]
KeyIdArg = Annotated[str, typer.Argument(metavar="ID", help="A key id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _say(message: str) -> None:
    Console().print(message, highlight=False, soft_wrap=True)


@app.command("keygen")
def keygen(
    keyring: KeyringOpt,
    key_id: Annotated[
        str | None, typer.Option("--id", help="The new key's id [default: k-YYYYMMDD-xxxx].")
    ] = None,
    activate: Annotated[
        bool, typer.Option("--activate/--no-activate", help="Seal new messages with the new key.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Add a fresh random key to the keyring, creating the file (mode 0600) if needed. Prints its id."""
    new_id = generate_key(keyring, key_id, activate=activate)
    if as_json:
        typer.echo(json.dumps({"id": new_id, "active": activate, "keyring": str(keyring)}))
        return
    state = "active" if activate else "not active; `deepfort cluster activate` it on every node"
    _say(f"added key [bold]{escape(new_id)}[/] ({state}) to {escape(str(keyring))}")


@app.command("keys")
def keys(keyring: KeyringOpt, as_json: JsonOpt = False) -> None:
    """List the keyring's key ids and which one is active."""
    ring = Keyring.load(keyring)
    if as_json:
        listed = [{"id": key_id, "active": key_id == ring.active} for key_id in ring.key_ids]
        typer.echo(
            json.dumps({"active": ring.active, "keys": listed, "retired": list(ring.retired)}, indent=2)
        )
        return
    table = Table("id", "state")
    for key_id in ring.key_ids:
        table.add_row(escape(key_id), "active" if key_id == ring.active else "")
    for key_id in ring.retired:
        table.add_row(escape(key_id), "retired", style="dim")
    Console().print(table)


@app.command("activate")
def activate(keyring: KeyringOpt, key_id: KeyIdArg) -> None:
    """Seal new messages with key ID. Do it on every node once all of them hold the key."""
    activate_key(keyring, key_id)
    _say(f"[bold]{escape(key_id)}[/] is the active key of {escape(str(keyring))}")


@app.command("retire")
def retire(keyring: KeyringOpt, key_id: KeyIdArg) -> None:
    """Delete key ID; messages sealed under it no longer open. The active key cannot be retired."""
    retire_key(keyring, key_id)
    _say(f"retired [bold]{escape(key_id)}[/]: its key is deleted from {escape(str(keyring))}")
