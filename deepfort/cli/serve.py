"""``deepfort serve``: the OpenAI-compatible server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.markup import escape

from deepfort.access.auth import is_loopback
from deepfort.access.master import open_store
from deepfort.api.app import build_app
from deepfort.catalog import DEMO_NOTICE, embedded_model_path, resolve_models
from deepfort.cli.common import err_console, fail, settings_or_exit
from deepfort.cluster.keys import load_keyring, node_secret
from deepfort.config import LocalModel, ModelSpec, Settings
from deepfort.errors import DeepfortError
from deepfort.observability.logs import configure_logging

ModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model", "-m", help="GGUF path or model id; repeat for several. Default: the embedded model."
    ),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")]


def _check_file(model: LocalModel) -> None:
    path = model.path if model.path is not None else embedded_model_path()
    if not path.is_file():
        fail(f"model {model.id}: file not found: {path}")
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            fail(f"model {model.id}: not a GGUF file: {path}")


def _check_auth(settings: Settings) -> None:
    """Refuse to listen beyond loopback with nobody able to authenticate, unless told it is wanted."""
    try:
        store = open_store(settings)
    except DeepfortError as exc:
        fail(f"cannot open the store: {exc.message}")
    try:
        keys = store.count_api_keys(active_only=True)
    finally:
        store.close()
    if keys:
        err_console.print("auth: on (API keys required)", highlight=False)
        return
    if is_loopback(settings.server.host):
        err_console.print(
            "auth: [bold]off[/] (loopback only, no API keys; `deepfort keys create` turns it on)",
            highlight=False,
        )
        return
    if settings.security.insecure_no_auth:
        err_console.print(
            f"[bold red]WARNING[/]: listening on {settings.server.host} with no API keys and "
            "--insecure-no-auth: anyone who can reach this port can use it.",
            highlight=False,
        )
        return
    fail(
        f"refusing to listen on {settings.server.host} without API keys: create one with "
        "`deepfort keys create --name NAME --role admin`, or pass --insecure-no-auth"
    )


def apply_model_flags(
    models: list[ModelSpec], given: list[str], changes: dict[str, object], reasoning_parser: str | None
) -> list[ModelSpec]:
    """CLI flags such as ``--n-ctx`` apply to every local model; ``--reasoning-parser`` to the local models
    named with ``--model`` (or to all when none is named)."""
    out: list[ModelSpec] = []
    for m in models:
        if not isinstance(m, LocalModel):
            out.append(m)
            continue
        update = {k: v for k, v in changes.items() if v is not None}
        if reasoning_parser and (not given or m.id in given or str(m.path) in given):
            update["reasoning_parser"] = reasoning_parser
        out.append(LocalModel.model_validate({**m.model_dump(), **update}) if update else m)
    return out


def serve(
    model: ModelOpt = None,
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [default: 8080].")] = None,
    queue_size: Annotated[int | None, typer.Option(help="Waiting requests per model before 503.")] = None,
    max_body_bytes: Annotated[int | None, typer.Option(help="Largest request body in bytes.")] = None,
    n_ctx: Annotated[int | None, typer.Option("--n-ctx", help="Context length per sequence.")] = None,
    n_parallel: Annotated[int | None, typer.Option("--parallel", help="Sequences decoded together.")] = None,
    n_threads: Annotated[int | None, typer.Option("--threads", help="CPU threads per model.")] = None,
    n_batch: Annotated[
        int | None,
        typer.Option("--batch-size", "-b", help="Most tokens in one decode step [default: 512]."),
    ] = None,
    prefill_chunk: Annotated[
        int | None,
        typer.Option(
            "--prefill-chunk", help="Most prompt tokens in a step while others decode [default: 256]."
        ),
    ] = None,
    kv_cells: Annotated[
        int | None,
        typer.Option("--kv-cells", help="KV cells of all slots together [default: n_ctx x parallel]."),
    ] = None,
    kv_unified: Annotated[
        bool | None,
        typer.Option(
            "--kv-unified/--kv-per-slot",
            help="One KV pool for all slots, or a stream per slot [default: per slot when memory holds "
            "a full context for each].",
        ),
    ] = None,
    reasoning_parser: Annotated[
        str | None, typer.Option(help="e.g. deepseek_r1, for --model models.")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning or error.")] = None,
    role: Annotated[
        str | None, typer.Option(help="standalone, edge (routes to centers) or center (serves gRPC).")
    ] = None,
    center: Annotated[
        list[str] | None, typer.Option("--center", help="grpc://host:port of a center; repeat for several.")
    ] = None,
    grpc_host: Annotated[str | None, typer.Option(help="Center: gRPC address [default: 127.0.0.1].")] = None,
    grpc_port: Annotated[int | None, typer.Option(help="Center: gRPC port [default: 9443].")] = None,
    insecure_no_auth: Annotated[
        bool, typer.Option("--insecure-no-auth", help="Listen beyond loopback without API keys (unsafe).")
    ] = False,
) -> None:
    """Serve models through an OpenAI-compatible API (like `vllm serve MODEL` or `llama-server -m`)."""
    server = {
        "host": host,
        "port": port,
        "queue_size": queue_size,
        "max_body_bytes": max_body_bytes,
        "log_level": log_level,
    }
    overrides = {k: v for k, v in server.items() if v is not None}
    cluster = {k: v for k, v in {"grpc_host": grpc_host, "grpc_port": grpc_port}.items() if v is not None}
    if role is not None and role not in ("standalone", "edge", "center"):
        fail(f"--role must be standalone, edge or center, not {role!r}")
    if center and role is None:
        role = "edge"
    security = {"insecure_no_auth": True} if insecure_no_auth else None
    settings = settings_or_exit(
        config,
        server=overrides or None,
        cluster=cluster or None,
        role=role,
        centers=center or None,
        security=security,
    )
    configure_logging(settings.server.log_level)
    given = list(model or [])
    try:
        models = resolve_models(settings, given)
        changes: dict[str, object] = {
            "n_ctx": n_ctx,
            "n_parallel": n_parallel,
            "n_threads": n_threads,
            "n_batch": n_batch,
            "prefill_chunk": prefill_chunk,
            "kv_cells": kv_cells,
            "kv_unified": kv_unified,
        }
        resolved = apply_model_flags(models, given, changes, reasoning_parser)
    except ValueError as exc:
        fail(str(exc))
    for m in resolved:
        if isinstance(m, LocalModel):
            _check_file(m)
        elif m.api_key_env and not os.environ.get(m.api_key_env):
            fail(f"model {m.id}: environment variable {m.api_key_env} is not set")
    if settings.role == "center" or settings.centers:
        load_keyring(settings.cluster, settings.data_dir)
        node_secret(settings.cluster)
    _check_auth(settings)
    names = ", ".join(m.id for m in resolved)
    err_console.print(
        f"deepfort ({settings.role}) serving [bold]{names}[/] on "
        f"http://{settings.server.host}:{settings.server.port}/v1",
        highlight=False,
    )
    for m in resolved:
        if isinstance(m, LocalModel) and m.embedded:
            err_console.print(f"[yellow]{escape(DEMO_NOTICE.format(model=m.id))}[/]", highlight=False)
    if settings.role == "center":
        err_console.print(
            f"cluster gRPC on {settings.cluster.grpc_host}:{settings.cluster.grpc_port}", highlight=False
        )
    for url in settings.centers:
        err_console.print(f"forwarding to center {url}", highlight=False)
    app = build_app(settings, resolved)
    uvicorn.run(app, host=settings.server.host, port=settings.server.port, log_config=None, access_log=False)
