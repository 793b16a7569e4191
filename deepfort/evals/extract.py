"""Answers read out of a model's reply: a choice letter, a final number, the last ``\\boxed{}``.

Only the answer text is read (a :class:`~deepfort.evals.base.Generation`'s ``content``), never the
reasoning; a ``<think>`` block a server left in the content is cut first (:func:`strip_think`). Every
function returns None when the text states no answer: the report counts that as *unparsed*, apart from a
wrong answer, so a broken pattern shows up as a high unparsed rate instead of a silent zero.

What the evaluators people run got wrong, and this module does not:

- a pattern that never matches the model's phrasing scores 0 with no warning (lm-eval #2237: MMLU-Pro's
  regex missed "answer is (A)"; #2279: ``mmlu_generative`` at 0 for every model);
- reading the letter out of the reasoning: the first "(A)" of a chain of thought is not its answer
  (lm-eval #2682, #3216; OpenCompass's ``first_option_postprocess`` returns the *first* match);
- a letter out of an ordinary word: OpenCompass falls back to the first capital letter of the text, so
  "I think..." reads as I and "A cat..." as A.

:func:`choice_letter` therefore reads in tiers, most specific first, and within a tier the *last*
statement wins (a model that corrects itself ends on its answer); a letter counts only when no letter
or digit touches it and, in English, no lowercase word follows it other than a connective ("B because",
not "A bicycle").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache

__all__ = [
    "LETTERS",
    "boxed",
    "choice_letter",
    "final_number",
    "is_chinese",
    "normalise_number",
    "strip_think",
]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL)


def strip_think(text: str) -> str:
    """The answer part of ``text``: complete ``<think>...</think>`` blocks removed; before a lone
    ``</think>`` (the template opened the block in the prompt) everything is reasoning; from a
    ``<think>`` that never closes (cut by ``max_tokens``) everything is reasoning, so a text that opens
    one and never closes it has no answer at all."""
    text = _THINK_BLOCK.sub("", text)
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        text = text.split("<think>", 1)[0]
    return text.strip()


_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def is_chinese(text: str) -> bool:
    """True when at least a fifth of the letters in ``text`` are Han characters: "下列哪个是TCP/IP协议的
    一部分" is Chinese, "What does 北京 mean?" is not. Suites ask in the question's language."""
    han = len(_HAN.findall(text))
    return han > 0 and han * 5 >= han + len(_LATIN.findall(text))


def _clean(text: str) -> str:
    # NFKC folds full-width forms (Ｂ, ：, （）, ４２) into ASCII; U+2212 is a minus sign NFKC keeps.
    return unicodedata.normalize("NFKC", strip_think(text)).replace("\u2212", "-")


# -- choice letters --------------------------------------------------------------------------------------

# Words that may follow an answer letter in English ("B because ..."); any other lowercase word after a
# capital letter makes it an article or a pronoun ("A bicycle", "I think").
_CONNECTIVES = "because|since|as|is|was|which|and|or|but|for|with|here|in|from|that|so|it|would|should"
# Between an answer phrase and its letter: spaces, markdown emphasis, an opening bracket or quote.
_OPEN = r"[\s*_(\[【「\"'“]{0,12}"


def _letter(letters: str) -> str:
    return (
        rf"(?<![A-Za-z0-9_])(?P<letter>[{letters}])"
        rf"(?![A-Za-z0-9_])(?!['’][a-z])(?![ \t]+(?!(?:{_CONNECTIVES})\b)[a-z])"
    )


