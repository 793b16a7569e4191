"""Rendering of fine-tuning data (no torch): the model's template, the answer-only labels, reasoning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepfort.engines.llamacpp.template import CHATML_TEMPLATE, ChatTemplate
from deepfort.errors import InvalidRequestError
from deepfort.training.finetune.data import IGNORE, Example, Renderer, Schedule, read_conversations
from tests.conftest import R1_STYLE_TEMPLATE

CHATML = ChatTemplate(CHATML_TEMPLATE, bos_token="<s>", eos_token="</s>")
R1 = ChatTemplate(R1_STYLE_TEMPLATE, bos_token="<s>", eos_token="</s>")


def chars(text: str, add_special: bool) -> list[int]:
    """A tokenizer of one token per character (and 1 for BOS)."""
    return ([1] if add_special else []) + [ord(c) for c in text]


def decode(ids: list[int] | tuple[int, ...]) -> str:
    return "".join("<s>" if i == 1 else chr(i) for i in ids if i != IGNORE)


CONVERSATION = [
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "4", "reasoning_content": "two and two"},
    {"role": "user", "content": "and 3+3?"},
    {"role": "assistant", "content": "6"},
]


@pytest.mark.parametrize(
    ("template", "answers"),
    [
        (CHATML, ["<think>\ntwo and two\n</think>\n\n4<|im_end|>", "6<|im_end|>"]),
        # the R1-style generation prompt opened the block: the answer only closes it
        (R1, ["two and two\n</think>\n\n4<|im_end|>", "\n</think>\n\n6<|im_end|>"]),
    ],
)
def test_each_assistant_turn_is_an_example_with_loss_on_the_answer_only(
    template: ChatTemplate, answers: list[str]
) -> None:
    renderer = Renderer(template, chars, max_len=4096)
    examples = renderer.examples([CONVERSATION])
    assert [decode(e.labels) for e in examples] == answers
    for example, answer in zip(examples, answers, strict=True):
        prompt = decode(example.input_ids).removesuffix(answer)
        assert prompt.startswith("<s>")
        assert decode(example.input_ids) == prompt + answer
    # the second prompt holds the first answer without its reasoning, as the server sends history
    second_prompt = decode(examples[1].input_ids)
    assert "two and two" not in second_prompt
    assert "<|im_start|>assistant\n4<|im_end|>" in second_prompt


def test_too_long_prompts_are_skipped_and_answers_cut() -> None:
    renderer = Renderer(CHATML, chars, max_len=60)
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x" * 50}]
    long_prompt = [{"role": "user", "content": "y" * 40}, {"role": "assistant", "content": "z"}]
    examples = renderer.examples([conversation, long_prompt])
    assert renderer.skipped == 1
    assert [len(e.input_ids) for e in examples] == [60]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "not JSON"),
        ('{"prompt": "x"}', "expected"),
        ('{"messages": [{"role": "robot", "content": "x"}]}', "unknown role"),
        ('{"messages": [{"role": "user", "content": 3}]}', "content must be"),
    ],
)
def test_bad_lines_name_their_line(tmp_path: Path, line: str, error: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "ok"}]}) + "\n" + line + "\n")
    with pytest.raises(InvalidRequestError, match=f"bad.jsonl:2: {error}"):
        read_conversations(path)


def test_schedule_mixes_its_share_and_depends_on_the_seed_only() -> None:
    train = [Example((i,), (i,)) for i in range(8)]
    mix = [Example((100 + i,), (100 + i,)) for i in range(3)]
    schedule = Schedule(train, mix, 0.2, batch_size=3, seed=7)
    assert schedule.mix_per_epoch == 2 and schedule.steps_per_epoch == 4
    epoch = [e for step in range(4) for e in schedule.batch(step)]
    assert sorted(e.input_ids[0] for e in epoch if e.input_ids[0] < 100) == list(range(8))
    assert sum(e.input_ids[0] >= 100 for e in epoch) == 2
    again = Schedule(train, mix, 0.2, batch_size=3, seed=7)
    assert [again.batch(s) for s in range(10)] == [schedule.batch(s) for s in range(10)]
    assert Schedule(train, mix, 0.2, batch_size=3, seed=8).epoch(0) != schedule.epoch(0)
