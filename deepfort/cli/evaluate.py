"""``deepfort eval``: run benchmark suites against a model (``run``), list them (``suites``), read a run
file back (``report``), compare two runs (``compare``), and ask a live server a golden set (``golden``)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from deepfort.access.keys import LOCAL, ApiKey
from deepfort.cli.common import err_console, fail, settings_or_exit
from deepfort.config import LocalModel, Settings
from deepfort.evals.cache import RunParams, read_run
from deepfort.evals.client import EvalClient, EvalError, SamplingParams
from deepfort.evals.compare import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, compare_runs, print_comparison
from deepfort.evals.golden import load_golden
from deepfort.evals.html import comparison_html, report_html
from deepfort.evals.report import DEFAULT_KS, build_report, print_report
from deepfort.evals.runner import EvalOptions, judge_params, plan_suites, run_to_report
from deepfort.evals.suites import SUITES

app = typer.Typer(help="Benchmark a model: suites, run files, reports and comparisons.", no_args_is_help=True)

# DeepSeek's protocol for R1 and its distilled models: greedy decoding makes them repeat themselves.
DEFAULT_TEMPERATURE = 0.6
DEFAULT_TOP_P = 0.95


class EvalProgress:
    """The run's progress on stderr: one bar per suite, answers found in the run file counted as done."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> EvalProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def suite_started(self, suite: str, total: int, cached: int) -> None:
        label = f"{suite}" + (f" ({cached} from the run file)" if cached else "")
        self.tasks[suite] = self.progress.add_task(label, total=total, completed=cached)

    def answered(self, suite: str) -> None:
        self.progress.advance(self.tasks[suite])


@dataclass
class _Target:
    client: EvalClient
    judge: EvalClient | None
    url: str


async def _first_model(client: EvalClient) -> str:
    models = await client.models()
    if not models:
        raise EvalError(f"{client.base_url}/models lists no model; name one with --model")
    return models[0]


async def _local_principal() -> ApiKey:
    return LOCAL


@asynccontextmanager
async def _in_process(
    config: Path | None, model: str | None
) -> AsyncIterator[tuple[httpx.ASGITransport, str]]:
    """This node's model (``model``: an id, an alias or a GGUF path) served in this process."""
    from deepfort.catalog import local_model

    settings = settings_or_exit(config)
    async with serve_in_process(settings, local_model(settings, model)) as served:
        yield served


@asynccontextmanager
async def serve_in_process(
    settings: Settings, chosen: LocalModel
) -> AsyncIterator[tuple[httpx.ASGITransport, str]]:
    """``chosen`` served by the real app in this process, reached through ``httpx.ASGITransport`` (the
    same request path as ``deepfort serve``), and the id it is served under. Whoever can run this can
    read the data directory, so the app's requests are the local principal's, as ``deepfort chat`` in
    process."""
    from deepfort.api.app import build_app
    from deepfort.api.auth import authenticated

    observability = settings.observability.model_copy(update={"metrics_port": None, "access_log": None})
    settings = settings.model_copy(
        update={"role": "standalone", "centers": [], "observability": observability}
    )
    served = build_app(settings, [chosen])
    served.dependency_overrides[authenticated] = _local_principal
    async with served.router.lifespan_context(served):
        transport = httpx.ASGITransport(app=served)
        async with httpx.AsyncClient(transport=transport, base_url="http://deepfort") as probe:
            with err_console.status("loading the model"):
                while (ready := await probe.get("/ready")).status_code != 200:
                    if ready.status_code != 503:
                        raise EvalError(f"the model did not load: {ready.text[:300]}")
                    await asyncio.sleep(0.1)
        yield transport, chosen.id  # the id it is served under (a GGUF path is not one)


@asynccontextmanager
async def eval_target(
    url: str | None,
    model: str | None,
    api_key: str | None,
    config: Path | None,
    judge_url: str | None,
    judge_model: str | None,
    judge_api_key: str | None,
    retries: int = 5,
) -> AsyncIterator[_Target]:
    async with _maybe_in_process(url, config, model) as local:
        transport = local[0] if local is not None else None
        if local is not None:
            client = EvalClient("http://deepfort/v1", local[1], transport=local[0])
        else:
            assert url is not None
            client = EvalClient(url, model or "", api_key=api_key, retries=retries)
            if model is None:
                client.model = await _first_model(client)
        judge = None
        try:
            if judge_url is not None:
                judge = EvalClient(
                    judge_url, judge_model or client.model, api_key=judge_api_key or api_key, retries=retries
                )
            elif judge_model is not None:
                judge = EvalClient(client.base_url, judge_model, api_key=api_key, transport=transport)
            yield _Target(client, judge, client.base_url if transport is None else "in process")
        finally:
            await client.aclose()
            if judge is not None:
                await judge.aclose()