@lru_cache(maxsize=32)
def _tiers(letters: str) -> tuple[tuple[re.Pattern[str], ...], ...]:
    x = _letter(letters)
    statement = (
        # 答案：B / 答案是 B / 正确答案为（B） / 答案应该选B / 最终答案是选项B
        rf"答案(?:选项)?\s*(?:应该|应当|应|就|当|肯定|一定|只能|必然)?\s*(?:是|为|选择?|:|=)\s*:?"
        rf"{_OPEN}(?:选项|option)?{_OPEN}{x}",
        # 正确选项是B / 最佳选项为 C / 说法正确的是B / 不符合题意的一项是 D
        rf"(?:正确|最佳|最终)的?选项\s*(?:应该|应当|应|就)?\s*(?:是|为|:)\s*:?{_OPEN}{x}",
        rf"(?:正确|错误|符合题意)的(?:一项|选项|答案)?\s*(?:是|为|:)\s*:?{_OPEN}{x}",
        # The answer is (B) / Answer: B / **Answer:** B / the final answer would be B
        r"(?i:\banswers?\b(?:\s+to\s+(?:this|the)\s+question)?[*_]*\s*"
        r"(?:is|was|would\s+be|should\s+be|must\s+be|will\s+be|[:=]|-)\s*"
        r"(?:(?:therefore|thus|clearly|definitely|likely|probably|then|option|choice|letter|:)\s*)*)"
        rf"{_OPEN}{x}",
        # the correct option is B. / best choice: (C)
        r"(?i:\b(?:correct|right|best|final)\s+(?:option|choice)\b[*_]*\s*"
        r"(?:is|would\s+be|should\s+be|must\s+be|[:=])\s*:?)"
        rf"{_OPEN}{x}",
        # \boxed{B} / \boxed{\text{(B)}} / \boxed{B. Paris}
        rf"\\boxed\s*\{{\s*(?:\\(?:text|textbf|mathrm|mathbf)\s*\{{\s*)?\(?\s*{x}\s*\)?\s*(?:[.:}}]|\s)",
    )
    choice = (
        # 选B / 故选 B / 应选择（C）; not 不选B, and 选项B is a mention, not a choice
        rf"(?<![不别勿非])选(?:择|定)?\s*:?{_OPEN}{x}",
        # B 正确 / 选项B是正确的 / C为正确答案
        rf"{x}\s*\)?\s*(?:项|选项)?\s*(?:是|为)?\s*(?:正确|对的)",
        # I choose B / I'd go with (C)
        rf"(?i:\bI\s*(?:would|will|'d|'ll)?\s*(?:choose|pick|select|go\s+with)\s+(?:option\s+|choice\s+)?){_OPEN}{x}",
        # B is correct / (C) is the right answer / Option D is the best
        rf"(?:(?i:option|choice)\s+)?[(\[]?{x}[)\]]?[*_]*\s+(?i:is\s+(?:the\s+)?(?:correct|right|best)\b)",
    )
    return tuple(tuple(re.compile(p) for p in tier) for tier in (statement, choice))


@lru_cache(maxsize=32)
def _format_patterns(letters: str) -> tuple[re.Pattern[str], ...]:
    x = _letter(letters)
    lone = re.compile(rf"^[\s*_#>(\[【]*{x}[)\]】.。:*_\s]*$")
    # "B. Paris ...", "(B) ..." or a lone "B" opening the answer.
    opening = re.compile(rf"^[\s*_#>]*(?P<open>[(\[【])?{x}(?P<close>[)\]】]|[.:](?!\d)|[ \t]*(?:\n|$))?")
    # "**B**", "**(B)**", "**B. Paris**": after the letter, the bold closes or a bracket or stop follows.
    bold = re.compile(rf"\*\*[ \t]*[(\[]?{x}(?:\*\*|[.:)\]](?:[ \t][^*\n]{{0,80}})?\*\*)")
    # Options walked through one per line: "A. ...", "(B) ...".
    line_starts = re.compile(rf"(?m)^[\s*_#>]*[(\[]?{x}[).:]")
    return lone, opening, bold, line_starts


def _last(patterns: Sequence[re.Pattern[str]], text: str) -> str | None:
    found: tuple[int, str] | None = None
    for pattern in patterns:
        for match in pattern.finditer(text):
            at = match.start("letter")
            if found is None or at > found[0]:
                found = (at, match.group("letter"))
    return None if found is None else found[1]


def _listing(pattern: re.Pattern[str], text: str) -> bool:
    """True when the text walks through the options ("A. ... B. ..."): a format match there is one
    option's heading, not the answer."""
    return len({m.group("letter") for m in pattern.finditer(text)}) > 1


def choice_letter(text: str, n_choices: int = 4) -> str | None:
    """The option letter ``text`` answers with (A for the first of ``n_choices``), or None.

    Tiers, the first that matches decides, and within it the last match in the text:

    1. answer statements: "答案：B", "答案是 B", "正确答案为（B）", "The answer is (B)", "Answer: B",
       "the correct option is B.", ``\\boxed{B}``;
    2. choices stated otherwise: "选B", "故选C", "B正确", "I choose B", "(B) is the correct answer";
    3. the answer's form alone: a lone letter on the last line ("B", "(B)", "**B.**"); a bold letter
       ("**B**", "**B. Paris**"); a letter opening the text ("B. Paris is..."); the last two only when
       the text does not walk through several options in that form.
    """
    if not 2 <= n_choices <= len(LETTERS):
        raise ValueError(f"n_choices must be 2 to {len(LETTERS)}, not {n_choices}")
    letters = LETTERS[:n_choices]
    answer = _clean(text)
    if not answer:
        return None
    for tier in _tiers(letters):
        found = _last(tier, answer)
        if found is not None:
            return found
    lone, opening, bold, line_starts = _format_patterns(letters)
    last_line = answer.splitlines()[-1]
    match = lone.match(last_line)
    if match:
        return match.group("letter")
    if not _listing(bold, answer):
        found = _last((bold,), answer)
        if found is not None:
            return found
    match = opening.match(answer)
    if (
        match
        and match.group("close") is not None
        and (not match.group("open") or match.group("close") in ")]】")
        and not _listing(line_starts, answer)
    ):
        return match.group("letter")
    return None


