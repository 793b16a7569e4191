"""What the benchmark sends: the built-in prompt set (short and long, English and Chinese) or a JSONL file.

A JSONL line is ``{"prompt": "..."}`` or ``{"messages": [{"role": ..., "content": ...}, ...]}``, with an
optional ``"max_tokens"``. ``--dataset builtin`` takes every built-in prompt; ``builtin:short``,
``builtin:long``, ``builtin:en`` and ``builtin:zh`` take a part of them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from deepfort.errors import ConfigError

Message = dict[str, str]


@dataclass(frozen=True)
class BenchPrompt:
    """One request's input. ``prompt`` is the raw text of a ``{"prompt": ...}`` line; chat requests send
    ``messages``, text completions send ``text``."""

    messages: tuple[Message, ...]
    prompt: str | None = None
    max_tokens: int | None = None
    tags: frozenset[str] = field(default_factory=frozenset)

    @property
    def text(self) -> str:
        if self.prompt is not None:
            return self.prompt
        return "\n\n".join(m["content"] for m in self.messages)


def _user(text: str, *tags: str) -> BenchPrompt:
    return BenchPrompt(messages=({"role": "user", "content": text},), prompt=text, tags=frozenset(tags))


SHORT_EN = [
    "Write a short story about a lighthouse keeper.",
    "Explain why the sky is blue in a few sentences.",
    "What are three tips for learning a new language?",
    "Describe how a bicycle works to a ten-year-old.",
    "Write a haiku about autumn rain.",
    "What is the difference between weather and climate?",
    "Give me a simple recipe for vegetable soup.",
    "Why do cats purr?",
]
SHORT_ZH = [
    "请写一个关于灯塔看守人的小故事。",
    "用几句话解释为什么天空是蓝色的。",
    "学习一门新语言有哪些好方法？",
    "请介绍一下长城的历史。",
    "写一首关于秋天的短诗。",
    "天气和气候有什么区别？",
    "如何做一碗简单的西红柿鸡蛋面？",
    "为什么要多喝水？",
]

_PASSAGE_EN = (
    "Lighthouses have guided sailors for more than two thousand years. The Pharos of Alexandria, built in "
    "the third century BC, was one of the wonders of the ancient world and burned a fire at its top so that "
    "ships could find the harbour at night. For centuries afterwards most lights were simple fires or "
    "candles, and many coasts had none at all, so that shipwrecks were common. In the eighteenth century "
    "oil lamps with reflectors made the beams brighter, and in 1822 the French engineer Augustin Fresnel "
    "designed a lens of concentric glass rings that gathered almost all of the light of a lamp into one "
    "strong beam. A Fresnel lens could be seen more than twenty miles out to sea, and within a few decades "
    "it was installed on lighthouses around the world. Each lighthouse was given its own pattern of flashes, "
    "called its character, so that a navigator could tell which light he was looking at. Keepers lived at "
    "the lights with their families, trimming the wicks, winding the clockwork that turned the lens, "
    "cleaning the glass and writing the weather in a logbook. Their work was lonely and often dangerous, "
    "especially on rock towers far from land, where storms could cut them off for weeks. In the twentieth "
    "century electricity replaced oil, and automatic lamp changers and radio beacons made the keepers less "
    "necessary. Today almost every lighthouse is automated, and satellite navigation tells ships where they "
    "are to within a few metres. Yet lighthouses are still maintained, because electronics can fail, and "
    "many old towers have become museums that remind visitors of the people who kept the lights burning."
)
_PASSAGE_ZH = (
    "茶起源于中国，已有几千年的历史。传说神农尝百草时发现了茶的解毒作用，从此人们开始饮茶。唐代的陆羽写下了"
    "世界上第一部关于茶的专著《茶经》，详细记录了茶的种植、采摘、制作和饮用方法。宋代流行点茶，人们把茶叶"
    "碾成细末，用沸水冲点，并举行斗茶比赛。明代以后，散茶逐渐取代了团茶，泡茶的方法也变得更加简单，一直"
    "流传到今天。中国的茶大致可以分为绿茶、红茶、乌龙茶、白茶、黄茶和黑茶六大类，它们的区别主要在于发酵"
    "程度和加工工艺。绿茶不发酵，保留了茶叶的清香；红茶完全发酵，味道醇厚；乌龙茶介于两者之间。茶叶还通过"
    "丝绸之路和茶马古道传到了世界各地，深刻影响了许多国家的饮食文化。今天，茶仍然是世界上最受欢迎的饮料之一。"
)

LONG_EN = [
    f"Read the passage and summarise it in three sentences.\n\n{_PASSAGE_EN}",
    f"{_PASSAGE_EN}\n\nAccording to the passage, what did Augustin Fresnel invent and why did it matter?",
    f"Here is a text about lighthouses:\n\n{_PASSAGE_EN}\n\nWrite a short poem inspired by it.",
]
LONG_ZH = [
    f"请阅读下面的短文，并用三句话概括它的内容。\n\n{_PASSAGE_ZH}",
    f"{_PASSAGE_ZH}\n\n根据这篇短文，中国的茶可以分为哪几类？它们有什么区别？",
    f"下面是一段关于茶的介绍：\n\n{_PASSAGE_ZH}\n\n请根据这段文字写一个小故事。",
]

BUILTIN: tuple[BenchPrompt, ...] = (
    *(_user(t, "short", "en") for t in SHORT_EN),
    *(_user(t, "short", "zh") for t in SHORT_ZH),
    *(_user(t, "long", "en") for t in LONG_EN),
    *(_user(t, "long", "zh") for t in LONG_ZH),
)
SUBSETS = ("short", "long", "en", "zh")


def builtin(subset: str | None = None) -> list[BenchPrompt]:
    if subset is None:
        return list(BUILTIN)
    if subset not in SUBSETS:
        known = ", ".join(f"builtin:{s}" for s in SUBSETS)
        raise ConfigError(f"unknown built-in prompt subset {subset!r}; known: builtin, {known}")
    return [p for p in BUILTIN if subset in p.tags]


def _parse_line(raw: object, where: str) -> BenchPrompt:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a JSON object")
    max_tokens = raw.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise ConfigError(f"{where}: max_tokens must be a positive integer")
    if isinstance(raw.get("prompt"), str):
        return BenchPrompt(
            messages=({"role": "user", "content": raw["prompt"]},),
            prompt=raw["prompt"],
            max_tokens=max_tokens,
        )
    messages = raw.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ConfigError(f"{where}: needs a string 'prompt' or a non-empty 'messages' list")
    parsed: list[Message] = []
    for m in messages:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise ConfigError(f"{where}: each message needs a string 'role' and 'content'")
        parsed.append({"role": m["role"], "content": m["content"]})
    return BenchPrompt(messages=tuple(parsed), max_tokens=max_tokens)


def load_jsonl(path: Path) -> list[BenchPrompt]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read dataset {path}: {exc}") from exc
    prompts: list[BenchPrompt] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON: {exc.msg}") from exc
        prompts.append(_parse_line(raw, f"{path}:{number}"))
    if not prompts:
        raise ConfigError(f"dataset {path} holds no prompts")
    return prompts


def load_dataset(name: str) -> list[BenchPrompt]:
    """``builtin``, ``builtin:SUBSET`` or the path of a JSONL file."""
    if name == "builtin":
        return builtin()
    if name.startswith("builtin:"):
        return builtin(name.split(":", 1)[1])
    return load_jsonl(Path(name))


def sample(prompts: list[BenchPrompt], n: int, seed: int) -> list[BenchPrompt]:
    """``n`` prompts in a seeded shuffled order; every prompt is used once before any repeats."""
    rng = random.Random(seed)
    out: list[BenchPrompt] = []
    while len(out) < n:
        batch = list(prompts)
        rng.shuffle(batch)
        out.extend(batch[: n - len(out)])
    return out