@asynccontextmanager
async def _maybe_in_process(
    url: str | None, config: Path | None, model: str | None
) -> AsyncIterator[tuple[httpx.ASGITransport, str] | None]:
    if url is not None:
        yield None
        return
    async with _in_process(config, model) as local:
        yield local


def _default_run_file(params: RunParams) -> Path:
    """One file per model and settings: the same command run again resumes it."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", params.model).strip("_") or "model"
    return Path(f"deepfort-eval-{name}-{params.digest()}.jsonl")


def _write_html(path: Path, page: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    err_console.print(f"HTML report: {escape(str(path))}", highlight=False)


def _print_json(value: Mapping[str, Any]) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False))


@app.command("run")
def run(
    suites: Annotated[list[str], typer.Argument(help="Suites to run (see `deepfort eval suites`).")],
    url: Annotated[
        str | None,
        typer.Option(
            help="OpenAI-compatible base URL (/v1 is added to a bare host). Default: load the model here."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model to evaluate. Default: the server's first model."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key; env DEEPFORT_API_KEY or OPENAI_API_KEY.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML settings (in process only).")
    ] = None,
    data: Annotated[
        list[str] | None, typer.Option(help="Questions: PATH for every suite, or SUITE=PATH. Repeatable.")
    ] = None,
    mode: Annotated[
        list[str] | None,
        typer.Option(help="generate | loglikelihood, or SUITE=MODE. Default: the suite's first mode."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N questions of each suite.")
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="Answers per question (pass@1 is their mean).")] = 1,
    k: Annotated[
        list[int] | None, typer.Option("--k", min=1, help="pass@k for code suites. Repeatable.")
    ] = None,
    temperature: Annotated[
        float, typer.Option(min=0.0, max=2.0, help="Sampling temperature.")
    ] = DEFAULT_TEMPERATURE,
    top_p: Annotated[float, typer.Option(min=0.0, max=1.0, help="Nucleus sampling.")] = DEFAULT_TOP_P,
    max_tokens: Annotated[
        int | None,
        typer.Option(min=1, help="Longest answer, reasoning included. Default: as the server allows."),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.")] = 8,
    retries: Annotated[
        int,
        typer.Option(
            min=0, help="Retries of a request on 429, 5xx or a lost connection (backoff 1, 2, 4 s...)."
        ),
    ] = 5,
    seed: Annotated[int, typer.Option(help="Seed of sample 0; sample i uses seed + i.")] = 0,
    run_file: Annotated[
        Path | None,
        typer.Option(help="JSONL run file (answers are appended; a rerun asks only what it lacks)."),
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Write the report as an HTML page here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    judge_url: Annotated[str | None, typer.Option(help="Server of the judge model. Default: --url.")] = None,
    judge_model: Annotated[
        str | None, typer.Option(help="Judge model (golden sets). Default: --model.")
    ] = None,
    judge_api_key: Annotated[str | None, typer.Option(help="API key of the judge server.")] = None,
) -> None:
    """Run SUITE... against a model and report per suite and subject: score, unparsed and truncated
    answers, reasoning and answer tokens, throughput. Every answer goes to the run file as it arrives;
    run the same command again to resume."""
    plans = plan_suites(suites, data or [], mode or [])
    key = api_key or os.environ.get("DEEPFORT_API_KEY") or os.environ.get("OPENAI_API_KEY")
    sampling = SamplingParams(temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed)
    options = EvalOptions(
        sampling=sampling,
        samples=samples,
        limit=limit,
        concurrency=concurrency,
        judge_sampling=judge_params(sampling),
    )

    async def go() -> dict[str, Any]:
        target_args = (url, model, key, config, judge_url, judge_model, judge_api_key, retries)
        async with eval_target(*target_args) as target:
            params = RunParams(
                target.client.model, temperature, top_p, max_tokens, seed, judge_model=judge_model
            )
            path = run_file or _default_run_file(params)
            err_console.print(
                f"evaluating [bold]{escape(target.client.model)}[/] ({escape(target.url)}); run file "
                f"{escape(str(path))}",
                highlight=False,
            )
            with EvalProgress(err_console) as bar:
                return await run_to_report(
                    plans,
                    target.client,
                    path,
                    options,
                    params,
                    judge=target.judge,
                    progress=bar,
                    url=target.url,
                    ks=k or DEFAULT_KS,
                )

    started = time.monotonic()
    try:
        report = asyncio.run(go())
    except KeyboardInterrupt:
        fail("interrupted; the answers so far are in the run file: run the same command to go on")
    except httpx.HTTPError as exc:
        fail(f"{exc!r}")
    err_console.print(f"done in {time.monotonic() - started:.1f} s", highlight=False)
    if html is not None:
        _write_html(html, report_html(report))
    if as_json:
        _print_json(report)
    else:
        print_report(report, Console())


@app.command("suites")
def list_suites(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The suites `deepfort eval run` knows, with their modes and what data they read."""
    rows: list[dict[str, Any]] = []
    for name, cls in SUITES.items():
        suite = cls()
        default = suite.default_data()
        rows.append(
            {
                "name": name,
                "modes": list(cls.modes),
                "default_mode": cls.modes[0],
                "needs_data": default is None,
                "help": cls.help,
            }
        )
    if as_json:
        _print_json({"object": "list", "data": rows})
        return
    table = Table("suite", "modes", "data", "about")
    for row in rows:
        table.add_row(
            row["name"],
            ", ".join(row["modes"]),
            "--data PATH" if row["needs_data"] else "built in",
            row["help"],
        )
    Console().print(table)


