"""The runner and the client against the real app in process (scripted engine): what is asked, how
answers are read (reasoning apart, truncation), resuming a run that stopped half-way, pass@1 over samples.

The toy suites here are small :class:`Suite` subclasses the other eval tests import too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from deepfort.evals.base import Generation, Item, Loglikelihood, LoglikelihoodRequest, Mode, Suite, Verdict
from deepfort.evals.cache import RunFile, RunParams, read_run
from deepfort.evals.client import EvalClient, EvalError, Reply, SamplingParams
from deepfort.evals.report import build_report
from deepfort.evals.runner import EvalOptions, ProgressSink, SuitePlan, parse_assignments, run_suites
from tests.conftest import InProcess
from tests.engines.scripted import ScriptedEngine

LETTERS = "ABCD"


class ToyChoice(Suite):
    """Multiple choice from JSONL lines ``{"id", "question", "choices", "answer", "subject"}``; the last
    capital A-D of the answer is the choice."""

    name = "toy"
    help = "a toy multiple-choice suite"
    modes: ClassVar[tuple[Mode, ...]] = ("generate", "loglikelihood")

    def load(self, data: Path) -> list[Item]:
        items = []
        for line in data.read_text().splitlines():
            row = json.loads(line)
            items.append(
                Item(
                    id=str(row["id"]),
                    subject=row.get("subject", ""),
                    prompt=row["question"],
                    choices=tuple(row["choices"]),
                    target=row["answer"],
                )
            )
        return items

    def judge(self, item: Item, generation: Generation) -> Verdict:
        found = re.findall(r"\b([A-D])\b", generation.content)
        extracted = found[-1] if found else None
        return Verdict(extracted == item.target, extracted, generation.truncated)

    def loglikelihood(self, item: Item) -> Sequence[LoglikelihoodRequest]:
        return [LoglikelihoodRequest(f"{item.prompt}\nAnswer:", f" {c}") for c in item.choices]

    def choose(self, item: Item, scores: Sequence[Loglikelihood]) -> Verdict:
        best = max(range(len(scores)), key=lambda i: scores[i].logprob)
        return Verdict(LETTERS[best] == item.target, LETTERS[best])


class ToyCode(ToyChoice):
    """Scored as pass@1 (the runner's code suites), same answers as :class:`ToyChoice`."""

    name = "toycode"
    modes = ("generate",)
    metric = "pass@1"


def write_questions(path: Path, count: int, subjects: Sequence[str] = ("algebra", "history")) -> Path:
    rows = [
        {
            "id": f"q{i}",
            "question": f"Question {i}?",
            "choices": ["one", "two", "three", "four"],
            "answer": LETTERS[i % 4],
            "subject": subjects[i % len(subjects)],
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def engine(inprocess: InProcess) -> Iterator[ScriptedEngine]:
    engine = inprocess.engine("scripted")
    engine.reset()
    yield engine
    engine.reset()


def client_for(inprocess: InProcess, model: str = "scripted", **kwargs: object) -> EvalClient:
    transport = httpx.ASGITransport(app=inprocess.app)
    return EvalClient("http://test/v1", model, transport=transport, backoff_s=0.01, **kwargs)  # type: ignore[arg-type]


class Counting(ProgressSink):
    def __init__(self) -> None:
        self.started: list[tuple[str, int, int]] = []
        self.answers = 0

    def suite_started(self, suite: str, total: int, cached: int) -> None:
        self.started.append((suite, total, cached))

    def answered(self, suite: str) -> None:
        self.answers += 1


def run(
    inprocess: InProcess,
    plans: Sequence[SuitePlan],
    path: Path,
    options: EvalOptions,
    *,
    client: EvalClient | None = None,
    progress: ProgressSink | None = None,
    model: str = "scripted",
) -> set[tuple[str, str, int, str]]:
    async def go() -> set[tuple[str, str, int, str]]:
        asker = client or client_for(inprocess, model)
        params = RunParams(model, **options.sampling.body())
        try:
            with RunFile.open(path, params) as run_file:
                return await run_suites(plans, asker, run_file, options, progress=progress)
        finally:
            await asker.aclose()

    return inprocess.run(go())


def test_generate_reads_the_answer_apart_from_the_reasoning(inprocess: InProcess) -> None:
    engine = inprocess.engine("scripted-r1")
    engine.reset()
    engine.enqueue(["<think>", "A looks tempting, but", "</think>", "The answer is C"])

    async def ask() -> Generation:
        async with client_for(inprocess, "scripted-r1") as client:
            return await client.generate(
                ToyChoice().generate(Item(id="x", prompt="Pick")), SamplingParams(temperature=0)
            )

    generation = inprocess.run(ask())
    assert generation.content == "The answer is C"
    assert generation.reasoning == "A looks tempting, but"
    assert generation.finish_reason == "stop"
    # The server's own counts (usage.completion_tokens_details), not estimated: a token is a character.
    assert isinstance(generation, Reply) and not generation.tokens_estimated
    assert generation.completion_tokens == len("<think>A looks tempting, but</think>The answer is C")
    assert len("A looks tempting, but") <= generation.reasoning_tokens < generation.completion_tokens


def test_run_asks_each_sample_with_its_seed_and_records_it(
    inprocess: InProcess, engine: ScriptedEngine, tmp_path: Path
) -> None:
    data = write_questions(tmp_path / "q.jsonl", 3)
    for _ in range(6):
        engine.enqueue(["The answer is A"])
    options = EvalOptions(SamplingParams(temperature=0.6, top_p=0.95, max_tokens=64, seed=7), samples=2)
    progress = Counting()
    keys = run(
        inprocess,
        [SuitePlan(ToyChoice(), data, "generate")],
        tmp_path / "run.jsonl",
        options,
        progress=progress,
    )
    assert len(engine.requests) == 6 and progress.answers == 6
    assert progress.started == [("toy", 6, 0)]
    assert sorted(r.sampling.seed or 0 for r in engine.requests) == [7, 7, 7, 8, 8, 8]
    assert {r.sampling.temperature for r in engine.requests} == {0.6}
    assert {r.max_tokens for r in engine.requests} == {64}
    saved = read_run(tmp_path / "run.jsonl")
    assert set(saved.answers) == keys
    answer = saved.answers[("toy", "q0", 1, "generate")]
    assert answer["correct"] is True and answer["extracted"] == "A"
    assert answer["answer"]["content"] == "The answer is A"
    assert saved.suites["toy"]["metric"] == "accuracy"


def test_resume_asks_only_what_is_missing(
    inprocess: InProcess, engine: ScriptedEngine, tmp_path: Path
) -> None:
    data = write_questions(tmp_path / "q.jsonl", 8)
    path = tmp_path / "run.jsonl"
    plans = [SuitePlan(ToyChoice(), data, "generate")]
    options = EvalOptions(SamplingParams(temperature=0.0, seed=1), concurrency=1)

    class DiesAfter(httpx.AsyncBaseTransport):
        """The connection drops for good after ``k`` requests: the run stops half-way, as on a crash."""

        def __init__(self, k: int) -> None:
            self.inner = httpx.ASGITransport(app=inprocess.app)
            self.left = k

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if self.left == 0:
                raise httpx.ConnectError("gone")
            self.left -= 1
            return await self.inner.handle_async_request(request)

    dying = EvalClient("http://test/v1", "scripted", transport=DiesAfter(3), retries=1, backoff_s=0.01)
    with pytest.raises(EvalError, match="cannot reach"):
        run(inprocess, plans, path, options, client=dying)
    assert len(read_run(path).answers) == 3
    with path.open("a") as f:
        f.write('{"type": "answer", "suite": "toy", "ite')  # and a crash while writing the fourth
    engine.reset()
    progress = Counting()
    keys = run(inprocess, plans, path, options, progress=progress)
    assert len(engine.requests) == 5, "only the five answers the file lacks are asked"
    assert progress.started == [("toy", 8, 3)]
    saved = read_run(path)
    assert set(saved.answers) == keys and len(keys) == 8
    engine.reset()
    run(inprocess, plans, path, options)
    assert engine.requests == [], "a finished run asks nothing again"
    assert len(saved.sessions) == 2 and len(read_run(path).sessions) == 3


def test_more_samples_and_questions_ask_only_the_new_ones(
    inprocess: InProcess, engine: ScriptedEngine, tmp_path: Path
) -> None:
    data = write_questions(tmp_path / "q.jsonl", 5)
    path = tmp_path / "run.jsonl"
    plans = [SuitePlan(ToyChoice(), data, "generate")]
    sampling = SamplingParams(temperature=0.6, seed=0)
    run(inprocess, plans, path, EvalOptions(sampling, samples=1, limit=2))
    assert len(engine.requests) == 2
    engine.reset()
    keys = run(inprocess, plans, path, EvalOptions(sampling, samples=3, limit=4))
    assert len(engine.requests) == 4 * 3 - 2
    assert len(keys) == 12


def test_other_params_are_refused(inprocess: InProcess, engine: ScriptedEngine, tmp_path: Path) -> None:
    data = write_questions(tmp_path / "q.jsonl", 2)
    path = tmp_path / "run.jsonl"
    plans = [SuitePlan(ToyChoice(), data, "generate")]
    run(inprocess, plans, path, EvalOptions(SamplingParams(temperature=0.6, max_tokens=100)))
    engine.reset()
    with pytest.raises(
        EvalError, match=r"temperature 0\.6 \(this run: 0\.0\); max_tokens 100 \(this run: None\)"
    ):
        run(inprocess, plans, path, EvalOptions(SamplingParams(temperature=0.0)))
    assert engine.requests == []


def test_a_changed_prompt_is_asked_again(
    inprocess: InProcess, engine: ScriptedEngine, tmp_path: Path
) -> None:
    data = write_questions(tmp_path / "q.jsonl", 3)
    path = tmp_path / "run.jsonl"
    plans = [SuitePlan(ToyChoice(), data, "generate")]
    run(inprocess, plans, path, EvalOptions())
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    rows[1]["question"] = "Question 1, reworded?"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    engine.reset()
    run(inprocess, plans, path, EvalOptions())
    assert [r.prompt for r in engine.requests] == [
        engine.render_chat([{"role": "user", "content": rows[1]["question"]}])
    ]


def test_pass_at_1_is_averaged_over_samples(
    inprocess: InProcess, engine: ScriptedEngine, tmp_path: Path
) -> None:
    data = write_questions(tmp_path / "q.jsonl", 2, subjects=("s",))  # q0: A, q1: B
    # q0 right in 3 of 4 samples, q1 in 1 of 4: pass@1 = (0.75 + 0.25) / 2; one answer is cut short.
    for piece in ["A", "A", "A", "C", "B", "D", "D", "x" * 40]:
        engine.enqueue([piece])
    plans = [SuitePlan(ToyCode(), data, "generate")]
    options = EvalOptions(SamplingParams(max_tokens=20, seed=0), samples=4, concurrency=1)
    keys = run(inprocess, plans, tmp_path / "run.jsonl", options)
    report = build_report(read_run(tmp_path / "run.jsonl"), keys, ks=(1, 2, 4))
    suite = report["suites"]["toycode"]
    assert suite["metric"] == "pass@1"
    assert suite["score"] == 0.5
    assert suite["n"] == 2 and suite["answers"] == 8 and suite["samples"] == 4
    assert suite["truncated_rate"] == 0.125
    assert suite["unparsed_rate"] == 0.125
    # pass@2: q0 1 - C(1,2)/C(4,2) = 1; q1 1 - C(3,2)/C(4,2) = 0.5. pass@4: both solved once.
    assert suite["pass_at_k"] == {"pass@1": 0.5, "pass@2": 0.75, "pass@4": 1.0}


def test_loglikelihood_on_a_server_without_prompt_logprobs_is_an_error(
    inprocess: InProcess, engine: ScriptedEngine, tmp_path: Path
) -> None:
    """The scripted engine has no log-probabilities: the run must stop with the clear error, never score."""
    data = write_questions(tmp_path / "q.jsonl", 2)
    path = tmp_path / "run.jsonl"
    with pytest.raises(EvalError, match="does not return prompt log-probabilities"):
        run(inprocess, [SuitePlan(ToyChoice(), data, "loglikelihood")], path, EvalOptions())
    assert read_run(path).answers == {}


def test_assignments() -> None:
    assert parse_assignments(["a.jsonl"], ["mmlu"], "--data") == ("a.jsonl", {})
    assert parse_assignments(["mmlu=m", "x=y.csv"], ["mmlu", "gsm8k"], "--data") == ("x=y.csv", {"mmlu": "m"})
    with pytest.raises(EvalError, match="twice"):
        parse_assignments(["mmlu=a", "mmlu=b"], ["mmlu"], "--data")
    with pytest.raises(EvalError, match="twice"):
        parse_assignments(["a", "b"], ["mmlu"], "--data")


def test_golden_judge_items_go_to_the_judge_model(
    inprocess: InProcess, engine: ScriptedEngine, tmp_path: Path
) -> None:
    """The real golden suite: a checked item is judged here, a judge item by the judge model's reply."""
    from deepfort.evals.suites import SUITES

    data = tmp_path / "golden.jsonl"
    rows = [
        {"question": "What is 6 x 7?", "checker": {"type": "number", "value": 42}},
        {"question": "Explain GDP in one line", "checker": {"type": "judge", "criteria": "total output"}},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    judge_engine = inprocess.engine("scripted-r1")
    judge_engine.reset()
    engine.enqueue(["It is 42."])
    engine.enqueue(["The total value of what a country produces in a year."])
    judge_engine.enqueue(["It names the total output.\nVERDICT: PASS"])
    plans = [SuitePlan(SUITES.get("golden")(), data, "generate")]
    path = tmp_path / "run.jsonl"

    async def go() -> None:
        client, judge = client_for(inprocess), client_for(inprocess, "scripted-r1")
        try:
            with RunFile.open(path, RunParams("scripted", judge_model="scripted-r1")) as run_file:
                await run_suites(plans, client, run_file, EvalOptions(concurrency=1), judge=judge)
        finally:
            await client.aclose()
            await judge.aclose()

    inprocess.run(go())
    assert len(engine.requests) == 2 and len(judge_engine.requests) == 1
    assert "total output" in str(judge_engine.requests[0].prompt)
    assert "The total value of what a country produces" in str(judge_engine.requests[0].prompt)
    answers = list(read_run(path).answers.values())
    assert [a["correct"] for a in answers] == [True, True]
    assert "judge" not in answers[0] and answers[0]["requests"] == 1
    assert answers[1]["judge"]["content"].endswith("VERDICT: PASS") and answers[1]["requests"] == 2
    assert answers[1]["detail"] == "judge: PASS"
