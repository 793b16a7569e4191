"""``deepfort keys``: API keys (create, list, revoke) and the master key (rotate-master)."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deepfort.access.audit import AuditLog
from deepfort.access.auth import KeyManager
from deepfort.access.master import master_key_path, open_store
from deepfort.cli.common import err_console, fail, settings_or_exit
from deepfort.crypto.sm import Keyring, generate_key, retire_key

app = typer.Typer(help="API keys and the master key.", no_args_is_help=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def parse_expiry(text: str | None) -> datetime | None:
    """``30d``, ``12h``, or an ISO date/time."""
    if text is None:
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1] in units:
        return datetime.now(UTC) + timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--expires {text!r}: give 30d, 12h or an ISO date such as 2027-01-31")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    role: Annotated[str, typer.Option(help="user or admin.")] = "user",
    rate: Annotated[str | None, typer.Option(help="Request rate, e.g. 60/min.")] = None,
    tokens: Annotated[str | None, typer.Option(help="Token quota, e.g. 200000/day.")] = None,
    models: Annotated[list[str] | None, typer.Option("--models", help="Allowed model; repeat.")] = None,
    expires: Annotated[str | None, typer.Option(help="30d, 12h or an ISO date.")] = None,
    pii_policy: Annotated[str | None, typer.Option(help="mask, block or allow for this key.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once: only a salted hash is stored."""
    settings = settings_or_exit(config)
    store = open_store(settings)
    try:
        created = KeyManager(store, AuditLog(store)).create(
            name,
            role,  # type: ignore[arg-type]
            rate=rate,
            tokens=tokens,
            models=models,
            expires_at=parse_expiry(expires),
            pii_policy=pii_policy,
        )
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({**created.key.as_dict(), "key": created.token}))
        return
    err_console.print(
        f"created key [bold]{created.key.key_id}[/] ({created.key.role}) for {created.key.name}"
    )
    err_console.print("copy it now, it is not shown again:")
    typer.echo(created.token)


@app.command("import")
def import_(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    role: Annotated[str, typer.Option(help="user or admin.")] = "admin",
    from_env: Annotated[
        str | None, typer.Option(help="Read the key from this environment variable instead of stdin.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Register an existing key (e.g. from a Kubernetes Secret), read from stdin; idempotent."""
    token = os.environ.get(from_env, "") if from_env else sys.stdin.read()
    if not token.strip():
        fail("no key given (pipe it on stdin or use --from-env VAR)")
    settings = settings_or_exit(config)
    store = open_store(settings)
    try:
        key = KeyManager(store, AuditLog(store)).import_token(token, name, role)  # type: ignore[arg-type]
    finally:
        store.close()
    err_console.print(f"key {key.key_id} ({key.role}) registered for {key.name}")


@app.command("list")
def list_(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every key with its role, limits and state (never the secret)."""
    settings = settings_or_exit(config)
    store = open_store(settings)
    try:
        keys = KeyManager(store, AuditLog(store)).list()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([k.as_dict() for k in keys]))
        return
    table = Table(title="API keys")
    for column in ("id", "name", "role", "rate", "tokens", "models", "expires", "state"):
        table.add_column(column)
    for key in keys:
        d = key.as_dict()
        models = ", ".join(key.models) if key.models else "all"
        row = [
            d["id"],
            d["name"],
            d["role"],
            d["rate"] or "-",
            d["tokens"] or "-",
            models,
            d["expires_at"] or "-",
        ]
        table.add_row(*(str(c) for c in row), str(d["state"]))
    Console().print(table)


@app.command("revoke")
def revoke(key_id: str, config: ConfigOpt = None) -> None:
    """Revoke a key; servers refuse it within a few seconds."""
    settings = settings_or_exit(config)
    store = open_store(settings)
    try:
        KeyManager(store, AuditLog(store)).revoke(key_id)
    finally:
        store.close()
    err_console.print(f"revoked {key_id}")


@app.command("rotate-master")
def rotate_master(
    retire_old: Annotated[
        bool, typer.Option(help="Remove the old master keys once nothing uses them.")
    ] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a new master key and re-wrap every data key under it (safe while servers run)."""
    settings = settings_or_exit(config)
    path = master_key_path(settings)
    store = open_store(settings)
    try:
        old = Keyring.load(path)
        new_id = generate_key(path)
        keyring = Keyring.load(path)
        rewrapped = store.rotate_master(keyring)
        usage = store.master_key_usage()
        retired = []
        if retire_old:
            for key_id in old.key_ids:
                if key_id != new_id and not usage.get(key_id):
                    retire_key(path, key_id)
                    retired.append(key_id)
        AuditLog(store).append(
            "cli", "master.rotate", {"new": new_id, "rewrapped": rewrapped, "retired": retired}
        )
    finally:
        store.close()
    result = {"active": new_id, "rewrapped": rewrapped, "retired": retired, "usage": usage}
    if as_json:
        typer.echo(json.dumps(result))
    else:
        err_console.print(
            f"master key {new_id} active; {rewrapped} data keys re-wrapped; retired: {retired or 'none'}"
        )
