"""``deepfort export``: decrypt stored conversations for an administrator (JSON lines)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from deepfort.access.audit import AuditLog
from deepfort.access.master import open_store
from deepfort.cli.common import err_console, settings_or_exit

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")]


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def export(
    owner: Annotated[str | None, typer.Option(help="Only this API key id's conversations.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Every conversation, decrypted, one JSON object per line. The export is audited."""
    settings = settings_or_exit(config)
    store = open_store(settings)
    count = 0
    try:
        out = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            for view in store.export_conversations(owner):
                out.write(json.dumps(asdict(view), ensure_ascii=False, default=_default) + "\n")
                count += 1
        finally:
            if output:
                out.close()
        AuditLog(store).append("cli", "conversations.export", {"owner": owner, "count": count})
    finally:
        store.close()
    err_console.print(f"exported {count} conversations")
