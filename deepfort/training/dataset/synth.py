"""``deepfort data synth``: instruction variety from a teacher model, self-instruct style (Wang et al. 2022).

Each round shows the teacher ``k`` example questions sampled from the seed set (and, as self-instruct's
two of eight, up to a quarter from questions already generated), asks for new ones, and keeps a new
question only when its ROUGE-L against every seed and every kept question stays under the threshold
(0.7; :mod:`~deepfort.training.dataset.rouge`) and it has at least :data:`MIN_TOKENS` tokens. Each kept
question is then asked on its own; the answer is kept with the teacher's ``reasoning_content`` (or its
``<think>`` block, split off). The teacher is any OpenAI-compatible server: ``POST {url}/chat/completions``.

Records are appended to the output as they arrive, flushed one by one: a second run with the same output
reads what is there (dropping a line cut off by a crash), counts it towards ``n`` and adds its questions
to the pool, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deepfort.guard.fold import is_cjk
from deepfort.training.dataset.importers import split_think
from deepfort.training.dataset.records import (
    DataError,
    Message,
    Record,
    append_jsonl,
    iter_lines,
    record_from_dict,
)
from deepfort.training.dataset.rouge import rouge_l
from deepfort.training.dataset.text import tokens

__all__ = ["SOURCE", "SynthOptions", "SynthResult", "Teacher", "parse_questions", "synthesize"]

SOURCE = "synth"
MIN_TOKENS = 3
DEFAULT_ROUGE = 0.7
RETRIES = 3

_PROMPT_EN = (
    "Here are example questions that users ask:\n{examples}\n\n"
    "Write {count} new questions of the same domain and kind, different from the examples and from each "
    "other in topic and wording. One question per line, numbered, nothing else."
)
_PROMPT_ZH = (
    "以下是用户提出的示例问题：\n{examples}\n\n"
    "请再写 {count} 个同一领域、同一类型的新问题，主题和措辞都要与示例及彼此不同。"
    "每行一个问题，带编号，不要写其他内容。"
)
_NUMBERING = re.compile(
    r"^\s*(?:(?:\d+\s*[.)、:：．]|[-*•]|q\s*\d*\s*[:：]|问题\s*\d*\s*[:：])\s*)+", re.IGNORECASE
)


def parse_questions(text: str) -> list[str]:
    """The questions of a numbered (or bulleted) list, one per line; lead-in lines (``...:``) skipped."""
    found = []
    for line in text.splitlines():
        question = _NUMBERING.sub("", line).strip().strip('"“”')
        if question and not question.endswith((":", "：")):
            found.append(question)
    return found


class Teacher:
    """The teacher's chat endpoint: one answer with its reasoning apart. A 429, a 5xx or a transport error
    is retried (three tries, backing off); any other refusal raises :class:`DataError` with its message."""

    def __init__(self, client: httpx.AsyncClient, url: str, model: str, api_key: str | None = None) -> None:
        self.client = client
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.requests = 0

    async def chat(self, prompt: str, *, temperature: float | None = None) -> tuple[str | None, str]:
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": prompt}]}
        if temperature is not None:
            body["temperature"] = temperature
        for attempt in range(RETRIES):
            self.requests += 1
            try:
                response = await self.client.post(self.url, json=body, headers=self.headers)
            except httpx.TransportError as exc:
                if attempt + 1 == RETRIES:
                    raise DataError(f"teacher {self.url}: {exc!r}") from exc
            else:
                if response.status_code < 400:
                    return _reply(response, self.url)
                if (response.status_code != 429 and response.status_code < 500) or attempt + 1 == RETRIES:
                    raise DataError(
                        f"teacher {self.url} answered {response.status_code}: {response.text[:300]}"
                    )
            await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")


def _reply(response: httpx.Response, url: str) -> tuple[str | None, str]:
    try:
        message = response.json()["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise DataError(f"teacher {url}: not a chat completion: {response.text[:300]}") from exc
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if not reasoning:
        reasoning, content = split_think(content)
    return (reasoning.strip() if reasoning else None), content.strip()


@dataclass(frozen=True, slots=True)
class SynthOptions:
    n: int = 100
    """Generated records wanted in the output, those already there included."""
    k: int = 4
    """Example questions per round."""
    per_request: int = 5
    """New questions asked for per round."""
    concurrency: int = 4
    threshold: float = DEFAULT_ROUGE
    seed: int = 0
    patience: int = 10
    """Rounds in a row without a new question before giving up."""


@dataclass
class SynthResult:
    existing: int = 0
    generated: int = 0
    too_close_to_seed: int = 0
    too_close_to_generated: int = 0
    too_short: int = 0
    empty_answers: int = 0
    rounds: int = 0
    gave_up: bool = False
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "examples"}


def read_existing(path: Path) -> list[Record]:
    """The records already in the output; a last line cut off by a crash is cut from the file too."""
    if not path.exists():
        return []
    records: list[Record] = []
    lines = list(iter_lines(path))
    for position, (number, line) in enumerate(lines):
        try:
            records.append(record_from_dict(json.loads(line), line=number))
        except ValueError as exc:
            if position == len(lines) - 1 and not line.endswith("\n"):
                text = path.read_text(encoding="utf-8")
                path.write_text(text[: len(text) - len(line)], encoding="utf-8")
                break
            raise DataError(f"{path}, line {number}: {exc}") from exc
    return records


def _chinese(questions: Sequence[str]) -> bool:
    cjk = sum(1 for question in questions for char in question if is_cjk(char))
    return cjk * 2 > sum(len(question) for question in questions)


async def synthesize(
    seeds: Sequence[Record],
    out: Path,
    teacher: Teacher,
    options: SynthOptions,
    *,
    on_record: Callable[[int], None] | None = None,
) -> SynthResult:
    """Append generated records to ``out`` until it holds ``options.n`` of them (or the teacher runs
    out of new questions: ``gave_up``)."""
    seed_questions = [record.question for record in seeds if record.question.strip()]
    if not seed_questions:
        raise DataError("the seed file has no questions")
    existing = [record for record in read_existing(out) if record.source == SOURCE]
    result = SynthResult(existing=len(existing))
    seed_tokens = [tokens(question) for question in seed_questions]
    generated = [record.question for record in existing]
    generated_tokens = [tokens(question) for question in generated]
    random_ = random.Random(options.seed + len(existing))
    prompt = _PROMPT_ZH if _chinese(seed_questions) else _PROMPT_EN
    reserved = len(existing)
    stale = 0

    def accept(question: str) -> bool:
        found = tokens(question)
        if len(found) < MIN_TOKENS:
            result.too_short += 1
            return False
        if any(
            rouge_l(found, other, at_least=options.threshold) >= options.threshold for other in seed_tokens
        ):
            result.too_close_to_seed += 1
            return False
        for other in generated_tokens:
            if rouge_l(found, other, at_least=options.threshold) >= options.threshold:
                result.too_close_to_generated += 1
                return False
        generated.append(question)
        generated_tokens.append(found)
        return True

    def examples() -> list[str]:
        from_generated = min(len(generated), options.k // 4)
        chosen = random_.sample(generated, from_generated) if from_generated else []
        chosen += random_.sample(seed_questions, min(len(seed_questions), options.k - from_generated))
        random_.shuffle(chosen)
        return chosen

    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as handle:

        async def answer(question: str) -> None:
            nonlocal reserved
            reasoning, content = await teacher.chat(question)
            if not content:
                result.empty_answers += 1
                reserved -= 1
                return
            messages = (Message("user", question), Message("assistant", content, reasoning))
            append_jsonl(handle, Record(messages, SOURCE))
            result.generated += 1
            if on_record is not None:
                on_record(result.existing + result.generated)

        async def worker() -> None:
            nonlocal reserved, stale
            while reserved < options.n and stale < options.patience:
                shown = examples()
                listing = "\n".join(f"{i}. {question}" for i, question in enumerate(shown, start=1))
                result.rounds += 1
                _, reply = await teacher.chat(
                    prompt.format(examples=listing, count=options.per_request), temperature=0.7
                )
                kept = []
                for question in parse_questions(reply):
                    if reserved >= options.n:
                        break
                    if accept(question):
                        kept.append(question)
                        reserved += 1
                stale = 0 if kept else stale + 1
                for question in kept:
                    await answer(question)

        await asyncio.gather(*(worker() for _ in range(max(1, options.concurrency))))
    result.gave_up = result.existing + result.generated < options.n
    result.examples = generated[len(existing) : len(existing) + 3]
    return result
