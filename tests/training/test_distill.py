"""``deepfort distill``: the prompt set and its verifiers, rejection sampling through the eval runner, the
kept traces as SFT records, the held-out split; and the whole command against a scripted teacher on a
loopback port with a tiny random student (fine-tuned a few steps, evaluated before and after)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from deepfort.errors import ConfigError
from deepfort.evals.cache import RunFile, RunParams, read_run
from deepfort.evals.client import EvalClient, SamplingParams
from deepfort.evals.runner import EvalOptions
from deepfort.training.dataset.records import read_jsonl
from deepfort.training.distill.heldout import split_prompts
from deepfort.training.distill.prompts import Prompt, load_items, read_prompts
from deepfort.training.distill.run import DistillError, DistillOptions, distill
from deepfort.training.distill.teacher import ask_teacher, plans_of
from deepfort.training.distill.traces import outcomes, reason, sft_records, verifier_summary
from tests.training.loopback_teacher import MODEL, Answer, loopback_teacher

CHECK_ADD = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
CHECK_EVEN = "def check(candidate):\n    assert candidate(4) is True\n    assert candidate(7) is False\n"
CHECK_DOUBLE = "def check(candidate):\n    assert candidate(4) == 8\n"

PROMPTS: list[dict[str, Any]] = [
    {"id": "mul", "prompt": "What is 17 * 3?", "answer": "51"},
    {"id": "speed", "prompt": "A train travels 60 km in 1.5 hours. What is its speed in km/h?", "answer": 40},
    {"id": "primes", "prompt": "How many prime numbers are there below 20?", "answer": "8"},
    {"id": "sum", "prompt": "What is the sum of 9 and 10?", "answer": "19"},
    {
        "id": "eggs",
        "question": "Janet has 3 eggs and buys 2 more. How many eggs has she?",
        "answer": "3 + 2 = 5\n#### 5",
    },
    {
        "id": "add",
        "prompt": 'def add(a, b):\n    """Return a plus b."""\n',
        "test": CHECK_ADD,
        "entry_point": "add",
    },
    {
        "id": "even",
        "prompt": 'def is_even(n):\n    """True for even n."""\n',
        "test": CHECK_EVEN,
        "entry_point": "is_even",
    },
    {
        "id": "reverse",
        "prompt": "Write a function to reverse a string.",
        "tests": ["assert reverse('abc') == 'cba'"],
    },
    {
        "id": "gdp",
        "prompt": "Explain what GDP measures in one sentence.",
        "criteria": "It says total output.",
    },
    {"id": "capital", "prompt": "Name the capital of France.", "criteria": "It says Paris."},
    # held out (the seed below puts exactly these three on the eval side): the teacher has no answer for them
    {"id": "h-square", "prompt": "What is the square of twelve?", "answer": "144"},
    {
        "id": "h-double",
        "prompt": 'def double(x):\n    """Twice x."""\n',
        "test": CHECK_DOUBLE,
        "entry_point": "double",
    },
    {"id": "h-tides", "prompt": "Why does the sea have tides?", "criteria": "It names the Moon's gravity."},
]
SEED = 500
HELDOUT = {"h-square", "h-double", "h-tides"}


def fence(code: str) -> str:
    return f"```python\n{code}\n```"


TABLE: dict[str, list[Answer]] = {
    "17 * 3": [Answer("The product is \\boxed{51}.", "17 * 3 = 51.")],
    "60 km": [
        Answer("\\boxed{45}", "60 / 1.5 is about 45."),
        Answer("\\boxed{40}", "60 / 1.5 = 40.", field="think"),
    ],
    "prime numbers": [Answer("\\boxed{7}", "2, 3, 5, 7, 11, 13, 17.")],
    "sum of 9 and 10": [
        Answer("\\boxed{19}", "9 + 10 = 19", finish_reason="length"),
        Answer("\\boxed{19}", "9 + 10 = 19.", field="reasoning"),
    ],
    "Janet has 3 eggs": [Answer("I am not sure.", "Hmm."), Answer("She has 5 eggs.", "3 + 2 = 5.")],
    "def add(a, b)": [Answer(fence("def add(a, b):\n    return a + b"), "Add them.")],
    "def is_even(n)": [
        Answer(fence("def is_even(n):\n    return n % 2 == 1"), "Odd?"),
        Answer(fence("def is_even(n):\n    return n % 2 == 0"), "Even: divisible by 2."),
    ],
    "reverse a string": [
        Answer("Use slicing with a negative step.", "Slicing."),
        Answer(fence("def reverse(s):\n    return s[::-1]"), "Slice backwards."),
    ],
    "GDP measures": [Answer("GDP is the total output of an economy in a year.", "Define GDP.")],
    "capital of France": [Answer("Lyon.", "A big French city.")],
}
PASS_PHRASES = ("total output",)

# (sample, reason) of each training prompt's answers, up to its first kept one
EXPECTED: dict[str, list[tuple[int, str]]] = {
    "mul": [(0, "passed")],
    "speed": [(0, "wrong final answer"), (1, "passed")],
    "primes": [(0, "wrong final answer"), (1, "wrong final answer"), (2, "wrong final answer")],
    "sum": [(0, "cut by max_tokens"), (1, "passed")],
    "eggs": [(0, "no final answer"), (1, "passed")],
    "add": [(0, "passed")],
    "even": [(0, "tests failed"), (1, "passed")],
    "reverse": [(0, "no code"), (1, "passed")],
    "gdp": [(0, "passed")],
    "capital": [(0, "judge: FAIL"), (1, "judge: FAIL"), (2, "judge: FAIL")],
}


def write_prompts(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# -- the prompt set ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "kind", "suite"),
    [
        ({"prompt": "2+2?", "answer": "4"}, "math", "math"),
        ({"prompt": "2+2?", "answer": 4}, "math", "math"),
        ({"question": "2+2?", "answer": "2+2=4\n#### 4"}, "math", "gsm8k"),
        ({"problem": "Simplify 2/4.", "answer": "\\frac{1}{2}"}, "math", "math"),
        ({"prompt": "def f():\n", "test": "def check(c): pass", "entry_point": "f"}, "code", "humaneval"),
        ({"prompt": "Write f.", "tests": ["assert f() == 1"]}, "code", "mbpp"),
        ({"text": "Write f.", "test_list": ["assert f() == 1"]}, "code", "mbpp"),
        ({"prompt": "Explain GDP."}, "judge", "golden"),
        ({"prompt": "Explain GDP.", "criteria": "total output"}, "judge", "golden"),
    ],
)
def test_a_prompt_is_checked_by_the_suite_its_fields_call_for(
    tmp_path: Path, row: dict[str, Any], kind: str, suite: str
) -> None:
    (prompt,) = read_prompts(write_prompts(tmp_path / "p.jsonl", [row]))
    assert (prompt.kind, prompt.suite, prompt.id) == (kind, suite, "p/1")
    (item,) = load_items([prompt], tmp_path / "items")[suite]
    assert item.id == "p/1"
    assert (tmp_path / "items" / f"{suite}.jsonl").is_file()


def test_judge_prompts_carry_their_criteria_or_reference(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "prompt": "Explain GDP.", "criteria": "says total output"},
        {"id": "b", "prompt": "2+2?", "answer": "4"},
        {"id": "c", "prompt": "Hello?"},
    ]
    prompts = read_prompts(write_prompts(tmp_path / "p.jsonl", rows), "judge")
    criteria = [p.row["checker"]["criteria"] for p in prompts]
    assert [p.kind for p in prompts] == ["judge"] * 3
    assert criteria[0] == "says total output"
    assert criteria[1] == "It agrees with this reference answer: 4"
    assert "correct" in criteria[2]


@pytest.mark.parametrize(
    ("rows", "verifier", "message"),
    [
        ([{"prompt": "Explain GDP."}], "math", "p.jsonl:1: --verifier math needs an `answer`"),
        ([{"prompt": "2+2?", "answer": "4"}], "code", "p.jsonl:1: --verifier code needs"),
        ([{"answer": "4"}], "auto", "p.jsonl:1: no prompt"),
        (
            [{"id": "x", "prompt": "a"}, {"id": "x", "prompt": "b"}],
            "auto",
            "p.jsonl:2: the id 'x' was used on line 1",
        ),
        ([{"prompt": "f", "tests": []}], "auto", "p.jsonl:1: `tests` must be a non-empty list"),
        ([{"prompt": "2+2?", "answer": ""}], "auto", "p.jsonl:1: `answer` must be"),
        ([{"prompt": "a"}], "maths", "unknown verifier 'maths'"),
    ],
)
def test_bad_prompts_are_refused_naming_the_line(
    tmp_path: Path, rows: list[dict[str, Any]], verifier: Any, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        read_prompts(write_prompts(tmp_path / "p.jsonl", rows), verifier)
    assert message in str(caught.value)


def test_the_heldout_split_is_disjoint_seeded_and_keeps_near_duplicates_together(tmp_path: Path) -> None:
    rows = [
        {"id": f"q{i}", "prompt": f"Question number {i} about topic {i * 7}?", "answer": str(i)}
        for i in range(20)
    ]
    rows.append({"id": "twin", "prompt": "Question number 3 about topic 21 ?", "answer": "3"})
    prompts = read_prompts(write_prompts(tmp_path / "p.jsonl", rows))
    train, held = split_prompts(prompts, 0.2, seed=1)
    assert {p.id for p in train} | {p.id for p in held} == {p.id for p in prompts}
    assert not {p.id for p in train} & {p.id for p in held}
    assert len(held) >= 5  # ceil(21 * 0.2)
    assert ("q3" in {p.id for p in held}) == ("twin" in {p.id for p in held})
    assert split_prompts(prompts, 0.2, seed=1) == (train, held)


def test_the_fixture_seed_holds_out_the_h_prompts(tmp_path: Path) -> None:
    _, held = split_prompts(read_prompts(write_prompts(tmp_path / "p.jsonl", PROMPTS)), 0.2, seed=SEED)
    assert {p.id for p in held} == HELDOUT


# -- verdicts and records ------------------------------------------------------------------------------


def answer(
    correct: bool, content: str = "x", *, extracted: str | None = "x", truncated: bool = False
) -> dict[str, Any]:
    return {
        "correct": correct,
        "extracted": extracted,
        "truncated": truncated,
        "detail": "",
        "answer": {"content": content, "reasoning": "thought"},
    }


@pytest.mark.parametrize(
    ("kind", "given", "expected"),
    [
        ("math", answer(True), "passed"),
        ("math", answer(True, truncated=True), "cut by max_tokens"),
        ("math", answer(True, content="  "), "empty answer"),
        ("math", answer(False, extracted=None), "no final answer"),
        ("math", answer(False, extracted="41"), "wrong final answer"),
        ("code", answer(False, extracted=None), "no code"),
        ("code", answer(False, extracted="failed"), "tests failed"),
        ("code", answer(False, extracted="timeout"), "tests timed out"),
        ("judge", answer(False, extracted=None), "no verdict from the judge"),
        ("judge", answer(False, extracted="Lyon"), "judge: FAIL"),
    ],
)
def test_why_an_answer_is_rejected(kind: Any, given: dict[str, Any], expected: str) -> None:
    assert reason(kind, given) == expected


def maths_prompts(tmp_path: Path) -> tuple[list[Prompt], dict[str, Any]]:
    rows = [
        {"id": "a", "prompt": "What is 17 * 3?", "answer": "51"},
        {"id": "b", "prompt": "How many primes are below 20?", "answer": "8"},
        {"id": "c", "prompt": "What is 9 + 10?", "answer": "19"},
    ]
    prompts = read_prompts(write_prompts(tmp_path / "p.jsonl", rows))
    return prompts, load_items(prompts, tmp_path / "items")


def test_keep_first_reads_up_to_the_first_pass_and_keep_all_keeps_every_pass(tmp_path: Path) -> None:
    prompts, items = maths_prompts(tmp_path)
    answers = {
        ("math", "a", 0, "generate"): answer(False, extracted="50"),
        ("math", "a", 1, "generate"): answer(True, "\\boxed{51}"),
        ("math", "a", 2, "generate"): answer(True, "It is \\boxed{51}"),
        ("math", "b", 0, "generate"): answer(False, extracted="7"),
        ("math", "c", 0, "generate"): answer(True, "\\boxed{19}"),
        ("math", "c", 5, "generate"): answer(True, "beyond --samples"),
    }
    first = outcomes(prompts, items, answers, samples=3, keep="first")
    assert [[(t.sample, t.kept) for t in o.traces] for o in first] == [
        [(0, False), (1, True)],
        [(0, False)],
        [(0, True)],
    ]
    every = outcomes(prompts, items, answers, samples=3, keep="all")
    assert [len(o.kept) for o in every] == [2, 0, 1]

    records = sft_records(every)
    assert [r.answer.content for r in records] == ["\\boxed{51}", "It is \\boxed{51}", "\\boxed{19}"]
    assert all(r.answer.reasoning_content == "thought" and r.source == "distill" for r in records)
    # the user turn is the prompt as the math suite asks it, which the held-out eval asks too
    assert records[0].question == items["math"][0].prompt
    assert "What is 17 * 3?" in records[0].question and "\\boxed{}" in records[0].question

    assert verifier_summary(first) == {
        "math": {
            "prompts": 3,
            "answers": 4,
            "kept": 2,
            "rejected": 2,
            "prompts_kept": 2,
            "reasons": {"wrong final answer": 2},
        }
    }


def scripted_client(replies: Mapping[str, Sequence[str]], asked: list[tuple[str, int]]) -> EvalClient:
    """An EvalClient on httpx's MockTransport: the reply to a question is chosen by a phrase in it and
    by its sample (seed)."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        text = body["messages"][-1]["content"]
        phrase = next(p for p in replies if p in text)
        asked.append((phrase, body["seed"]))
        content = replies[phrase][min(body["seed"], len(replies[phrase]) - 1)]
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        return httpx.Response(200, json={"choices": [choice]})

    return EvalClient("http://teacher/v1", "t", transport=httpx.MockTransport(handle), retries=0)


