from __future__ import annotations

import re
from collections import Counter
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfort.config import PiiSettings
from deepfort.errors import SensitiveInputError
from deepfort.guard.masking import Masker, Unmasker, apply_policy, describe
from deepfort.guard.pii import PiiDetector

from .streams import cuts, split

DETECTOR = PiiDetector(PiiSettings(word_lists={"项目": ["天穹计划"]}))
PHONE, PHONE_DASHED, PHONE_2 = "13812345678", "138-1234-5678", "13912345678"
ID, EMAIL, CARD = "11010519491231002X", "zs@example.com", "6222 0212 3456 7894"

MESSAGES = [
    f"我叫张三，电话{PHONE}，身份证{ID}。",
    f"再说一次：电话{PHONE_DASHED}，备用{PHONE_2}，邮箱{EMAIL}，卡号{CARD}，项目天穹计划。",
    "没有个人信息。",
]


def mask_all(texts: list[str]) -> Masker:
    masker = Masker(DETECTOR)
    for text in texts:
        masker.mask(text)
    return masker


def test_mask_numbers_per_kind_and_reuses_placeholders_across_messages() -> None:
    masker = Masker(DETECTOR)
    masked = [masker.mask(text) for text in MESSAGES]
    assert masked == [
        "我叫张三，电话[手机号_1]，身份证[身份证号_1]。",
        "再说一次：电话[手机号_1]，备用[手机号_2]，邮箱[邮箱_1]，卡号[银行卡号_1]，项目[项目_1]。",
        "没有个人信息。",
    ]
    assert masker.found == Counter({"phone": 3, "id_card": 1, "email": 1, "bank_card": 1, "项目": 1})
    assert masker.mapping == {
        "[手机号_1]": PHONE,
        "[身份证号_1]": ID,
        "[手机号_2]": PHONE_2,
        "[邮箱_1]": EMAIL,
        "[银行卡号_1]": CARD,
        "[项目_1]": "天穹计划",
    }


def test_mask_keeps_the_rest_of_the_text_as_written() -> None:
    masker = Masker(DETECTOR)
    assert masker.mask("电话：１３８１２３４５６７８！（ｏｋ）") == "电话：[手机号_1]！（ｏｋ）"
    assert masker.mapping == {"[手机号_1]": "１３８１２３４５６７８"}


@pytest.mark.parametrize(
    "spelling",
    [
        "13812345678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "００８６１３８１２３４５６７８",
        "１３８ １２３４ ５６７８",
    ],
)
def test_spellings_of_one_value_share_a_placeholder(spelling: str) -> None:
    masker = Masker(DETECTOR)
    assert masker.mask(f"手机１３８１２３４５６７８，又写作{spelling}，另一个13912345678") == (
        "手机[手机号_1]，又写作[手机号_1]，另一个[手机号_2]"
    )


# (id, mapping, model output, restored)
UNMASK = [
    ("known", {"[手机号_1]": PHONE}, "请拨打[手机号_1]。", f"请拨打{PHONE}。"),
    ("invented-left-alone", {"[手机号_1]": PHONE}, "[手机号_9]和[手机号_1]", f"[手机号_9]和{PHONE}"),
    ("nested-brackets", {"[手机号_1]": PHONE}, "[[手机号_1]]", f"[{PHONE}]"),
    ("stray-brackets", {"[手机号_1]": PHONE}, "a[b]c[ [手 ]", "a[b]c[ [手 ]"),
    ("partial-at-end", {"[手机号_1]": PHONE}, "见[手机号_", "见[手机号_"),
    ("prefix-of-longer", {"[手机号_1]": PHONE, "[手机号_10]": "x"}, "[手机号_10][手机号_1", "x[手机号_1"),
    ("no-mapping", {}, "[手机号_1]", "[手机号_1]"),
]


@pytest.mark.parametrize(
    ("mapping", "output", "restored"), [c[1:] for c in UNMASK], ids=[c[0] for c in UNMASK]
)
def test_unmask_table(mapping: dict[str, str], output: str, restored: str) -> None:
    for chunks in [[output], list(output)]:
        unmasker = Unmasker(mapping)
        assert "".join(unmasker.feed(chunk) for chunk in chunks) + unmasker.finish() == restored


