"""Question complexity, for Chinese and English: a score in [0, 1] and the cues behind it.

Cheap features a reader can check: length, maths, code, multi-step and comparison cues, explicit
constraints, conversation depth, and cues of everyday simple requests (greetings, translation of a line,
lookups), which pull the score down. The weights are a logistic model over those features, fitted on the
``tune`` split of ``tests/data/routing/questions.jsonl`` (``deepfort route fit``); the ``holdout`` split
is only ever used to report accuracy. Scoring one question costs a fraction of a millisecond
(``docs/benchmarks.md``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

_CJK = re.compile(r"[\u4e00-\u9fff]")
# Material pasted for the model to work on (quoted text, code blocks): its length says little about how
# hard the request is, so length is measured on the rest.
_QUOTED = re.compile(r"“[^”]*”|「[^」]*」|\"[^\"]{12,}\"|```.*?(```|$)", re.DOTALL)
_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|\d+(?:\.\d+)?")


def _cues(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns), re.IGNORECASE)


# Each feature: a name (shown in the route reason) and what fires it. Chinese has no word boundaries, so
# Chinese cues are plain substrings; English cues use \b.
CUES: dict[str, re.Pattern[str]] = {
    "maths": _cues(
        r"证明",
        r"推导",
        r"求解",
        r"解方程",
        r"方程",
        r"不等式",
        r"积分",
        r"导数",
        r"微分",
        r"矩阵",
        r"概率",
        r"期望",
        r"方差",
        r"数列",
        r"极限",
        r"复利",
        r"年化",
        r"净现值",
        r"内部收益率",
        r"最优解",
        r"线性规划",
        r"\bprove\b",
        r"\bproof\b",
        r"\bderive\b",
        r"\bsolve\b",
        r"\bequation",
        r"\bintegral\b",
        r"\bderivative\b",
        r"\bprobability\b",
        r"\bexpected value\b",
        r"\bvariance\b",
        r"\bmatrix\b",
        r"\btheorem\b",
        r"\blemma\b",
        r"\bcompound interest\b",
        r"\bNPV\b",
        r"\bIRR\b",
        r"\boptimi[sz]",
        r"[∫∑√≤≥≠∞]",
        r"\d\s*[\^*/]\s*\d",
        r"[a-z]\s*\^\s*\d",
    ),
    "proof": _cues(
        r"证明",
        r"反证",
        r"推导",
        r"论证",
        r"说明理由",
        r"给出理由",
        r"\bprove\b",
        r"\bproof\b",
        r"\bshow (that|why)\b",
        r"\bexplain why\b",
        r"\bjustify\b",
        r"\bderive\b",
    ),
    "code": _cues(
        r"```",
        r"代码",
        r"函数",
        r"脚本",
        r"程序",
        r"算法",
        r"报错",
        r"异常",
        r"调试",
        r"排查",
        r"重构",
        r"复杂度",
        r"并发",
        r"死锁",
        r"内存泄漏",
        r"正则",
        r"接口设计",
        r"SQL",
        r"\bselect\b.+\bfrom\b",
        r"\bjoin\b",
        r"\bdef \w+\(",
        r"\bclass \w+",
        r"\bfunction\b",
        r"\bscript\b",
        r"\balgorithm",
        r"\bimplement",
        r"\bdebug",
        r"\brefactor",
        r"\bstack ?trace\b",
        r"\btraceback\b",
        r"\bexception\b",
        r"\bsegfault\b",
        r"\bdeadlock\b",
        r"\brace condition\b",
        r"\bmemory leak\b",
        r"\bregex\b",
        r"\bcomplexity\b",
        r"\bO\(n",
        r"\bunit tests?\b",
        r"\bAPI\b",
        r"\bKubernetes\b|\bK8s\b",
        r"CrashLoopBackOff",
        r"\bOOM",
        r"\bbug\b",
    ),
    "multi_step": _cues(
        r"步骤",
        r"方案",
        r"规划",
        r"设计",
        r"计划",
        r"策略",
        r"流程",
        r"架构",
        r"迁移",
        r"原因",
        r"为什么",
        r"如何.{0,12}(并|同时|且)",
        r"分析",
        r"评估",
        r"诊断",
        r"根因",
        r"鉴别诊断",
        r"推理",
        r"论证",
        r"影响",
        r"风险",
        r"合规",
        r"优化",
        r"\bplan\b",
        r"\bdesign",
        r"\bstrateg",
        r"\barchitect",
        r"\bmigrat",
        r"\bstep[- ]by[- ]step\b",
        r"\broot cause\b",
        r"\bdiagnos",
        r"\btroubleshoot",
        r"\bwhy (does|do|is|are|did|would)\b",
        r"\banaly[sz]",
        r"\bevaluate\b",
        r"\bassess",
        r"\bimpact\b",
        r"\brisks?\b",
        r"\bcomplian",
        r"\bestimate\b",
        r"\bexplain how\b",
    ),
    "comparison": _cues(
        r"比较",
        r"对比",
        r"区别",
        r"优缺点",
        r"利弊",
        r"权衡",
        r"哪个更",
        r"哪种更",
        r"还是",
        r"取舍",
        r"\bcompare\b",
        r"\bcomparison\b",
        r"\bversus\b",
        r"\bvs\.?\b",
        r"\btrade-?offs?\b",
        r"\bpros and cons\b",
        r"\bwhich (is|one|would be) better\b",
        r"\bdifference between\b",
    ),
    "constraints": _cues(
        r"假设",
        r"如果",
        r"前提",
        r"约束",
        r"条件",
        r"同时满足",
        r"不超过",
        r"至少",
        r"至多",
        r"预算",
        r"\bassum",
        r"\bgiven that\b",
        r"\bif\b",
        r"\bconstraint",
        r"\bat (most|least)\b",
        r"\bbudget\b",
        r"\bwithout\b",
        r"\bmust\b",
        r"\bsuch that\b",
    ),
    "simple": _cues(
        r"^\s*(你好|您好|早上好|晚上好|谢谢|多谢|再见|hi|hello|hey|thanks|thank you|good (morning|evening))",
        r"翻译",
        r"译成",
        r"什么意思",
        r"是什么",
        r"怎么读",
        r"几点",
        r"哪天",
        r"多少钱",
        r"电话",
        r"地址",
        r"改写",
        r"润色",
        r"错别字",
        r"缩写",
        r"全称",
        r"换算",
        r"等于多少",
        r"等于几",
        r"在哪",
        r"哪里",
        r"\btranslate\b",
        r"\bwhat (is|does) .{0,30}(mean|stand for)\b",
        r"\bwhat is\b",
        r"\bwho is\b",
        r"\bwhen (is|was|does)\b",
        r"\bwhere (is|can|do)\b",
        r"\bhow do (i|you) spell\b",
        r"\bconvert\b",
        r"\bfix (the )?typos?\b",
        r"\brephrase\b",
        r"\bpolish\b",
        r"\bsynonym",
        r"\bdefine\b",
        r"\bshort\b",
        r"\bone sentence\b",
        r"\bquick(ly)?\b",
    ),
}

# Fitted by `deepfort route fit tests/data/routing/questions.jsonl` (tune split, l2 0.003 chosen by 4-fold
# cross-validation within the tune split); the best threshold there was 0.45.
WEIGHTS: dict[str, float] = {
    "bias": -2.02,
    "code": 1.05,
    "comparison": -0.043,
    "constraints": 0.756,
    "depth": 0.76,
    "length": 6.555,
    "maths": 1.922,
    "multi_step": 1.786,
    "proof": 2.452,
    "quoted": -0.853,
    "simple": -1.766,
}


@dataclass(frozen=True)
class Assessment:
    score: float
    reasons: list[str]
    features: dict[str, float]


def units(text: str) -> int:
    """A length that treats Chinese and English alike: CJK characters count 0.6 each (about a word's
    worth of meaning per 1.7 characters), other words one each."""
    return round(len(_CJK.findall(text)) * 0.6 + len(_WORD.findall(text)))


def features(question: str, history_turns: int = 0) -> dict[str, float]:
    text = unicodedata.normalize("NFKC", question)
    # A first cue counts most: 1 - 2^-n gives 0.5, 0.75, 0.875, ...
    values = {name: 1 - 0.5 ** len(pattern.findall(text)) for name, pattern in CUES.items()}
    instruction = _QUOTED.sub(" ", text)
    total, own = max(units(text), 1), units(instruction)
    # 0 at about 10 words, 1 at about 80: length matters on a log scale.
    values["length"] = min(max(math.log2(max(own, 1) / 10) / 3, 0.0), 1.0)
    values["quoted"] = 1 - own / total if total > own else 0.0
    values["depth"] = min(history_turns, 6) / 6
    return values


class ComplexityClassifier:
    """``assess(question, history_turns)`` -> a score in [0, 1] and the cues that raised it."""

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        self.weights = dict(weights or WEIGHTS)

    def assess(self, question: str, history_turns: int = 0) -> Assessment:
        values = features(question, history_turns)
        z = self.weights.get("bias", 0.0)
        contributions: dict[str, float] = {}
        for name, value in values.items():
            contributions[name] = self.weights.get(name, 0.0) * value
            z += contributions[name]
        score = 1 / (1 + math.exp(-z))
        reasons = [
            name.replace("_", "-")
            for name, c in sorted(contributions.items(), key=lambda i: -abs(i[1]))
            if c > 0.05
        ]
        if contributions.get("simple", 0.0) < -0.05:
            reasons.append("simple-request cues")
        return Assessment(score=score, reasons=reasons, features=values)
