from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfort.config import ModerationSettings
from deepfort.errors import ConfigError
from deepfort.guard.fold import fold
from deepfort.guard.lexicon import builtin_lexicons, load_lexicon
from deepfort.guard.moderation import Moderator, Release

from .streams import cuts, every_split, split

Action = Literal["redact", "stop"]
LEXICON = """# a test lexicon
weapons\t出售枪支
weapons\t枪支
drugs\t冰毒
drugs\t冰毒制作方法
fraud\t刷单返利
violence\tkill you
drugs\tmeth
"""


@pytest.fixture(scope="module")
def lexicon(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("lexicon") / "test.txt"
    path.write_text(LEXICON, encoding="utf-8")
    return str(path)


def moderator(lexicon: str, action: Action = "redact") -> Moderator:
    return Moderator(ModerationSettings(lexicons=[lexicon], action=action))


def stream(mod: Moderator, chunks: list[str]) -> Release:
    moderated = mod.stream()
    total = Release()
    for chunk in chunks:
        total += moderated.feed(chunk)
    return total + moderated.finish()


# (id, text, redacted, categories of the hits)
REDACT = [
    ("cjk", "他说出售枪支违法", "他说[已屏蔽]违法", ["weapons"]),
    ("inner-phrase", "买枪支", "买[已屏蔽]", ["weapons"]),
    ("longest-at-same-start", "冰毒制作方法如下", "[已屏蔽]如下", ["drugs"]),
    ("leftmost-wins", "出售枪支", "[已屏蔽]", ["weapons"]),
    ("spaces-between-hanzi", "有人出售 枪　支吗", "有人[已屏蔽]吗", ["weapons"]),
    ("filler-punctuation", "出*售.枪_支", "[已屏蔽]", ["weapons"]),
    ("zero-width", "冰\u200b毒", "[已屏蔽]", ["drugs"]),
    ("sentence-punctuation-kept", "冰，毒。冰、毒", "冰，毒。冰、毒", []),
    ("full-width-latin", "I will ＫＩＬＬ ＹＯＵ", "I will [已屏蔽]", ["violence"]),
    ("whitespace-run", "kill \n\t you!", "[已屏蔽]!", ["violence"]),
    ("case", "METH.", "[已屏蔽].", ["drugs"]),
    ("word-boundaries", "methods, skill your, something", "methods, skill your, something", []),
    ("right-boundary-only", "kill yours truly", "kill yours truly", []),
    ("latin-next-to-hanzi", "买meth了", "买[已屏蔽]了", ["drugs"]),
    ("several", "刷单返利和冰毒，meth", "[已屏蔽]和[已屏蔽]，[已屏蔽]", ["fraud", "drugs", "drugs"]),
    ("trailing-fillers", "冰毒 ", "[已屏蔽] ", ["drugs"]),
    ("cut-off-phrase", "出售枪", "出售枪", []),
    ("clean", "今天天气很好。", "今天天气很好。", []),
    ("empty", "", "", []),
]

# (id, text, released before the stop, category)
STOP = [
    ("cjk", "先说明：出售枪支违法。后面的话", "先说明：", "weapons"),
    ("first-hit-stops", "a meth b 冰毒", "a ", "drugs"),
    ("at-start", "冰毒", "", "drugs"),
    ("split-by-space", "hello 冰 毒", "hello ", "drugs"),
]


@pytest.mark.parametrize(
    ("text", "redacted", "categories"), [c[1:] for c in REDACT], ids=[c[0] for c in REDACT]
)
def test_redact(lexicon: str, text: str, redacted: str, categories: list[str]) -> None:
    mod = moderator(lexicon)
    whole = mod.review(text)
    assert (whole.text, whole.stopped) == (redacted, False)
    assert [hit.category for hit in whole.hits] == categories
    for hit in whole.hits:
        assert fold(text[hit.start : hit.end]) == fold(hit.phrase)
    assert mod.scan(text) == whole.hits
    for chunks in every_split(text):
        assert stream(mod, chunks) == whole, chunks


@pytest.mark.parametrize(("text", "released", "category"), [c[1:] for c in STOP], ids=[c[0] for c in STOP])
def test_stop(lexicon: str, text: str, released: str, category: str) -> None:
    mod = moderator(lexicon, "stop")
    whole = mod.review(text)
    assert (whole.text, whole.stopped, [hit.category for hit in whole.hits]) == (released, True, [category])
    for chunks in every_split(text):
        assert stream(mod, chunks) == whole, chunks


def test_stopped_stream_releases_nothing_more(lexicon: str) -> None:
    moderated = moderator(lexicon, "stop").stream()
    assert moderated.feed("好的。冰毒") == Release("好的。", False, [])  # 冰毒 could begin 冰毒制作方法
    first = moderated.feed("的做法是这样的")
    assert (first.text, first.stopped) == ("", True)
    assert moderated.stopped
    assert moderated.feed("更多") == Release("", True, [])
    assert moderated.finish() == Release("", True, [])


def test_hold_back_bounds_the_held_tail(lexicon: str) -> None:
    # Longest CJK phrase 冰毒制作方法 (6) less one; "kill you" (8) needs one more for its word boundary.
    assert moderator(lexicon).hold_back == 8


# (id, chunks fed, what each feed releases): only a tail that could begin a phrase waits.
HELD = [
    ("nothing-could-start", ["今天天气", "很好。" * 10], ["今天天气", "很好。" * 10]),
    ("cjk-prefix-waits", ["今天出", "售", "了房子"], ["今天", "", "出售了房子"]),
    ("prefix-then-hit", ["好冰", "毒！"], ["好", "[已屏蔽]！"]),
    ("latin-prefix-waits", ["I will ki", "ll", " yo", "ga"], ["I will ", "", "", "kill yoga"]),
    ("inside-a-word-never-waits", ["skil", "l you"], ["skil", "l you"]),
    ("word-boundary-at-the-end", ["meth", "od"], ["", "method"]),
    ("fillers-after-cjk-wait", ["好*", "的"], ["好", "*的"]),
]


@pytest.mark.parametrize(("chunks", "released"), [c[1:] for c in HELD], ids=[c[0] for c in HELD])
def test_holds_back_only_a_possible_phrase_start(
    lexicon: str, chunks: list[str], released: list[str]
) -> None:
    moderated = moderator(lexicon).stream()
    assert [moderated.feed(chunk).text for chunk in chunks] == released


def test_redacts_as_soon_as_decided(lexicon: str) -> None:
    moderated = moderator(lexicon).stream()
    assert moderated.feed("好冰").text == "好"
    assert moderated.feed("毒").text == ""  # 冰毒 could still grow into 冰毒制作方法
    assert moderated.feed("！好").text == "[已屏蔽]！好"
    assert moderated.finish().text == ""


PHRASES = ["出售枪支", "枪支", "出售 枪支", "冰毒", "冰*毒", "冰毒制作方法", "刷单返利", "KILL you", "meth"]
FILLER = ["今天", "出售", "枪", "冰", "，", " ", "\n", "*", "\u200b", "method", "s", "ok", "Ｋ", "返利"]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(PHRASES + FILLER), max_size=14), cuts, st.sampled_from(["redact", "stop"]))
def test_any_chunking_equals_whole(lexicon: str, pieces: list[str], cut: list[int], action: Action) -> None:
    mod = moderator(lexicon, action)
    text = "".join(pieces)
    assert stream(mod, split(text, cut)) == mod.review(text)