@pytest.mark.parametrize(
    ("keep", "questions"),
    [
        ("first", [("17", 0), ("17", 1), ("primes", 0), ("primes", 1), ("primes", 2), ("9 + 10", 0)]),
        ("all", None),
    ],
)
def test_rejection_sampling_asks_until_a_pass_and_a_rerun_asks_nothing(
    tmp_path: Path, keep: Any, questions: list[tuple[str, int]] | None
) -> None:
    prompts, items = maths_prompts(tmp_path)
    replies = {"17": ["\\boxed{50}", "\\boxed{51}"], "primes": ["\\boxed{7}"], "9 + 10": ["\\boxed{19}"]}
    options = EvalOptions(sampling=SamplingParams(seed=0), concurrency=1)
    path = tmp_path / "teacher.jsonl"

    async def ask(asked: list[tuple[str, int]]) -> None:
        async with scripted_client(replies, asked) as client:
            with RunFile.open(path, RunParams("t", seed=0)) as run:
                await ask_teacher(plans_of(items, tmp_path), client, run, options, samples=3, keep=keep)

    asked: list[tuple[str, int]] = []
    asyncio.run(ask(asked))
    if keep == "first":
        assert sorted(asked) == sorted(questions or [])
    else:
        assert len(asked) == 9  # every prompt, every sample
    again: list[tuple[str, int]] = []
    asyncio.run(ask(again))
    assert again == []
    found = outcomes(prompts, items, read_run(path).answers, samples=3, keep=keep)
    assert [len(o.kept) for o in found] == ([1, 0, 1] if keep == "first" else [2, 0, 3])


