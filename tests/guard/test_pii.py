from __future__ import annotations

import itertools
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfort.config import PiiSettings
from deepfort.errors import ConfigError
from deepfort.guard.pii import PiiDetector, normalize, valid_id_card

DEFAULT = PiiDetector(PiiSettings())

# (id, text, [(kind, value in the normalised text), ...])
FOUND = [
    ("id-zh", "我的身份证号是11010519491231002X，请核实。", [("id_card", "11010519491231002X")]),
    ("id-lower-x", "ID: 11010519491231002x.", [("id_card", "11010519491231002x")]),
    ("id-leap-day", "身份证310115200002294567", [("id_card", "310115200002294567")]),
    ("id-hong-kong-region", "证件81000019700101001X号", [("id_card", "81000019700101001X")]),
    ("id-en", "My ID number is 440305199003071236, thanks.", [("id_card", "440305199003071236")]),
    ("id-also-luhn-valid", "身份证440305199003071156", [("id_card", "440305199003071156")]),
    ("phone-between-hanzi", "电话13812345678谢谢", [("phone", "13812345678")]),
    ("phone-dashes", "手机：138-1234-5678。", [("phone", "138-1234-5678")]),
    ("phone-spaces-en", "Call me at 138 1234 5678 tomorrow.", [("phone", "138 1234 5678")]),
    ("phone-plus86", "联系+86 13912345678", [("phone", "+86 13912345678")]),
    ("phone-0086", "tel 0086-15912345678", [("phone", "0086-15912345678")]),
    ("phone-19x", "号码19912345678", [("phone", "19912345678")]),
    ("phone-full-width", "电话１３８１２３４５６７８，谢谢", [("phone", "13812345678")]),
    ("card-plain", "卡号6222021234567894", [("bank_card", "6222021234567894")]),
    ("card-spaces", "卡号 6222 0212 3456 7894 收款", [("bank_card", "6222 0212 3456 7894")]),
    ("card-dashes", "card 6222-0212-3456-7894.", [("bank_card", "6222-0212-3456-7894")]),
    ("card-19-digits", "账号6217000010000000003", [("bank_card", "6217000010000000003")]),
    ("card-19-grouped", "6217 0000 1000 0000 003", [("bank_card", "6217 0000 1000 0000 003")]),
    ("card-visa", "visa 4111 1111 1111 1111 exp 12/30", [("bank_card", "4111 1111 1111 1111")]),
    ("card-mastercard-2", "mc 2221000000000009", [("bank_card", "2221000000000009")]),
    ("card-full-width", "卡号６２２２０２１２３４５６７８９４", [("bank_card", "6222021234567894")]),
    ("email-zh", "邮箱zhang.san@example.com.cn，谢谢", [("email", "zhang.san@example.com.cn")]),
    ("email-en", "Email: John_Doe+tag@mail.example.org.", [("email", "John_Doe+tag@mail.example.org")]),
    ("email-full-width", "ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", [("email", "zhang@example.com")]),
    ("email-phone-local-part", "13812345678@163.com", [("email", "13812345678@163.com")]),
    ("landline-dash", "座机010-62345678", [("landline", "010-62345678")]),
    ("landline-parens-ext", "电话(0755)86123456转8001。", [("landline", "(0755)86123456转8001")]),
    ("landline-ext-en", "Tel 0571-8765432 ext 12", [("landline", "0571-8765432 ext 12")]),
    ("landline-parens-space", "Tel (021) 52345678.", [("landline", "(021) 52345678")]),
    ("passport-e8", "护照号E12345678", [("passport", "E12345678")]),
    ("passport-e-letter", "passport EA1234567,", [("passport", "EA1234567")]),
    ("passport-g", "旧护照G87654321。", [("passport", "G87654321")]),
    ("ipv4-zh", "服务器IP是192.168.1.10，端口8080", [("ipv4", "192.168.1.10")]),
    ("ipv4-en", "ping 8.8.8.8.", [("ipv4", "8.8.8.8")]),
    ("ipv4-max", "mask 255.255.255.255", [("ipv4", "255.255.255.255")]),
    (
        "mixed",
        "张三, ID 11010519491231002X, mobile 13812345678；邮箱zs@qq.com，IP 10.0.0.1",
        [
            ("id_card", "11010519491231002X"),
            ("phone", "13812345678"),
            ("email", "zs@qq.com"),
            ("ipv4", "10.0.0.1"),
        ],
    ),
]

# (id, text): look-alikes in which nothing may be found.
NOT_FOUND = [
    ("id-wrong-check-digit", "身份证110105194912310021"),
    ("id-bad-region-99", "身份证990105199003071232"),
    ("id-bad-region-19", "身份证190105199003071233"),
    ("id-impossible-date", "身份证440305199902301234"),
    ("id-born-in-future", "身份证440305209901011231"),
    ("id-born-before-1900", "身份证440305189912311234"),
    ("phone-starts-12", "号码12812345678"),
    ("phone-10-digits", "号码1381234567"),
    ("phone-in-order-number", "订单号2023123456789012"),
    ("phone-in-12-digits", "编号013812345678"),
    ("phone-followed-by-digit", "138123456789"),
    ("phone-followed-by-letter", "13812345678abc"),
    ("card-fails-luhn", "卡号6222021234567895"),
    ("card-grouped-fails-luhn", "4111 1111 1111 1112"),
    ("card-mixed-separators", "6222 0212-3456 7894"),
    ("card-date-led-order-number", "订单2023123456789014"),
    ("card-too-long", "62220212345678940000"),
    ("ipv4-octet-256", "256.1.1.1"),
    ("ipv4-five-parts", "1.2.3.4.5"),
    ("ipv4-leading-zeros", "01.02.03.04"),
    ("ipv4-in-version", "v1.2.3.4"),
    ("email-no-tld", "user@localhost"),
    ("landline-local-starts-1", "010-12345678"),
    ("landline-too-short", "010-234567"),
    ("passport-too-short", "E1234567"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in FOUND], ids=[c[0] for c in FOUND])
