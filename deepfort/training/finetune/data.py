"""Training examples from OpenAI messages JSONL, rendered with the model's own chat template.

Each line is ``{"messages": [...]}``. Every assistant turn becomes one example: the conversation before
it rendered as the server renders a request (:class:`~deepfort.engines.llamacpp.template.ChatTemplate`,
earlier answers without their reasoning, as ``serving/params.py`` ``template_messages`` sends them) with
the generation prompt, then the answer. The loss is on the answer tokens only (the prompt's labels are
``-100``). An assistant turn's ``reasoning_content`` goes in front of its answer as a ``<think>`` block,
where deepfort's reasoning parser finds it: opened by the answer, or only closed when the template's
generation prompt already opened it (DeepSeek-R1's templates end with ``<think>\\n``). The answer ends
with the template's end of turn (``<|im_end|>`` for ChatML), so the model learns to stop.

The prompt is tokenized alone, with the special tokens the model adds (as llama.cpp tokenizes a prompt),
and the answer alone, as the tokens the model will generate after it.

Nothing here needs torch: the tokenizer is a callable.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deepfort.engines.llamacpp.template import ChatTemplate
from deepfort.errors import InvalidRequestError
from deepfort.reasoning.deepseek_r1 import DeepSeekR1ReasoningParser

__all__ = [
    "Conversation",
    "Example",
    "Renderer",
    "Schedule",
    "read_conversations",
]

IGNORE = -100
"""The label of a token the loss skips (PyTorch's ``cross_entropy`` ``ignore_index``)."""

ROLES = frozenset({"system", "developer", "user", "assistant"})
_SENTINEL = "\x00deepfort-answer\x00"

Conversation = list[dict[str, str]]
Encode = Callable[[str, bool], list[int]]
"""``encode(text, add_special)``: token ids, with the model's BOS (when it adds one) if ``add_special``."""


@dataclass(frozen=True, slots=True)
class Example:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]

    @property
    def answer_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def _text(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts: text only
        parts = [p.get("text") for p in value if isinstance(p, dict) and p.get("type") == "text"]
        if len(parts) == len(value) and all(isinstance(p, str) for p in parts):
            return "".join(str(p) for p in parts)
    raise InvalidRequestError(f"{where}: content must be a string or a list of text parts", param=where)


def read_conversations(path: Path) -> list[Conversation]:
    """The conversations of an OpenAI messages JSONL file; an error names the first bad line."""
    out: list[Conversation] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidRequestError(f"{where}: not JSON ({exc.msg})", param=where) from exc
            messages = record.get("messages") if isinstance(record, dict) else None
            if not isinstance(messages, list) or not messages:
                raise InvalidRequestError(f'{where}: expected {{"messages": [...]}}', param=where)
            conversation: Conversation = []
            for message in messages:
                role = message.get("role") if isinstance(message, dict) else None
                if role not in ROLES:
                    raise InvalidRequestError(f"{where}: unknown role {role!r}", param=where)
                item = {"role": "system" if role == "developer" else role}
                item["content"] = _text(message.get("content") or "", where)
                reasoning = message.get("reasoning_content")
                if role == "assistant" and reasoning:
                    item["reasoning_content"] = _text(reasoning, where)
                conversation.append(item)
            out.append(conversation)
    return out


class Renderer:
    """Turns conversations into :class:`Example` s for one model (its template and tokenizer)."""

    def __init__(self, template: ChatTemplate, encode: Encode, *, max_len: int) -> None:
        self.template = template
        self.encode = encode
        self.max_len = max_len
        self.end_of_turn = self._end_of_turn()
        self.skipped = 0
        """Assistant turns left out because their prompt alone fills ``max_len``."""

    def _end_of_turn(self) -> str:
        """What the template writes after an assistant's answer, up to the whitespace before the next turn
        (``<|im_end|>``); the EOS token when it writes nothing."""
        rendered = self.template.render(
            [{"role": "user", "content": "?"}, {"role": "assistant", "content": _SENTINEL}],
            add_generation_prompt=False,
        )
        tail = rendered.rsplit(_SENTINEL, 1)[-1].rstrip() if _SENTINEL in rendered else ""
        return tail or self.template.eos_token

    def answer(self, message: Mapping[str, str], prompt: str) -> str:
        """The text the model is trained to generate after ``prompt``: reasoning, answer, end of turn."""
        content = message["content"]
        reasoning = message.get("reasoning_content", "").strip()
        parser = DeepSeekR1ReasoningParser
        if parser.prompt_opens_reasoning(prompt):
            content = f"{reasoning}\n{parser.end_tag}\n\n{content}"
        elif reasoning:
            content = f"{parser.start_tag}\n{reasoning}\n{parser.end_tag}\n\n{content}"
        return content + self.end_of_turn

    def turns(self, conversation: Sequence[Mapping[str, str]]) -> Iterator[tuple[str, str]]:
        """(prompt, answer) for each assistant turn."""
        history: list[dict[str, object]] = []
        for message in conversation:
            if message["role"] == "assistant":
                prompt = self.template.render(history, add_generation_prompt=True)
                yield prompt, self.answer(message, prompt)
            history.append({"role": message["role"], "content": message["content"]})

    def examples(self, conversations: Sequence[Sequence[Mapping[str, str]]]) -> list[Example]:
        out: list[Example] = []
        for conversation in conversations:
            for prompt, answer in self.turns(conversation):
                prompt_ids = self.encode(prompt, True)
                if len(prompt_ids) >= self.max_len:
                    self.skipped += 1
                    continue
                answer_ids = self.encode(answer, False)
                ids = (prompt_ids + answer_ids)[: self.max_len]
                labels = ([IGNORE] * len(prompt_ids) + answer_ids)[: self.max_len]
                out.append(Example(tuple(ids), tuple(labels)))
        return out


def pad_batch(examples: Sequence[Example], pad_id: int) -> dict[str, list[list[int]]]:
    """Right-padded to the longest example of this batch (not to ``max_len``): ``input_ids``,
    ``attention_mask`` and ``labels`` (padding is ignored by the loss)."""
    width = max(len(e.input_ids) for e in examples)
    ids, mask, labels = [], [], []
    for e in examples:
        pad = width - len(e.input_ids)
        ids.append([*e.input_ids, *[pad_id] * pad])
        mask.append([1] * len(e.input_ids) + [0] * pad)
        labels.append([*e.labels, *[IGNORE] * pad])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@dataclass(frozen=True)
class Schedule:
    """Which examples each optimizer step trains on, from the seed alone, so that a resumed run takes
    the same batches as an uninterrupted one.

    Each epoch is the training examples plus a fresh draw from the general ``mix`` examples sized so they
    make ``mix_share`` of the epoch, shuffled together.
    """

    train: Sequence[Example]
    mix: Sequence[Example]
    mix_share: float
    batch_size: int
    seed: int

    @property
    def mix_per_epoch(self) -> int:
        if not self.mix or self.mix_share <= 0:
            return 0
        return round(len(self.train) * self.mix_share / (1 - self.mix_share))

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil((len(self.train) + self.mix_per_epoch) / self.batch_size))

    def epoch(self, index: int) -> list[Example]:
        rng = random.Random(f"{self.seed}:{index}")
        examples = list(self.train)
        if self.mix_per_epoch:
            examples += [self.mix[rng.randrange(len(self.mix))] for _ in range(self.mix_per_epoch)]
        rng.shuffle(examples)
        return examples

    def batch(self, step: int) -> list[Example]:
        """The examples of optimizer step ``step`` (0-based; later epochs follow on)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        return self.epoch(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
