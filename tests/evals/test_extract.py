"""Answer extraction: a table of real-looking replies, Chinese and English, with and without reasoning."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepfort.evals.extract import boxed, choice_letter, final_number, is_chinese, strip_think

# (id, reply, expected letter or None: unparsed), four options unless the id says otherwise.
LETTERS = [
    # -- English, answer statements
    ("en-answer-is-paren", "The answer is (B).", "B"),
    ("en-answer-colon", "Answer: C", "C"),
    (
        "en-cot-then-answer",
        "To find the capital of Australia, recall that Canberra was purpose-built as the capital. Sydney is "
        "the largest city but not the capital.\n\nAnswer: B",
        "B",
    ),
    (
        "en-correct-option",
        "Option A describes mitosis, which produces identical cells. Option C is about meiosis II only. "
        "The correct option is D.",
        "D",
    ),
    (
        "en-walks-options-then-answers",
        "Let's evaluate each choice.\n(A) 12 is even. (B) 15 is divisible by 3 and 5. (C) 17 is prime. "
        "(D) 21 = 3 x 7.\nThe only prime is 17, so the answer is (C).",
        "C",
    ),
    (
        "en-corrects-itself",
        "I initially thought the answer is A, but water boils at 100 °C at sea level, not 90 °C. "
        "Final answer: B",
        "B",
    ),
    ("en-bold-answer-label", "**Answer:** D", "D"),
    ("en-bold-label-and-text", "**Answer**: (D) Berlin", "D"),
    ("en-boxed-letter", "The answer is $\\boxed{A}$.", "A"),
    ("en-boxed-text-letter", "Therefore the result is \\boxed{\\text{C}}", "C"),
    ("en-minerva", "Final Answer: The final answer is $\\boxed{A}$. I hope it is correct.", "A"),
    ("en-correct-answer-bold-paren", "The correct answer is: **(B) Paris**", "B"),
    ("en-answer-because", "Answer: A because the mitochondria produce most of the cell's ATP.", "A"),
    ("en-answer-a-full-stop", "The answer is A.", "A"),
    ("en-quoted", "So the answer is 'B'.", "B"),
    (
        "en-explanation-after-answer",
        "Answer: B\n\nExplanation: Option A (Sydney) is the largest city, option C (Melbourne) was the "
        "temporary capital, and D is in New Zealand.",
        "B",
    ),
    # -- English, choices stated otherwise and bare forms
    ("en-is-correct", "Let me reconsider. A is wrong because 7 x 8 = 56, not 54. B is correct.", "B"),
    ("en-i-choose", "I choose C.", "C"),
    ("en-paren-is-right", "(C) is the correct answer.", "C"),
    ("en-lone-letter", "B", "B"),
    ("en-lone-paren", "(D)", "D"),
    ("en-lone-last-line", "Water is made of hydrogen and oxygen.\n\nB", "B"),
    ("en-opens-with-letter", "C. Photosynthesis\n\nPlants turn light into chemical energy in glucose.", "C"),
    ("en-bold-letter-text", "**B. Jupiter**\n\nJupiter is the largest planet in our solar system.", "B"),
    # -- English, no answer
    ("en-pronoun-i", "I think this question is ambiguous and I cannot decide.", None),
    ("en-article-a", "A bicycle has two wheels, so three bicycles have six wheels.", None),
    ("en-answer-is-article", "The answer is A bicycle, since it has two wheels.", None),
    ("en-mentions-two", "Both A and B look plausible at first glance.", None),
    (
        "en-only-walks-options",
        "A. Sydney: the largest city.\nB. Canberra: the capital.\nC. Melbourne: a former capital.\n"
        "D. Auckland: in New Zealand.",
        None,
    ),
    ("en-letter-out-of-range", "Answer: E", None),
    ("empty", "", None),
    # -- reasoning left in the content
    (
        "think-closed",
        "<think>\nThe chemical symbol of gold is Au, from aurum. Option B is Ag, silver. So the answer is "
        "A.\n</think>\n\nThe answer is A.",
        "A",
    ),
    (
        "think-other-letter",
        "<think>Option B looks tempting: the answer is B? No wait, it is C.</think>\n\nAnswer: C",
        "C",
    ),
    ("think-unclosed", "<think>Let me think. The answer should be D, since", None),
    ("think-only-close-tag", "The prompt opened the block... maybe A?</think>\n\n**Answer: B**", "B"),
    ("think-answer-only-inside", "<think>Canberra is the capital. Answer: B</think>", None),
    # -- Chinese
    ("zh-answer-colon", "答案：B", "B"),
    ("zh-answer-is", "答案是 C。", "C"),
    ("zh-full-width-brackets", "正确答案为（A）", "A"),
    ("zh-choose", "选B", "B"),
    ("zh-full-width-letter", "答案：Ｃ", "C"),
    (
        "zh-cot-gu-xuan",
        "首先，标准大气压下水的沸点是100℃，所以A错误；冰的熔点是0℃，B正确。\n故选B。",
        "B",
    ),
    (
        "zh-analysis-then-answer",
        "分析：A项中“的”用法错误；C项语序不当；D项搭配不当。只有B项没有语病。\n答案：B",
        "B",
    ),
    ("zh-should-be", "答案应该是D，因为北京是中国的首都。", "D"),
    ("zh-bold-after-mentions", "我认为选项A和选项C都有问题，正确答案是 **D**。", "D"),
    ("zh-corrects-itself", "答案是A？不对，重新计算：3×7=21。所以答案是C。", "C"),
    ("zh-not-b", "不选B，应选D。", "D"),
    ("zh-boxed", "最终答案：\\boxed{B}", "B"),
    ("zh-correct-option", "因此，本题的正确选项是B。", "B"),
    ("zh-b-correct", "A项说法片面，B项正确。", "B"),
    ("zh-shuofa-zhengque", "A项错误，C项以偏概全，D项因果倒置，所以说法正确的是B。", "B"),
    ("zh-bu-fuhe", "逐项分析后，不符合题意的一项是 D。", "D"),
    ("zh-is-right", "综上，C是正确的。", "C"),
    ("zh-answer-wei-colon", "所以答案为:D", "D"),
    (
        "zh-think-other-letters",
        "<think>\n题目问长江的长度。选项A是5464千米，那是黄河。选项C大约6300千米……所以答案是C吧？\n</think>\n\n"
        "长江全长约6300千米，答案：C",
        "C",
    ),
    (
        "zh-think-then-choose",
        "<think>\n嗯，2的10次方是1024，所以选D。\n</think>\n\n2^10 = 1024，因此选D。",
        "D",
    ),
    ("zh-no-answer", "这道题我不确定答案。", None),
    ("zh-think-unclosed", "<think>\n先看选项A，再看选项B，答案可能是B", None),
]


@pytest.mark.parametrize(("reply", "expected"), [case[1:] for case in LETTERS], ids=[c[0] for c in LETTERS])
def test_choice_letter(reply: str, expected: str | None) -> None:
    assert choice_letter(reply, 4) == expected


def test_the_table_is_large_and_mixed() -> None:
    assert len(LETTERS) >= 40
    assert sum(case[2] is None for case in LETTERS) >= 8
    assert sum(is_chinese(case[1]) for case in LETTERS) >= 15


def test_more_options_widen_the_letters() -> None:
    assert choice_letter("Answer: E", 5) == "E"
    assert choice_letter("The answer is (J).", 10) == "J"
    assert choice_letter("Answer: I think it is B", 10) is None  # "I" is a pronoun there, not option I
    assert choice_letter("Answer: I", 10) == "I"
    assert choice_letter("Answer: I'm not sure.", 10) is None


def test_n_choices_is_checked() -> None:
    with pytest.raises(ValueError, match="n_choices"):
        choice_letter("Answer: A", 1)


_REASONING = st.lists(
    st.sampled_from([*"ABCD ().:答案是选\n", "Answer: ", "答案：", "<think>"]), max_size=30
).map("".join)
_ANSWERS = st.sampled_from(
    [case[1] for case in LETTERS if "<think>" not in case[1] and "</think>" not in case[1]]
)


@given(reasoning=_REASONING, answer=_ANSWERS)
def test_reasoning_never_changes_the_answer(reasoning: str, answer: str) -> None:
    """Whatever letters a closed <think> block names, the letter comes from the answer after it."""
    assert choice_letter(f"<think>{reasoning}</think>\n\n{answer}", 4) == choice_letter(answer, 4)


@given(reasoning=_REASONING)
def test_an_unclosed_think_block_is_never_an_answer(reasoning: str) -> None:
    assert choice_letter(f"<think>{reasoning}", 4) is None


# (id, reply, expected number or None)
NUMBERS = [
    (
        "gsm8k-hashes",
        "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May."
        "\n#### 72",
        "72",
    ),
    ("zh-answer-yuan", "答案是 42 元", "42"),
    ("en-dollars-thousands", "The answer is $1,234.50", "1234.5"),
    ("boxed", "So she earns $18 every day.\n\n\\boxed{18}", "18"),
    ("last-number", "He spends 3 x $4 = $12 on apples and $5 on bread, so the total is $17.", "17"),
    ("zh-last-number", "小明有 15 个苹果，吃了 3 个，又买了 8 个，所以现在有 15 - 3 + 8 = 20 个。", "20"),
    ("zh-da", "小明买了两本书。\n答：小明一共花了 56 元。", "56"),
    ("think-stripped", "<think>Maybe 40? No: 5 x 9 = 45.</think>\n\nThe answer is 45.", "45"),
    ("minerva", "Final Answer: The final answer is $18$. I hope it is correct.", "18"),
    ("boxed-latex-dollars", "\\boxed{\\$1{,}250}", "1250"),
    ("unicode-minus", "The temperature dropped to \u22125 degrees.", "-5"),
    ("fraction", "The answer is 3/4 of the pizza.", "3/4"),
    ("boxed-frac", "\\boxed{\\frac{7}{2}}", "7/2"),
    ("zh-negative", "答案是：-12", "-12"),
    ("hashes-thousands", "#### 1,000", "1000"),
    ("phrase-beats-last-number", "The answer is 42. Each of the 6 boxes holds 7 apples.", "42"),
    (
        "phrase-then-calculation",
        "Answer: 16 - 3 - 4 = 9 eggs, sold at 9 x $2 = $18.\nShe is happy with 3 hens.",
        "18",
    ),
    ("phrase-decimal", "The answer is 3.5 kg of flour, for 2 cakes.", "3.5"),
    ("trailing-zeros", "Total: $29.00.", "29"),
    ("range-is-not-negative", "It takes 3-5 days.", "5"),
    ("no-number", "I cannot determine the number of apples.", None),
    ("boxed-without-number", "\\boxed{\\text{not enough information}}", None),
    ("think-only", "<think>The answer is 12.</think>", None),
]


@pytest.mark.parametrize(("reply", "expected"), [case[1:] for case in NUMBERS], ids=[c[0] for c in NUMBERS])
def test_final_number(reply: str, expected: str | None) -> None:
    assert final_number(reply) == expected


def test_without_the_last_number_fallback_only_statements_count() -> None:
    assert final_number("First she bakes 24 muffins, then", last_number=False) is None
    assert final_number("The answer is 7. Then 24 more", last_number=False) == "7"
    assert final_number("\\boxed{7} and 24", last_number=False) == "7"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\\boxed{42}", "42"),
        ("so $\\boxed{\\frac{1}{\\sqrt{2}}}$", "\\frac{1}{\\sqrt{2}}"),
        ("first \\boxed{1} then \\boxed{ 2 }", "2"),
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
        ("\\boxed{3} and a box cut short: \\boxed{\\frac{1}", "3"),
        ("\\fbox{7}", "7"),
        ("<think>\\boxed{1}</think>no box", None),
        ("no box", None),
    ],
)
def test_boxed(text: str, expected: str | None) -> None:
    assert boxed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>a</think>b", "b"),
        ("x</think>\n\ny", "y"),
        ("<think>never closed", ""),
        ("answer <think>cut", "answer"),
        ("<think>a</think>b<think>c</think>d", "bd"),
        ("plain", "plain"),
    ],
)
def test_strip_think(text: str, expected: str) -> None:
    assert strip_think(text) == expected


@pytest.mark.parametrize(
    ("text", "chinese"),
    [("下列哪个是TCP/IP协议的一部分？", True), ("What does 北京 mean?", False), ("2 + 2 = ?", False)],
)
def test_is_chinese(text: str, chinese: bool) -> None:
    assert is_chinese(text) is chinese