def test_found(text: str, expected: list[tuple[str, str]]) -> None:
    detections = DEFAULT.detect(text)
    assert [(d.kind, d.value) for d in detections] == expected
    normalized = normalize(text)
    assert all(normalized[d.start : d.end] == d.value for d in detections)


@pytest.mark.parametrize("text", [c[1] for c in NOT_FOUND], ids=[c[0] for c in NOT_FOUND])
def test_not_found(text: str) -> None:
    assert DEFAULT.detect(text) == []


def test_locate_reports_what_the_user_wrote() -> None:
    text = "电话：１３８－１２３４－５６７８，café\u0301 ok"
    [found] = DEFAULT.locate(text)
    assert (found.kind, found.value) == ("phone", "１３８－１２３４－５６７８")
    assert text[found.start : found.end] == found.value
    combining = "cafe\u0301 13812345678 end"  # a combining mark takes the slow, mapped path
    [found] = DEFAULT.locate(combining)
    assert combining[found.start : found.end] == "13812345678"


@pytest.mark.parametrize("text", ["１３８ＡＢＣ　，。", "cafe\u0301 x", "①② ﬁ ㍱", "plain"])
def test_normalize_is_nfkc(text: str) -> None:
    assert normalize(text) == unicodedata.normalize("NFKC", text)


def test_id_card_validation_is_exact() -> None:
    assert valid_id_card("11010519491231002X")
    assert valid_id_card("11010519491231002x")
    # Every other check character fails.
    assert [c for c in "0123456789X" if valid_id_card("11010519491231002" + c)] == ["X"]


def test_only_selected_kinds_run() -> None:
    detector = PiiDetector(PiiSettings(kinds=["email"]))
    assert [d.kind for d in detector.detect("13812345678 a@b.cn")] == ["email"]
    assert PiiDetector(PiiSettings(kinds=[])).detect("13812345678 a@b.cn") == []


def test_extra_patterns_and_word_lists() -> None:
    detector = PiiDetector(
        PiiSettings(
            kinds=["phone"],
            extra_patterns={"employee_id": r"EMP-[0-9]{6}"},
            word_lists={"project": ["天穹计划", "Apollo"], "client": ["Apollo Bank"]},
        )
    )
    text = "EMP-123456 负责天穹计划和APOLLO，不是Apollonia；客户apollo bank，电话13812345678"
    found = [(d.kind, d.value) for d in detector.detect(text)]
    assert found == [
        ("employee_id", "EMP-123456"),
        ("project", "天穹计划"),
        ("project", "APOLLO"),
        ("client", "apollo bank"),
        ("phone", "13812345678"),
    ]
    assert detector.kinds == ["phone", "employee_id", "project", "client"]


@pytest.mark.parametrize(
    "pii",
    [
        PiiSettings(kinds=["phone", "ssn"]),
        PiiSettings(extra_patterns={"bad": "(unclosed"}),
        PiiSettings(extra_patterns={"[x]": "x"}),
        PiiSettings(word_lists={"": ["x"]}),
    ],
    ids=["unknown-kind", "bad-regex", "bracket-in-kind", "empty-kind"],
)
def test_bad_settings(pii: PiiSettings) -> None:
    with pytest.raises(ConfigError):
        PiiDetector(pii)


def test_unknown_kind_lists_the_built_ins() -> None:
    with pytest.raises(ConfigError, match="id_card, bank_card, passport, phone, landline, email, ipv4"):
        PiiDetector(PiiSettings(kinds=["ssn"]))


PIECES = [s for _, s, _ in FOUND] + [s for _, s in NOT_FOUND] + ["，", " ", "x", "号", "1"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=6))
def test_detections_are_ordered_and_disjoint(pieces: list[str]) -> None:
    text = "".join(pieces)
    normalized = normalize(text)
    detections = DEFAULT.detect(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(detections))
    assert all(normalized[d.start : d.end] == d.value for d in detections)
    located = DEFAULT.locate(text)
    assert [(d.kind, normalize(d.value)) for d in located] == [(d.kind, d.value) for d in detections]
    # A full stop is a boundary: the same text on both sides of it is found twice, nothing more.
    assert len(DEFAULT.detect(text + "。" + text)) == 2 * len(detections)


def test_digits_of_other_scripts_are_not_ascii_digits() -> None:
    # Python's \d would match Arabic-Indic digits; the detectors read ASCII digits (after NFKC) only.
    arabic = "١٣٨١٢٣٤٥٦٧٨"
    assert re.fullmatch(r"\d{11}", arabic)
    assert DEFAULT.detect(arabic) == []