@settings(max_examples=120, deadline=None)
@given(st.text(alphabet="出售枪支冰毒制作方法好 kilyoumeth", max_size=40), cuts)
def test_holds_only_what_could_begin_a_phrase(lexicon: str, text: str, cut: list[int]) -> None:
    """After every delta: what was sent is a prefix of the final answer (nothing sent is taken back), and
    what is held, folded, is empty or the beginning of a lexicon phrase (or a space whose folding is open),
    unless a hit was masked."""
    mod = moderator(lexicon)
    whole = mod.review(text).text
    phrases = [fold(line.split("\t")[1]) for line in LEXICON.splitlines()[1:]]
    moderated, sent, fed = mod.stream(), "", ""
    for chunk in split(text, cut):
        fed += chunk
        sent += moderated.feed(chunk).text
        assert whole.startswith(sent)
        if "[已屏蔽]" not in sent:
            held = fold(fed[len(sent) :]).strip()  # a space after a hanzi waits: it may be dropped
            assert not held or any(p.startswith(held) for p in phrases), (fed, sent)


def reference(text: str, phrases: list[str], action: Action, mask: str = "[已屏蔽]") -> tuple[str, bool]:
    """Leftmost-longest replacement written plainly, for text that folding leaves as it is."""
    out, i = [], 0
    while i < len(text):
        found = max((p for p in phrases if text.startswith(p, i)), key=len, default=None)
        if found is None:
            out.append(text[i])
            i += 1
        elif action == "stop":
            return "".join(out), True
        else:
            out.append(mask)
            i += len(found)
    return "".join(out), False