# -- numbers ---------------------------------------------------------------------------------------------

# 1,234.5 (thousands only in groups of three, so "1,2,3" is three numbers), .5, and a/b; a minus sign
# only where no word or digit precedes it ("3-5" is a range, not -5).
_NUMBER = re.compile(
    r"(?:(?<![\w)])-)?(?<![\d.])(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+(?![\d.]))?(?![\d])"
)
_HASHES = re.compile(r"####\s*\$?\s*(?P<number>" + _NUMBER.pattern + ")")
_ANSWER_PHRASE = re.compile(
    r"(?i:\banswer\b[*_]*\s*(?:is|was|would\s+be|should\s+be|will\s+be|[:=])\s*:?)"
    r"|答案\s*(?:应该|应|就)?\s*(?:是|为|:|=)|(?:^|\n)\s*答\s*:"
)


# Where the sentence of an answer phrase ends: a line break, 。, or a full stop that is no decimal point.
_SENTENCE_END = re.compile(r"\n|。|\.(?!\d)")


def normalise_number(number: str) -> str:
    """A number as written ("1,234.50", "+7", "3 / 4") in one form: "1234.5", "7", "3/4"."""
    number = number.replace(",", "").replace(" ", "").lstrip("+")
    if "/" in number:
        return number
    try:
        value = Decimal(number)
    except InvalidOperation:
        return number
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")


def _latex_number_text(text: str) -> str:
    """What a number looks like once LaTeX's dress is off: ``\\$1{,}234``, ``\\frac{3}{4}``, ``50\\%``."""
    text = re.sub(r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(\d+)\s*\}", r"\1/\2", text)
    text = re.sub(r"\\[dt]?frac\s*(\d)(\d)", r"\1/\2", text)
    text = text.replace("{,}", ",").replace("\\!", "").replace("\\,", "").replace("\\$", "")
    return re.sub(r"\\(?:text|mathrm|textbf|mbox)\s*\{[^{}]*\}", " ", text)


def final_number(text: str, *, last_number: bool = True) -> str | None:
    """The final numeric answer of a GSM8K-style reply, normalised (:func:`normalise_number`), or None.

    In order: the last "#### 42"; the last ``\\boxed{}`` (its last number; a box with no number is no
    answer); in the sentence after the last answer phrase that has a number ("The answer is $1,234.50",
    "答案是 42 元", "答：共 42 元"), its first number, or its last when the sentence is a calculation;
    the last number in the text, unless ``last_number`` is False (a reply cut by ``max_tokens`` stops
    mid-calculation: its last number is no answer).
    """
    answer = _clean(text)
    hashes = list(_HASHES.finditer(answer))
    if hashes:
        return normalise_number(hashes[-1].group("number"))
    box = boxed(answer)
    if box is not None:
        numbers = _NUMBER.findall(_latex_number_text(box))
        return normalise_number(numbers[-1]) if numbers else None
    for phrase in reversed(list(_ANSWER_PHRASE.finditer(answer))):
        sentence = _SENTENCE_END.split(_latex_number_text(answer[phrase.end() : phrase.end() + 200]), 1)[0]
        numbers = _NUMBER.findall(sentence)
        if numbers:
            # "Answer: 16 - 3 - 4 = 9 eggs, sold at 9 x 2 = $18": a calculation ends on its result.
            return normalise_number(numbers[-1] if "=" in sentence else numbers[0])
    if not last_number:
        return None
    numbers = _NUMBER.findall(_latex_number_text(answer))
    return normalise_number(numbers[-1]) if numbers else None


# -- \boxed{} --------------------------------------------------------------------------------------------

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")


def boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{...}`` (or ``\\fbox``) in the answer part of ``text``,
    nested braces included, stripped; None when there is none. A box left open (the answer cut by
    ``max_tokens``) is skipped for the one before it."""
    answer = strip_think(text)
    for start in reversed([m.end() for m in _BOX.finditer(answer)]):
        depth = 1
        for at in range(start, len(answer)):
            char = answer[at]
            if char == "{" and answer[at - 1] != "\\":
                depth += 1
            elif char == "}" and answer[at - 1] != "\\":
                depth -= 1
                if depth == 0:
                    return answer[start:at].strip()
    return None