def test_no_kept_answer_stops_before_training_and_other_settings_are_refused(tmp_path: Path) -> None:
    prompts = write_prompts(
        tmp_path / "p.jsonl",
        [{"id": f"q{i}", "prompt": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(5)],
    )
    options = DistillOptions(
        prompts=prompts, student=tmp_path / "unused.gguf", out=tmp_path / "out", samples=2
    )

    def no_student(adapter: Path | None) -> Any:
        raise AssertionError("the student is not served when there is nothing to train on")

    async def go(options: DistillOptions) -> None:
        async with scripted_client({"+": ["\\boxed{-1}"]}, []) as teacher:
            await distill(options, teacher, no_student)

    with pytest.raises(DistillError, match="no teacher answer passed its verifier"):
        asyncio.run(go(options))
    report = json.loads((tmp_path / "out" / "distill.json").read_text())
    assert report["counts"] == {
        "prompts": 5,
        "train": 4,
        "heldout": 1,
        "answers": 8,
        "kept": 0,
        "prompts_kept": 0,
    }
    assert report["verifiers"]["math"]["reasons"] == {"wrong final answer": 8}
    assert report["finetune"] is None and report["eval"]["before"] is None

    hotter = replace(options, teacher_sampling=SamplingParams(temperature=1.0, top_p=0.95))
    with pytest.raises(DistillError, match=r"temperature 0.6 \(this run: 1.0\).*another -o"):
        asyncio.run(go(hotter))


# -- end to end ----------------------------------------------------------------------------------------


@pytest.mark.e2e  # the code verifier runs each answer in the sandbox, a process of its own
@pytest.mark.slow  # fine-tunes and loads the (tiny) student
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_distill_end_to_end_against_a_scripted_teacher(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from deepfort.cli.main import app
    from tests.training.tiny import build_tiny_model

    student = build_tiny_model(tmp_path / "tiny")
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    out = tmp_path / "out"
    with loopback_teacher(TABLE, base_seed=SEED, pass_phrases=PASS_PHRASES) as teacher:
        args = [
            "distill", str(prompts), "--teacher-url", teacher.url, "--teacher-model", MODEL,
            "--student", str(student.gguf), "--train-base", str(student.hf_dir), "-o", str(out),
            "--samples", "3", "--seed", str(SEED), "--steps", "2", "--batch-size", "4", "--r", "4",
            "--max-len", "256", "--eval-max-tokens", "8", "--concurrency", "4", "--json",
        ]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == json.loads((out / "distill.json").read_text())

    # the held-out prompts were never asked of the teacher (only graded by it, as the judge)
    train = {p["id"] for p in report["prompts"] if p["split"] == "train"}
    assert set(report["eval"]["heldout"]) == HELDOUT and train == set(EXPECTED)
    texts = {row["id"]: row.get("prompt") or row.get("question") for row in PROMPTS}
    assert not [q for q in teacher.questions() for h in HELDOUT if texts[h] in q]

    # kept and rejected, per prompt and per verifier, with the reasons
    got = {
        p["id"]: [(a["sample"], a["reason"]) for a in p["answers"]]
        for p in report["prompts"]
        if p["split"] == "train"
    }
    assert got == EXPECTED
    assert report["verifiers"]["math"]["reasons"] == {
        "wrong final answer": 4,
        "cut by max_tokens": 1,
        "no final answer": 1,
    }
    assert report["verifiers"]["code"]["reasons"] == {"tests failed": 1, "no code": 1}
    assert report["verifiers"]["judge"] == {
        "prompts": 2, "answers": 4, "kept": 1, "rejected": 3, "prompts_kept": 1, "reasons": {"judge: FAIL": 3}
    }  # fmt: skip
    assert len(teacher.questions()) == sum(len(v) for v in EXPECTED.values())  # first pass: no more asked

    # the SFT file holds the kept answers with their reasoning, whatever field the teacher used for it
    records = read_jsonl(out / "sft.jsonl")
    assert report["sft"]["examples"] == len(records) == 8 == report["counts"]["kept"]
    by_answer = {r.answer.content: r for r in records}
    assert by_answer["\\boxed{40}"].answer.reasoning_content == "60 / 1.5 = 40."  # from a <think> block
    assert by_answer["\\boxed{19}"].answer.reasoning_content == "9 + 10 = 19."  # from `reasoning`
    assert by_answer["GDP is the total output of an economy in a year."].question.startswith(
        "Explain what GDP"
    )
    assert "def is_even" in by_answer[fence("def is_even(n):\n    return n % 2 == 0")].question
    assert all(r.answer.reasoning_content for r in records)

    # fine-tuned, and evaluated before and after on the held-out prompts only
    assert Path(report["finetune"]["adapter_gguf"]).read_bytes().startswith(b"GGUF")
    assert report["finetune"]["steps"] == 2
    before, after = read_run(out / "eval" / "before.jsonl"), read_run(out / "eval" / "after.jsonl")
    for run in (before, after):
        assert {key[1] for key in run.answers} == HELDOUT
    assert after.params["model"] == before.params["model"] + ":distilled"
    evals = report["eval"]
    assert set(evals["before"]["suites"]) == set(evals["after"]["suites"]) == {"math", "humaneval", "golden"}
    assert all(s["n"] == 1 and 0.0 <= s["score"] <= 1.0 for s in evals["after"]["suites"].values())
    assert set(evals["comparison"]["suites"]) == {"math", "humaneval", "golden"}
