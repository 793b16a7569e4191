"""Multiple-choice suites: MMLU, C-Eval and CMMLU from their CSV files as published, and our JSONL.

Two modes:

``generate`` (default)
    A zero-shot chain-of-thought question in the question's language. English is simple-evals'
    multiple-choice prompt (DeepSeek reports R1's MMLU with simple-evals' prompts): the question, the
    options as "A) ...", a last line "Answer: X"; Chinese (C-Eval, CMMLU, a Chinese JSONL question) asks
    the same with "答案：X". The letter is read from the answer text only
    (:func:`~deepfort.evals.extract.choice_letter`).

``loglikelihood``
    lm-evaluation-harness's zero-shot MMLU context, "{question}\\nA. ...\\nB. ...\\nAnswer:" ("答案：" for
    Chinese, as its ceval and cmmlu tasks), with MMLU's "The following are multiple choice questions
    (with answers) about {subject}." first; each option scored as the continuation " A", " B", ...
    (``scoring="letter"``, the default, as lm-eval's mmlu). ``scoring="text"`` scores " " + the option's
    text after "Question: {question}\\nAnswer:" ("问题：...\\n答案：") instead, as lm-eval's generic
    multiple_choice tasks. The choice is the highest summed log-probability (lm-eval's ``acc``: no length
    normalisation), the first on a tie.

The readers take a file or a directory (``*_test.csv`` in ``data/test/`` and so on) and name the file
and line of anything malformed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from deepfort.errors import ConfigError
from deepfort.evals.base import Generation, Item, Loglikelihood, LoglikelihoodRequest, Mode, Suite, Verdict
from deepfort.evals.extract import LETTERS, choice_letter, is_chinese
from deepfort.evals.suites.files import data_files, read_jsonl, text_field, unique

__all__ = ["CMMLU", "MCQ", "MMLU", "SUITES", "CEval", "MCQText", "MultipleChoice", "Scoring"]

Scoring = Literal["letter", "text"]

GENERATE_EN = (
    "Answer the following multiple choice question. The last line of your response should be of the "
    "following format: 'Answer: $LETTER' (without quotes) where LETTER is one of {letters}. Think step "
    "by step before answering.\n\n{question}\n\n{options}"
)
GENERATE_ZH = (
    "请回答下面的单项选择题。请逐步思考，回答的最后一行必须是如下格式：“答案：X”（不含引号），其中 X 是 "
    "{letters} 之一。\n\n{question}\n\n{options}"
)
MMLU_DESCRIPTION = "The following are multiple choice questions (with answers) about {subject}.\n\n"


class MultipleChoice(Suite):
    """What the four readers share: prompts, judging, log-likelihood requests and the choice.

    An item's ``target`` is the gold letter, ``choices`` the option texts, ``data`` the question, its
    language ("zh" or "en") and the context's description (MMLU's subject line)."""

    modes: ClassVar[tuple[Mode, ...]] = ("generate", "loglikelihood")
    chinese: ClassVar[bool | None] = None
    """The suite's language (True: Chinese), None: each question's own."""

    def __init__(self, scoring: Scoring = "letter") -> None:
        if scoring not in ("letter", "text"):
            raise ConfigError(f"scoring must be 'letter' or 'text', not {scoring!r}")
        self.scoring: Scoring = scoring

    def item(self, ident: str, question: str, choices: Sequence[str], answer: str, subject: str = "") -> Item:
        chinese = is_chinese(question) if self.chinese is None else self.chinese
        letters = LETTERS[: len(choices)]
        template = GENERATE_ZH if chinese else GENERATE_EN
        mark = "." if chinese else ")"
        options = "\n".join(f"{letter}{mark} {text}" for letter, text in zip(letters, choices, strict=True))
        shown = "、".join(letters) if chinese else letters
        return Item(
            id=ident,
            subject=subject,
            prompt=template.format(letters=shown, question=question.strip(), options=options),
            choices=tuple(choices),
            target=answer,
            data={"question": question.strip(), "language": "zh" if chinese else "en"},
        )

    def judge(self, item: Item, generation: Generation) -> Verdict:
        letter = choice_letter(generation.content, len(item.choices))
        if letter is None:
            cut = " (cut by max_tokens)" if generation.truncated else ""
            return Verdict(False, None, generation.truncated, f"no answer letter found{cut}")
        correct = letter == item.target
        return Verdict(correct, letter, generation.truncated, "" if correct else f"expected {item.target}")

    def description(self, item: Item) -> str:
        """Text before the question in ``loglikelihood`` mode (MMLU: lm-eval's subject line)."""
        return ""

    def loglikelihood(self, item: Item) -> Sequence[LoglikelihoodRequest]:
        question = str(item.data.get("question", item.prompt))
        chinese = item.data.get("language") == "zh"
        letters = LETTERS[: len(item.choices)]
        if self.scoring == "text":
            context = f"问题：{question}\n答案：" if chinese else f"Question: {question}\nAnswer:"
            return [LoglikelihoodRequest(context, f" {text}") for text in item.choices]
        options = "".join(f"\n{letter}. {text}" for letter, text in zip(letters, item.choices, strict=True))
        context = f"{self.description(item)}{question}{options}\n{'答案：' if chinese else 'Answer:'}"
        return [LoglikelihoodRequest(context, f" {letter}") for letter in letters]

    def choose(self, item: Item, scores: Sequence[Loglikelihood]) -> Verdict:
        if len(scores) != len(item.choices):
            raise ValueError(f"{item.id}: {len(scores)} scores for {len(item.choices)} options")
        best = max(range(len(scores)), key=lambda i: scores[i].logprob)  # max keeps the first on a tie
        letter = LETTERS[best]
        detail = " ".join(f"{LETTERS[i]}={s.logprob:.3f}" for i, s in enumerate(scores))
        return Verdict(letter == item.target, letter, detail=detail)


# -- readers ---------------------------------------------------------------------------------------------


def _answer_letter(value: object, n_choices: int, where: str) -> str:
    """A gold answer as a letter: "B", "b", or an index (1 for B) from JSON."""
    letters = LETTERS[:n_choices]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n_choices:
        return letters[value]
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().upper() in letters:
        return value.strip().upper()
    known = ", ".join(letters)
    raise ConfigError(f"{where}: answer {value!r} is not one of {known} or an index 0-{n_choices - 1}")


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """A CSV file's rows with the line each starts on (a quoted field may span lines)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            line = 1
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield line, row
                line = reader.line_num + 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read it as CSV ({exc})") from None


def _subject(path: Path, suffixes: Sequence[str]) -> str:
    stem = path.stem
    for suffix in suffixes:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


_SPLITS = ("_test", "_val", "_dev")


class MMLU(MultipleChoice):
    """MMLU's CSV as published (Hendrycks et al.): no header; question, A, B, C, D, answer; one file per
    subject, ``<subject>_test.csv``. ``--data`` is one file, a directory of them, or ``data/`` (its
    ``test/`` is read)."""

    name: ClassVar[str] = "mmlu"
    help: ClassVar[str] = "MMLU CSV (data/test/<subject>_test.csv, no header): multiple choice, English."
    chinese: ClassVar[bool | None] = False

    def load(self, data: Path) -> list[Item]:
        items = []
        for path in data_files(data, ".csv", ("test",)):
            subject = _subject(path, _SPLITS)
            width = 0
            for line, row in _rows(path):
                where = f"{path}:{line}"
                width = width or len(row)
                if len(row) < 4 or len(row) != width:
                    raise ConfigError(
                        f"{where}: {len(row)} columns; expected the question, the options (A-D) and the "
                        f"answer{f', as the first row ({width})' if len(row) >= 4 else ''}"
                    )
                question, choices = row[0], row[1:-1]
                if not question.strip():
                    raise ConfigError(f"{where}: empty question")
                answer = _answer_letter(row[-1], len(choices), where)
                items.append(self.item(f"{path.stem}/{line}", question, choices, answer, subject))
        return unique(items, data)

    def description(self, item: Item) -> str:
        return MMLU_DESCRIPTION.format(subject=item.subject.replace("_", " ")) if item.subject else ""


class _HeadedCSV(MultipleChoice):
    """C-Eval's and CMMLU's layout: a header naming question, A, B, C, D (more letters allowed) and
    answer, in any case; other columns (id, explanation, an unnamed index) are ignored."""

    subdirs: ClassVar[tuple[str, ...]] = ()
    suffixes: ClassVar[tuple[str, ...]] = ()
    chinese: ClassVar[bool | None] = True

    def no_answers(self, path: Path) -> str:
        return f"{path}: no `answer` column"

    def load(self, data: Path) -> list[Item]:
        items = []
        for path in data_files(data, ".csv", self.subdirs):
            subject = _subject(path, self.suffixes)
            rows = _rows(path)
            header_line, header = next(rows, (1, []))
            columns = {name.strip().lower(): at for at, name in enumerate(header)}
            if "question" not in columns or "a" not in columns:
                raise ConfigError(f"{path}:{header_line}: expected a header: question, A, B, C, D, answer")
            if "answer" not in columns:
                raise ConfigError(self.no_answers(path))
            letters = [c for c in LETTERS if c.lower() in columns]
            id_column = columns.get("id", columns.get(""))  # C-Eval's id, CMMLU's unnamed index
            found = False
            for line, row in rows:
                where = f"{path}:{line}"
                if len(row) != len(header):
                    raise ConfigError(f"{where}: {len(row)} columns, the header has {len(header)}")
                cell = row[columns["answer"]].strip()
                if not cell:
                    raise ConfigError(self.no_answers(path))
                question = row[columns["question"]]
                if not question.strip():
                    raise ConfigError(f"{where}: empty question")
                choices = [row[columns[c.lower()]] for c in letters]
                ident = row[id_column].strip() if id_column is not None else str(line)
                answer = _answer_letter(cell, len(choices), where)
                items.append(self.item(f"{path.stem}/{ident}", question, choices, answer, subject))
                found = True
            if not found:
                raise ConfigError(f"{path}: no questions")
        return unique(items, data)


class CEval(_HeadedCSV):
    """C-Eval's CSV (``id,question,A,B,C,D,answer[,explanation]``), one file per subject,
    ``<subject>_val.csv``; ``--data`` is a file, a directory of them, or the dataset's root (its ``val/``
    is read). The test split carries no answers (C-Eval scores it on its own site): it is refused."""

    name: ClassVar[str] = "ceval"
    help: ClassVar[str] = "C-Eval CSV (val/<subject>_val.csv; the test split has no answers)."
    subdirs: ClassVar[tuple[str, ...]] = ("val",)
    suffixes: ClassVar[tuple[str, ...]] = _SPLITS

    def no_answers(self, path: Path) -> str:
        return (
            f"{path}: no answers: C-Eval's test split is published without them (it is scored on "
            "cevalbenchmark.com); evaluate the val split (<subject>_val.csv)"
        )


class CMMLU(_HeadedCSV):
    """CMMLU's CSV (an unnamed index column, then ``Question,A,B,C,D,Answer``), one file per subject,
    ``<subject>.csv``; ``--data`` is a file, a directory of them, or the dataset's root (its ``test/``)."""

    name: ClassVar[str] = "cmmlu"
    help: ClassVar[str] = "CMMLU CSV (test/<subject>.csv, header ,Question,A,B,C,D,Answer)."
    subdirs: ClassVar[tuple[str, ...]] = ("test",)


