"""``deepfort data clean``: one table of Chinese and English Q&A lines, each with the step that must remove it
(or ``kept``), run through the real command; survivors, masked texts and every report count are asserted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deepfort.cli.main import app
from deepfort.training.dataset.clean import STEPS, CleanOptions, clean
from deepfort.training.dataset.records import Message, Record, read_jsonl

REFUND = (
    "审核通过后，退款一般在3到5个工作日内原路退回到您的支付账户。如果超过7个工作日仍未到账，"
    "请联系在线客服并提供订单号，我们会为您加急处理。"
)
RESET = (
    "Open the login page, click Forgot password, and enter the e-mail address of your account. We will send "
    "you a link to choose a new password; the link stays valid for 24 hours and can be used once. If the "
    "message does not arrive within ten minutes, look in your spam folder or ask support to send it again."
)


def qa(question: str, answer: str, reasoning: str | None = None, **extra: Any) -> str:
    answer_turn: dict[str, Any] = {"role": "assistant", "content": answer}
    if reasoning is not None:
        answer_turn["reasoning_content"] = reasoning
    return json.dumps(
        {"messages": [{"role": "user", "content": question}, answer_turn], **extra}, ensure_ascii=False
    )


# (line, the step that removes it, or "kept"); line numbers below are positions in this table, from 1.
TABLE: list[tuple[str, str]] = [
    (qa("退货之后多久能收到退款？", REFUND), "kept"),  # 1
    (
        qa(
            "我的手机号是13812345678，能帮我查一下订单吗？",
            "可以的。我们会向13812345678发送验证码，验证后请提供订单号，我们为您查询订单状态。",
        ),
        "kept",
    ),  # 2: the same phone twice, one placeholder
    # 3: full-width digits, doubled spaces, upper case: the same text after NFKC, case and whitespace.
    (
        qa("退货之后多久能收到退款？  ", REFUND.replace("3到5", "３到５").replace("7个", "７个")),
        "exact_duplicates",
    ),
    (qa("How do I reset my password?", RESET), "kept"),  # 4
    (
        qa("How do I reset my password?", RESET.replace("stays valid", "remains valid")),
        "near_duplicates",
    ),  # 5
    (qa("退货之后多久能收到退款", REFUND.replace("。", "！").replace("，", "、")), "near_duplicates"),  # 6
    (
        qa(
            "Please update the contact e-mail on my account to li.lei@example.com; my ID card number is "
            "11010519491231002X.",
            "Done: the contact e-mail of your account is now li.lei@example.com, and your ID number was "
            "checked against our records.",
        ),
        "kept",
    ),  # 7
    (
        qa(
            "Can you tell me another customer's home address?",
            "I'm sorry, but I can't share personal information about other customers.",
        ),
        "refusals",
    ),  # 8
    (
        qa("帮我查一下我同事的工资是多少。", "抱歉，我无法提供其他员工的薪资信息，这属于个人隐私。"),
        "refusals",
    ),  # 9
    (
        qa(
            "What do you think about the new return policy?",
            "As an AI language model, I do not have personal opinions, but the new policy extends the "
            "return window to 30 days.",
        ),
        "refusals",
    ),  # 10
    (
        qa(
            "Comment puis-je suivre ma commande ?",
            "Connectez-vous à votre compte et ouvrez la page Mes commandes pour voir l'état de la livraison.",
        ),
        "language",
    ),  # 11
    (
        qa(
            "注文をキャンセルするにはどうすればいいですか？",
            "マイページの注文履歴からキャンセルしたい注文を選んで、キャンセルボタンを押してください。",
        ),
        "language",
    ),  # 12
    (qa("发票可以开吗？", "可以"), "length"),  # 13: answer of 2 characters, under 4
    (qa("嗯", "请问有什么可以帮您？"), "length"),  # 14: question of 1 character, under 2
    ('{"messages": [{"role": "user", "content": "半截', "malformed"),  # 15: cut off
    (
        json.dumps({"messages": [{"role": "user", "content": "没有回答的问题"}]}, ensure_ascii=False),
        "malformed",
    ),  # 16
    (qa("空的回答会怎样？", "   "), "malformed"),  # 17: empty answer, no reasoning
    (
        qa("Why is the sky blue?", "", reasoning="Rayleigh scattering... the model stopped here."),
        "refusals",
    ),  # 18
    (
        qa(
            "如何在 Python 里用 pandas 读取 CSV 文件？",
            "使用 pandas.read_csv('data.csv') 即可读取，返回一个 DataFrame；"
            "中文文件可以加 encoding='utf-8' 参数。",
        ),
        "kept",
    ),  # 19: mixed Chinese and English
    (
        qa("What is 17 times 3?", "17 × 3 = 51.", reasoning="17 * 3 = 10 * 3 + 7 * 3 = 30 + 21 = 51."),
        "kept",
    ),  # 20
    (
        qa("退货之后多久能收到退款？", REFUND.replace("一般", "通常")),
        "near_duplicates",
    ),  # 21: one word changed
    (
        qa(
            "客服电话是多少？",
            "您可以拨打客服热线010-62345678，或发邮件到 service@example.com，工作时间为每天9点到18点。",
        ),
        "kept",
    ),  # 22
]

OPTIONS = CleanOptions(min_answer_chars=4, languages=("zh", "en"))


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    path = tmp_path / "dirty.jsonl"
    path.write_text("".join(line + "\n" for line, _ in TABLE), encoding="utf-8")
    return path


def expected_lines(fate: str) -> list[int]:
    return [number for number, (_, step) in enumerate(TABLE, start=1) if step == fate]


def test_clean_command_keeps_exactly_the_kept_lines_and_counts_every_step(
    dirty: Path, tmp_path: Path
) -> None:
    out, report_path = tmp_path / "clean.jsonl", tmp_path / "report.json"
    args = ["data", "clean", str(dirty), "-o", str(out), "--report", str(report_path)]
    result = CliRunner().invoke(app, [*args, "--min-answer-chars", "4", "--lang", "zh,en"])
    assert result.exit_code == 0, result.output
    for name in STEPS:
        assert name in result.stdout  # the table

    survivors = read_jsonl(out)
    kept = expected_lines("kept")
    assert [record.question for record in survivors] == [
        json.loads(TABLE[n - 1][0])["messages"][0]["content"]
        .replace("13812345678", "[手机号_1]")
        .replace("li.lei@example.com", "[邮箱_1]")
        .replace("11010519491231002X", "[身份证号_1]")
        for n in kept
    ]

    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["records_in"] == len(TABLE)
    assert report["records_out"] == len(kept) == 7
    steps = {step["step"]: step for step in report["steps"]}
    assert list(steps) == list(STEPS)
    for name in STEPS:
        assert steps[name]["removed"] == len(expected_lines(name)), name
        if name != "pii":
            removed_lines = [example["line"] for example in steps[name]["examples"]]
            assert removed_lines == expected_lines(name)[:3], name
    assert steps["malformed"]["counts"] == {"empty": 1, "not a record": 2}
    assert steps["exact_duplicates"]["examples"][0]["why"] == "duplicate of line 1"
    assert [example["why"].split(" (")[0] for example in steps["near_duplicates"]["examples"]] == [
        "similar to line 4",
        "similar to line 1",
        "similar to line 1",
    ]
    assert steps["length"]["examples"][0]["why"] == "answer of 2 characters < 4"
    assert steps["language"]["counts"] == {"fr": 1, "ja": 1}
    assert steps["refusals"]["counts"] == {"boilerplate": 1, "reasoning_only": 1, "refusal": 2}
    assert steps["pii"] == {
        "step": "pii",
        "removed": 0,
        "changed": 3,
        "counts": {"email": 3, "id_card": 1, "landline": 1, "phone": 2},
        "examples": steps["pii"]["examples"],
    }
    assert [example["line"] for example in steps["pii"]["examples"]] == [2, 7, 22]
    assert "13812345678" not in report_path.read_text(encoding="utf-8")


def test_masked_values_share_one_placeholder_per_record(dirty: Path) -> None:
    from deepfort.training.dataset.records import read_jsonl as read

    records, report = clean(read(dirty, bad=[]), OPTIONS)
    by_question = {record.question: record for record in records}
    phone = by_question["我的手机号是[手机号_1]，能帮我查一下订单吗？"]
    assert phone.answer.content.startswith("可以的。我们会向[手机号_1]发送验证码")
    mail = next(record for record in records if record.question.startswith("Please update"))
    assert "[邮箱_1]" in mail.answer.content and "li.lei" not in mail.answer.content
    hotline = by_question["客服电话是多少？"]
    assert hotline.answer.content.startswith("您可以拨打客服热线[座机_1]，或发邮件到 [邮箱_1]，")
    reasoning = next(record for record in records if record.question == "What is 17 times 3?")
    assert reasoning.answer.reasoning_content == "17 * 3 = 10 * 3 + 7 * 3 = 30 + 21 = 51."
    assert report.step("pii").changed == 3


def test_without_a_language_list_other_languages_stay(dirty: Path) -> None:
    records, report = clean(read_jsonl(dirty, bad=[]), CleanOptions(min_answer_chars=4))
    assert report.step("language").removed == 0
    assert {"Comment puis-je suivre ma commande ?", "注文をキャンセルするにはどうすればいいですか？"} <= {
        record.question for record in records
    }


@pytest.mark.parametrize(
    ("threshold", "near"),
    [(0.8, 3), (1.0, 1)],  # at 1.0 only the punctuation variant (identical tokens) is a near duplicate
)
def test_the_near_duplicate_threshold_is_settable(dirty: Path, threshold: float, near: int) -> None:
    _, report = clean(read_jsonl(dirty, bad=[]), CleanOptions(threshold=threshold, min_answer_chars=4))
    assert report.step("near_duplicates").removed == near


def test_a_phrase_list_of_ones_own_replaces_the_builtin(dirty: Path, tmp_path: Path) -> None:
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("# ours\nrefusal\t工作时间\n", encoding="utf-8")
    _, report = clean(read_jsonl(dirty, bad=[]), CleanOptions(min_answer_chars=4, phrases=phrases))
    refusals = report.step("refusals")
    assert refusals.counts == Counter({"refusal": 1, "reasoning_only": 1})
    assert [example["line"] for example in refusals.examples] == [18, 22]


def test_records_made_in_memory_clean_too() -> None:
    records = [
        Record((Message("user", "What is the capital of France?"), Message("assistant", "Paris."))),
        Record((Message("user", "what is the capital of france?"), Message("assistant", "paris."))),
    ]
    kept, report = clean(records, CleanOptions())
    assert len(kept) == 1 and report.step("exact_duplicates").removed == 1
