"""``deepfort data import``: each format into OpenAI messages, reasoning kept (and round-tripped through
``<think>``), errors naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from deepfort.cli.main import app
from deepfort.training.dataset.importers import import_file, split_think, think_text
from deepfort.training.dataset.records import DataError, Message, read_jsonl

DATA = Path(__file__).parent.parent / "data" / "training"


def test_alpaca_json_array() -> None:
    records = import_file(DATA / "alpaca.json")
    assert [record.line for record in records] == [2, 8, 14]
    assert records[0].messages == (
        Message("system", "你是一名翻译。"),
        Message("user", "把下面的句子翻译成英文。\n今天天气很好。"),
        Message("assistant", "The weather is nice today."),
    )
    assert records[1].messages == (
        Message("user", "Can you do arithmetic?"),
        Message("assistant", "Yes, ask me."),
        Message("user", "What is 12 * 12?"),
        Message("assistant", "144", "12 * 12 = 144."),
    )
    assert records[2].answer == Message("assistant", "No: 91 = 7 * 13.", "Try small primes: 91 / 7 = 13.")
    assert {record.source for record in records} == {"alpaca.json"}


def test_sharegpt_jsonl() -> None:
    first, second = import_file(DATA / "sharegpt.jsonl")
    assert first.messages == (
        Message("system", "你是客服。"),
        Message("user", "退货要几天到账？"),
        Message("assistant", "一般3到5个工作日。", "用户问退款时效。"),
    )
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert second.answer.reasoning_content == "Japan's capital is Tokyo."


def test_openai_jsonl() -> None:
    first, second = import_file(DATA / "openai.jsonl")
    assert first.messages == (
        Message("system", "Answer in one word."),
        Message("user", "Colour of the sky?"),
        Message("assistant", "Blue.", "Rayleigh scattering."),
    )
    assert first.source == "upstream-faq" and second.source == "openai.jsonl"
    assert second.line == 3


def test_csv_with_chinese_headers_quotes_and_multiline_cells() -> None:
    first, second = import_file(DATA / "faq.csv")
    assert first.messages == (
        Message("user", "发票怎么开？"),
        Message("assistant", '在订单详情页点击"申请发票"即可。'),
    )
    assert second.messages == (Message("user", "多行\n问题"), Message("assistant", "第二行答案", "先想一想"))
    assert (first.line, second.line) == (2, 4)


def test_csv_in_gbk_with_columns_named(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("编号,用户提问,客服回复\n1,怎么改密码？,在设置里点修改密码。\n".encode("gbk"))
    with pytest.raises(DataError, match=r"excel.csv: no question column among 编号, 用户提问, 客服回复"):
        import_file(path)
    (record,) = import_file(path, columns=["question=用户提问", "answer=客服回复"])
    assert record.messages == (Message("user", "怎么改密码？"), Message("assistant", "在设置里点修改密码。"))
    assert import_file(path, columns=["用户提问", "客服回复"]) == [record]


@pytest.mark.parametrize(
    ("name", "text", "fmt", "error"),
    [
        (
            "bad.jsonl",
            '{"instruction": "q", "output": "a"}\n\n{"messages": [}\n',
            "auto",
            r"bad.jsonl, line 3: not valid JSON",
        ),
        (
            "bad.jsonl",
            '{"instruction": "q", "output": "a"}\n{"instruction": "q"}\n',
            "auto",
            r"line 2: .*output",
        ),
        (
            "bad.json",
            '[\n  {"instruction": "q", "output": "a"},\n  {"instruction": "q",\n   "output": 3}\n]',
            "auto",
            r"bad.json, line 3: output: content must be a string",
        ),
        ("bad.json", '[{"instruction": "q", "output": "a"}', "auto", r"the JSON array is not closed"),
        ("bad.jsonl", '{"text": "plain"}\n', "auto", r"line 1: cannot tell the format.*found text"),
        (
            "bad.jsonl",
            '{"conversations": [{"from": "human", "value": "q"}, {"from": "observation", "value": "x"}]}\n',
            "auto",
            r"line 1: conversations\[1\]: \"from\" must be one of",
        ),
        (
            "bad.jsonl",
            '{"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}]}\n',
            "openai",
            r"line 1: the last turn must be the assistant's answer",
        ),
        ("missing.jsonl", None, "auto", r"missing.jsonl: no such file"),
    ],
)
def test_errors_name_the_file_and_line(
    tmp_path: Path, name: str, text: str | None, fmt: str, error: str
) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=error):
        import_file(path, fmt)  # type: ignore[arg-type]


def test_import_command_merges_sources_into_one_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    sources = [str(DATA / name) for name in ("alpaca.json", "sharegpt.jsonl", "openai.jsonl", "faq.csv")]
    result = CliRunner().invoke(app, ["data", "import", *sources, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 9 records" in result.stdout and "(6 with reasoning)" in result.stdout
    lines = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[4]) == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Capital of Japan?"},
            {"role": "assistant", "content": "Tokyo.", "reasoning_content": "Japan's capital is Tokyo."},
        ],
        "source": "sharegpt.jsonl",
    }
    assert [record.answer for record in read_jsonl(out)] == [
        record.answer
        for name in ("alpaca.json", "sharegpt.jsonl", "openai.jsonl", "faq.csv")
        for record in import_file(DATA / name)
    ]


def test_a_bad_source_fails_the_command_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "q"}]}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["data", "import", str(bad), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 1
    assert "bad.jsonl, line 1: the last turn must be the assistant's answer" in " ".join(
        result.stderr.split()
    )


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@given(reasoning=_TEXT, content=_TEXT)
def test_think_blocks_round_trip(reasoning: str, content: str) -> None:
    """What import splits off, ``think_text`` writes back the same; the server's parser reads it."""
    reasoning, content = reasoning.strip().replace("</think>", ""), content.lstrip()
    found, answer = split_think(think_text(reasoning or None, content))
    if reasoning:
        assert (found, answer) == (reasoning, content)
    elif not content.lstrip().startswith("<think>"):
        assert (found, answer) == (None, content)


def test_an_answer_without_a_leading_think_block_is_all_content() -> None:
    assert split_think("Use <think> tags like this.") == (None, "Use <think> tags like this.")
    assert split_think("<think>\n\n</think>\n\nJust the answer.") == (None, "Just the answer.")