class MCQ(MultipleChoice):
    """Our JSONL, one question a line: ``{"question": ..., "choices": [...], "answer": 1 or "B",
    "subject"?: ..., "id"?: ...}``; each question asked in its own language."""

    name: ClassVar[str] = "mcq"
    help: ClassVar[str] = "JSONL: question, choices, answer (index or letter), optional subject and id."

    def load(self, data: Path) -> list[Item]:
        items = []
        for path in data_files(data, ".jsonl"):
            for number, row in read_jsonl(path):
                where = f"{path}:{number}"
                question = text_field(row, "question", where)
                choices = _choices(row, where)
                answer = _answer_letter(row.get("answer"), len(choices), where)
                subject = row.get("subject", "")
                if not isinstance(subject, str):
                    raise ConfigError(f"{where}: `subject` must be a string")
                ident = row.get("id", f"{path.stem}/{number}")
                if not isinstance(ident, str | int):
                    raise ConfigError(f"{where}: `id` must be a string or a number")
                items.append(self.item(str(ident), question, choices, answer, subject))
        return unique(items, data)


class MCQText(MCQ):
    """Our JSONL scored by each option's text (`` " " + option`` after ``Question: ...\nAnswer:``), as
    lm-evaluation-harness's generic ``multiple_choice`` tasks (ARC, HellaSwag, a YAML task on a local
    file) do: the same file scores the same in both. ``loglikelihood`` only."""

    name: ClassVar[str] = "mcq-text"
    help: ClassVar[str] = "JSONL as mcq, each option's text scored (lm-eval's multiple_choice tasks)."
    modes: ClassVar[tuple[Mode, ...]] = ("loglikelihood",)

    def __init__(self, scoring: Scoring = "text") -> None:
        super().__init__(scoring)


def _choices(row: Mapping[str, Any], where: str) -> list[str]:
    choices = row.get("choices")
    if (
        not isinstance(choices, list)
        or not 2 <= len(choices) <= len(LETTERS)
        or not all(isinstance(c, str | int | float) and not isinstance(c, bool) for c in choices)
    ):
        raise ConfigError(f"{where}: `choices` must be a list of 2 to {len(LETTERS)} strings")
    return [str(c) for c in choices]


SUITES: list[type[Suite]] = [MMLU, CEval, CMMLU, MCQ, MCQText]
