"""Moderation lexicons: ``category<TAB>phrase`` per line, ``#`` starts a comment line.

A lexicon is named either by a built-in name (a file ``lexicons/<name>.txt`` shipped with deepfort) or by
the path of a file in the same format. The built-in ones are small examples for operators to extend.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from deepfort.errors import ConfigError

__all__ = ["Entry", "builtin_lexicons", "load_lexicon", "parse_lexicon"]

_PACKAGE = "deepfort.guard"


@dataclass(frozen=True, slots=True)
class Entry:
    category: str
    phrase: str


def builtin_lexicons() -> list[str]:
    folder = resources.files(_PACKAGE).joinpath("lexicons")
    return sorted(item.name.removesuffix(".txt") for item in folder.iterdir() if item.name.endswith(".txt"))


def parse_lexicon(text: str, source: str) -> list[Entry]:
    """Entries of a lexicon's text; ``source`` names it in errors."""
    entries: list[Entry] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        category, tab, phrase = line.partition("\t")
        if not tab or not category.strip() or not phrase.strip():
            message = f"lexicon {source}, line {number}: expected `category<TAB>phrase`, got {line!r}"
            raise ConfigError(message)
        entries.append(Entry(category.strip(), phrase.strip()))
    return entries


def load_lexicon(name_or_path: str) -> list[Entry]:
    """A built-in lexicon by name, or a lexicon file by path."""
    if name_or_path in builtin_lexicons():
        resource = resources.files(_PACKAGE).joinpath("lexicons", f"{name_or_path}.txt")
        return parse_lexicon(resource.read_text(encoding="utf-8"), name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        known = ", ".join(builtin_lexicons())
        raise ConfigError(
            f"unknown lexicon {name_or_path!r}: not a built-in lexicon ({known}) nor a file that exists"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"lexicon {path}: cannot read it: {exc}") from exc
    return parse_lexicon(text, str(path))