@app.command("report")
def report(
    run_file: Annotated[Path, typer.Argument(help="A run file of `deepfort eval run`.")],
    html: Annotated[Path | None, typer.Option(help="Write the report as an HTML page here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    k: Annotated[
        list[int] | None, typer.Option("--k", min=1, help="pass@k for code suites. Repeatable.")
    ] = None,
) -> None:
    """The report of every answer in RUN_FILE (all its sessions)."""
    built = build_report(read_run(run_file), ks=k or DEFAULT_KS)
    if html is not None:
        _write_html(html, report_html(built))
    if as_json:
        _print_json(built)
    else:
        print_report(built, Console())


@app.command("compare")
def compare(
    run_a: Annotated[Path, typer.Argument(help="The run before (the baseline).")],
    run_b: Annotated[Path, typer.Argument(help="The run after (the change).")],
    confidence: Annotated[
        float, typer.Option(min=0.5, max=0.999, help="Confidence level.")
    ] = DEFAULT_CONFIDENCE,
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = DEFAULT_RESAMPLES,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    html: Annotated[Path | None, typer.Option(help="Write the comparison as an HTML page here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as one JSON object.")] = False,
) -> None:
    """Per-suite score deltas B - A with paired bootstrap confidence intervals over questions, and the
    questions that flipped (right -> wrong, wrong -> right)."""
    with err_console.status("resampling"):
        compared = compare_runs(
            read_run(run_a), read_run(run_b), resamples=resamples, confidence=confidence, seed=seed
        )
    if html is not None:
        _write_html(html, comparison_html(compared))
    if as_json:
        _print_json(compared)
    else:
        print_comparison(compared, Console())


@app.command("golden")
def golden(
    file: Annotated[Path, typer.Argument(help="Golden set, JSONL: question + answers or a checker.")],
    url: Annotated[str, typer.Option(help="Base URL of the server, e.g. http://127.0.0.1:8080/v1.")],
    api_key: Annotated[
        str | None, typer.Option(help="An admin key (verdicts are recorded as golden); env DEEPFORT_API_KEY.")
    ] = None,
    model: Annotated[str, typer.Option(help="Model to ask.")] = "auto",
    max_tokens: Annotated[int, typer.Option(help="Longest answer.")] = 128,
    record: Annotated[bool, typer.Option(help="Record each verdict with POST /v1/feedback.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Accuracy of the server's answers on FILE; with --record (default) each verdict feeds the server's
    rolling `deepfort:answer_accuracy`."""
    try:
        items = load_golden(file)
    except OSError as exc:
        fail(str(exc))
    key = api_key or os.environ.get("DEEPFORT_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    base = url.rstrip("/")
    results: list[dict[str, object]] = []
    verdicts: list[bool] = []
    with httpx.Client(headers=headers, timeout=600) as client, Progress(console=err_console) as progress:
        task = progress.add_task("asking", total=len(items))
        for item in items:
            body = {
                "model": model,
                "temperature": 0,
                "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": item.question}],
            }
            try:
                reply = client.post(f"{base}/chat/completions", json=body)
            except httpx.TransportError as exc:
                fail(f"cannot reach {base}: {exc}")
            if reply.status_code != 200:
                fail(f"{base} answered {reply.status_code}: {reply.text[:300]}")
            answer = reply.json()
            content = answer["choices"][0]["message"].get("content") or ""
            correct = item.check(content)
            results.append({"question": item.question, "answer": content, "correct": correct})
            verdicts.append(correct)
            if record:
                verdict = {
                    "response_id": answer["id"],
                    "rating": "up" if correct else "down",
                    "source": "golden",
                }
                recorded = client.post(f"{base}/feedback", json=verdict)
                if recorded.status_code != 201:
                    fail(f"recording the verdict failed: {recorded.status_code} {recorded.text[:300]}")
            progress.advance(task)
    correct_count = sum(verdicts)
    accuracy = correct_count / len(results)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "file": str(file),
                    "total": len(results),
                    "correct": correct_count,
                    "accuracy": round(accuracy, 4),
                    "results": results,
                },
                ensure_ascii=False,
            )
        )
        return
    Console().print(f"{correct_count}/{len(results)} correct: accuracy {accuracy:.1%}")