@settings(max_examples=120, deadline=None)
@given(
    st.text(alphabet="出售枪支冰毒制作方法刷单返利好", max_size=40), cuts, st.sampled_from(["redact", "stop"])
)
def test_matches_plain_leftmost_longest(lexicon: str, text: str, cut: list[int], action: Action) -> None:
    mod = moderator(lexicon, action)
    released = stream(mod, split(text, cut))
    assert (released.text, released.stopped) == reference(
        text, ["出售枪支", "枪支", "冰毒", "冰毒制作方法", "刷单返利"], action
    )


def test_builtin_lexicons() -> None:
    assert builtin_lexicons() == ["en-default", "zh-default"]
    mod = Moderator(ModerationSettings(action="redact"))
    assert mod.categories == ["extremism", "fraud", "illegal_drugs", "sexual_minors", "violence", "weapons"]
    for name in builtin_lexicons():
        for entry in load_lexicon(name):
            assert [hit.category for hit in mod.scan(f"说：{entry.phrase}。")] == [entry.category]


def test_disabled_moderation_passes_everything() -> None:
    mod = Moderator(ModerationSettings(enabled=False))
    assert (mod.hold_back, mod.categories) == (0, [])
    assert mod.review("出售枪支 \u200b") == Release("出售枪支 \u200b", False, [])
    moderated = mod.stream()
    assert moderated.feed("出售枪支") == Release("出售枪支")


def test_custom_mask(lexicon: str) -> None:
    mod = Moderator(ModerationSettings(lexicons=[lexicon], action="redact"), mask="***")
    assert mod.review("买冰毒").text == "买***"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("weapons\t枪支\nno tab here\n", "line 2: expected `category<TAB>phrase`"),
        ("weapons\t  \n", "line 1"),
        ("\tphrase\n", "line 1"),
        ("weapons\t\u200b\n", "empty once folded"),
    ],
    ids=["no-tab", "empty-phrase", "empty-category", "invisible-phrase"],
)
def test_bad_lexicon_file(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        Moderator(ModerationSettings(lexicons=[str(path)]))


@pytest.mark.parametrize("name", ["zh-strict", "/no/such/lexicon.txt"])
def test_unknown_lexicon_names_the_built_ins(name: str) -> None:
    with pytest.raises(ConfigError, match=r"not a built-in lexicon \(en-default, zh-default\)"):
        Moderator(ModerationSettings(lexicons=[name]))


def test_lexicon_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes("weapons\t冰毒\n".encode("gbk"))
    with pytest.raises(ConfigError, match="cannot read it"):
        load_lexicon(str(path))
