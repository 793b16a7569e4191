"""Entry point: ``deepfort`` (also ``python -m deepfort``)."""

from __future__ import annotations

import json
from importlib.metadata import version as dist_version

import typer

from deepfort import __version__
from deepfort.cli import (
    audit,
    bench,
    chat,
    cluster,
    data,
    distill,
    doctor,
    evaluate,
    export,
    finetune,
    keys,
    logs,
    models,
    quantize,
    route,
    serve,
    workflow,
)
from deepfort.cli.common import DeepfortGroup

app = typer.Typer(
    name="deepfort",
    cls=DeepfortGroup,
    help="A privately deployed AI platform: OpenAI-compatible serving of reasoning models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("chat")(chat.chat)
app.command("bench")(bench.bench)
app.add_typer(models.app, name="models")
app.add_typer(route.app, name="route")
app.add_typer(cluster.app, name="cluster")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(evaluate.app, name="eval")
app.command("export")(export.export)
app.add_typer(logs.app, name="logs")
app.command("doctor")(doctor.doctor)
app.add_typer(workflow.app, name="workflow")
app.add_typer(data.app, name="data")
app.command("quantize", epilog=quantize.EPILOG)(quantize.quantize)
app.command("finetune", epilog=finetune.EPILOG)(finetune.finetune)
app.command("distill", epilog=distill.EPILOG)(distill.distill)


@app.command("version")
def version(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print deepfort's version and the llama.cpp binding it uses."""
    info = {"deepfort": __version__, "llama-cpp-python": dist_version("llama-cpp-python")}
    if as_json:
        typer.echo(json.dumps(info))
    else:
        typer.echo(f"deepfort {info['deepfort']} (llama-cpp-python {info['llama-cpp-python']})")


def main() -> None:
    app()
