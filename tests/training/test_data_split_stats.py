"""``deepfort data split`` (deterministic, near-duplicate groups on one side) and ``deepfort data stats``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepfort.cli.main import app
from deepfort.training.dataset.records import DataError, Message, Record, read_jsonl, write_jsonl
from deepfort.training.dataset.split import split
from deepfort.training.dataset.stats import percentile, stats

TOPICS = ["refunds", "passwords", "shipping", "invoices", "discounts", "returns", "warranty", "accounts"]


def record(question: str, answer: str, reasoning: str | None = None) -> Record:
    return Record((Message("user", question), Message("assistant", answer, reasoning)))


def dataset() -> list[Record]:
    records = []
    for number in range(40):
        topic = TOPICS[number % len(TOPICS)]
        records.append(
            record(
                f"Question {number}: what is the policy on {topic} for customer number {number}?",
                f"Answer {number}: the policy on {topic} is described on page {number} of the handbook, "
                f"section {number * 7}, which every agent reads before answering customer {number}.",
            )
        )
    # Reworded twins of records 0..4: each must land on the side of its original.
    for number in range(5):
        original = records[number]
        records.append(
            record(original.question, original.answer.content.replace("every agent", "each agent"))
        )
    return records


def test_split_is_deterministic_sized_and_keeps_near_duplicate_groups_together() -> None:
    records = dataset()
    train, held = split(records, eval_share=0.2, seed=3)
    assert (train, held) == split(records, eval_share=0.2, seed=3)
    assert split(records, eval_share=0.2, seed=4)[1] != held
    assert len(train) + len(held) == len(records) and 9 <= len(held) <= 10
    assert set(map(id, train)).isdisjoint(map(id, held))
    for number in range(5):
        original, twin = records[number], records[40 + number]
        assert (original in held) == (twin in held)
    assert train == [r for r in records if r in train]  # file order kept on each side


def test_split_by_count_and_bad_arguments() -> None:
    records = dataset()
    assert len(split(records, eval_n=0)[1]) == 0
    assert 3 <= len(split(records, eval_n=3)[1]) <= 4
    with pytest.raises(DataError, match="--eval-share"):
        split(records, eval_share=1.5)
    with pytest.raises(DataError, match="--eval-n"):
        split(records, eval_n=100)


def test_split_command(tmp_path: Path) -> None:
    source = tmp_path / "all.jsonl"
    write_jsonl(source, dataset())
    train, held = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    args = ["data", "split", str(source), "--train", str(train), "--eval", str(held), "--eval-n", "5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(read_jsonl(train)) + len(read_jsonl(held)) == 45


def test_stats_counts_languages_lengths_reasoning_and_duplicates_left() -> None:
    records = [
        record("What is 2 + 2?", "4", "Two and two make four."),
        record("What is 2 + 2?", "4", "Two and two make four."),
        record(
            "退货之后多久能收到退款？", "审核通过后一般3到5个工作日内退回到您的支付账户，超过7天请联系客服。"
        ),
        record(
            "退货之后多久能收到退款？", "审核通过后通常3到5个工作日内退回到您的支付账户，超过7天请联系客服。"
        ),
        Record(
            (
                Message("system", "Be brief."),
                Message("user", "Hi"),
                Message("assistant", "Hello!"),
                Message("user", "如何在 Python 里读取 CSV 文件？"),
                Message("assistant", "用 pandas.read_csv。"),
            )
        ),
    ]
    data = stats(records, count_tokens=lambda text: len(text.split()))
    assert data["records"] == 5 and data["turns"] == 13
    assert (data["multi_turn"], data["with_system"], data["with_reasoning"]) == (1, 1, 2)
    assert data["reasoning_share"] == 0.4
    assert data["languages"] == {"zh": 2, "en": 2, "en+zh": 1}
    assert (data["exact_duplicates"], data["near_duplicates"]) == (1, 1)
    assert data["chars"]["question"] == {"p50": 14, "p90": 22, "p99": 22, "max": 22}
    assert data["tokens"]["reasoning"]["max"] == 5


def test_percentile_is_nearest_rank() -> None:
    assert [percentile([5, 1, 3, 2, 4], p) for p in (0, 50, 90, 100)] == [1, 3, 5, 5]
    assert percentile([], 50) == 0


def test_stats_command_counts_tokens_with_the_embedded_models_tokenizer(tmp_path: Path) -> None:
    source = tmp_path / "all.jsonl"
    write_jsonl(source, [record("What is the capital of France?", "Paris is the capital of France.")])
    result = CliRunner().invoke(app, ["data", "stats", str(source), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["chars"]["answer"]["max"] == 31
    assert 4 <= data["tokens"]["answer"]["max"] <= 10  # a BPE vocabulary, in tokens, not characters
    table = CliRunner().invoke(app, ["data", "stats", str(source), "--no-tokens"])
    assert table.exit_code == 0 and "1 records" in table.stdout and "tokens" not in table.stdout


@pytest.mark.parametrize("command", ["clean", "stats", "split"])
def test_a_directory_is_an_error_not_a_traceback(command: str, tmp_path: Path) -> None:
    args = {"clean": ["-o", str(tmp_path / "o.jsonl")], "stats": ["--no-tokens"]}
    extra = args.get(command, ["--train", str(tmp_path / "t.jsonl"), "--eval", str(tmp_path / "e.jsonl")])
    result = CliRunner().invoke(app, ["data", command, str(tmp_path), *extra])
    assert result.exit_code == 1
    assert "cannot read it" in " ".join(result.output.split())
    assert not isinstance(result.exception, IsADirectoryError)