def test_unmasker_holds_back_only_a_possible_placeholder() -> None:
    unmasker = Unmasker({"[手机号_1]": PHONE})
    assert unmasker.feed("号码是[手机") == "号码是"
    assert unmasker.feed("号_1]，或[x") == f"{PHONE}，或[x"
    assert unmasker.feed("[") == ""
    assert unmasker.finish() == "["


def reference_unmask(mapping: dict[str, str], text: str) -> str:
    if not mapping:
        return text
    pattern = re.compile("|".join(re.escape(p) for p in mapping))
    return pattern.sub(lambda m: mapping[m.group()], text)


PLACEHOLDERS = mask_all(MESSAGES).mapping
ANSWER_PIECES = [*PLACEHOLDERS, "[手机号_9]", "[手机号_", "[", "]", "_1]", "好的", " ok ", "[[", "邮箱"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(ANSWER_PIECES), max_size=12), cuts)
def test_unmasking_any_chunking_equals_whole(pieces: list[str], cut: list[int]) -> None:
    answer = "".join(pieces)
    whole = Unmasker(PLACEHOLDERS)
    expected = whole.feed(answer) + whole.finish()
    assert expected == reference_unmask(PLACEHOLDERS, answer)
    chunked = Unmasker(PLACEHOLDERS)
    assert "".join(chunked.feed(chunk) for chunk in split(answer, cut)) + chunked.finish() == expected


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(range(len(PLACEHOLDERS)))), cuts)
def test_mask_round_trip(order: list[int], cut: list[int]) -> None:
    """Mask a request, let the 'model' quote the placeholders, unmask the stream: the values come back."""
    masker = Masker(DETECTOR)
    masked = [masker.mask(text) for text in MESSAGES]
    assert not any(value in "".join(masked) for value in (PHONE, PHONE_2, ID, EMAIL, CARD))
    placeholders = list(masker.mapping)
    answer = "；".join(f"第{i}项是{placeholders[i]}" for i in order)
    unmasker = masker.unmasker()
    restored = "".join(unmasker.feed(chunk) for chunk in split(answer, cut)) + unmasker.finish()
    assert restored == "；".join(f"第{i}项是{masker.mapping[placeholders[i]]}" for i in order)
    assert restored.count(PHONE) == 1 and restored.count(ID) == 1


def test_policy_block_names_kinds_never_values() -> None:
    with pytest.raises(SensitiveInputError) as caught:
        apply_policy("block", DETECTOR, [f"电话{PHONE}和{PHONE_2}", f"身份证{ID}"])
    error = caught.value
    assert (
        error.message
        == "the input contains personal data (手机号 x2, 身份证号 x1); this key's policy blocks it"
    )
    assert error.status_code == 400 and error.code == "sensitive_input"
    assert not any(value in str(error.to_dict()) for value in (PHONE, PHONE_2, ID))


@pytest.mark.parametrize("policy", ["mask", "block", "allow"])
def test_policy_without_personal_data_passes(policy: Literal["mask", "block", "allow"]) -> None:
    result = apply_policy(policy, DETECTOR, ["你好", "hello"])
    assert (result.texts, result.found, result.mapping) == (["你好", "hello"], Counter(), {})


def test_policy_allow_reports_kinds_and_leaves_text() -> None:
    result = apply_policy("allow", DETECTOR, MESSAGES)
    assert result.texts == MESSAGES
    assert describe(result.found) == "手机号 x3, 身份证号 x1, 邮箱 x1, 银行卡号 x1, 项目 x1"
    assert result.mapping == {}


def test_policy_mask_masks_and_restores() -> None:
    result = apply_policy("mask", DETECTOR, MESSAGES)
    assert result.texts[0] == "我叫张三，电话[手机号_1]，身份证[身份证号_1]。"
    assert result.found["phone"] == 3
    unmasker = result.unmasker()
    assert unmasker.feed("[身份证号_1]") + unmasker.finish() == ID
