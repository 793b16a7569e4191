"""The generic registry, and each real registry finding a member that an installed package declares as an
entry point (a fake distribution on sys.path: a module and its ``*.dist-info``)."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from deepfort.aigc.image import IMAGE_BACKENDS, UnknownImageBackendError, default_image_backends
from deepfort.aigc.workflow.nodes import NODE_TYPES, UnknownNodeTypeError, default_registry
from deepfort.engines.registry import ENGINES, UnknownEngineError, engine_names
from deepfort.errors import ConfigError, UnknownNameError
from deepfort.reasoning import PARSERS, UnknownReasoningParserError, get_parser
from deepfort.registry import DuplicateNameError, Registry

Install = Callable[[str, str], ModuleType]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """``install(entry_points_txt, module_source)``: a distribution ``fake-plugin 1.0`` whose module is
    ``fake_deepfort_plugin``; returns the module (imported, so a test can compare members)."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(entry_points: str, source: str) -> ModuleType:
        (tmp_path / "fake_deepfort_plugin.py").write_text(textwrap.dedent(source))
        info = tmp_path / "fake_plugin-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
        importlib.invalidate_caches()
        return importlib.import_module("fake_deepfort_plugin")

    yield make
    sys.modules.pop("fake_deepfort_plugin", None)


def fresh(registry: Registry[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a process-wide registry read its entry points again, and forget what the test adds."""
    registry.names()  # built-ins first, as in a process that looked one up before
    monkeypatch.setattr(registry, "_members", dict(registry._members))
    monkeypatch.setattr(registry, "_loaded", False)


def test_register_and_look_up() -> None:
    colours: Registry[int] = Registry("colour")
    assert colours.register("red", 1) == 1
    colours.register("blue", 2)
    colours.register("red", 1)  # the same member again is fine
    assert colours.get("red") == 1
    assert colours.names() == ["blue", "red"] == list(colours)
    assert colours.items() == [("blue", 2), ("red", 1)]
    assert "blue" in colours and "green" not in colours
    assert len(colours) == 2


def test_a_taken_name_is_refused() -> None:
    colours: Registry[object] = Registry("colour")
    colours.register("red", object())
    with pytest.raises(DuplicateNameError, match="colour 'red' is already registered"):
        colours.register("red", object())


def test_unknown_name_lists_the_known_ones() -> None:
    colours: Registry[int] = Registry("colour")
    with pytest.raises(UnknownNameError, match=r"^unknown colour 'red' \(known: none\)$"):
        colours.get("red")
    colours.register("green", 1)
    colours.register("blue", 2)
    with pytest.raises(UnknownNameError, match=r"^unknown colour .red. \(known: blue, green\)$") as caught:
        colours.get("red")
    assert caught.value.known == ["blue", "green"]


def test_builtins_are_loaded_once_on_first_lookup() -> None:
    calls: list[int] = []

    def builtins() -> list[tuple[str, int]]:
        calls.append(1)
        return [("one", 1)]

    numbers: Registry[int] = Registry("number", builtins=builtins)
    numbers.register("two", 2)
    assert calls == []
    assert numbers.get("one") == 1 and numbers.names() == ["one", "two"]
    assert calls == [1]


@pytest.mark.parametrize(
    ("registry", "group", "error"),
    [
        (ENGINES, "deepfort.engines", UnknownEngineError),
        (PARSERS, "deepfort.reasoning_parsers", UnknownReasoningParserError),
        (NODE_TYPES, "deepfort.workflow_nodes", UnknownNodeTypeError),
        (IMAGE_BACKENDS, "deepfort.image_backends", UnknownImageBackendError),
    ],
    ids=["engines", "reasoning", "nodes", "images"],
)
def test_each_registry_reads_its_group(
    registry: Registry[Any], group: str, error: type[UnknownNameError]
) -> None:
    assert registry.group == group
    with pytest.raises(error, match=r"\(known: .+\)"):
        registry.get("no-such-member")


def test_an_entry_point_is_found_and_read_once(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = install("[test.colours]\nteal = fake_deepfort_plugin:TEAL\n", "TEAL = object()\n")
    colours: Registry[object] = Registry("colour", group="test.colours")
    reads: list[str | None] = []
    real = importlib.metadata.entry_points

    def counting(**kwargs: Any) -> Any:
        reads.append(kwargs.get("group"))
        return real(**kwargs)

    monkeypatch.setattr(importlib.metadata, "entry_points", counting)
    assert colours.get("teal") is plugin.TEAL
    assert "teal" in colours and colours.names() == ["teal"]
    assert reads == ["test.colours"]


def test_a_plugin_cannot_take_a_built_in_name(install: Install) -> None:
    install("[test.colours]\nred = fake_deepfort_plugin:RED\n", "RED = 2\n")
    colours: Registry[int] = Registry("colour", group="test.colours", builtins=lambda: [("red", 1)])
    with pytest.raises(ConfigError, match=r"red = fake_deepfort_plugin:RED of fake-plugin 1.0 takes a name"):
        colours.names()


def test_a_broken_plugin_is_named(install: Install) -> None:
    install("[test.colours]\nred = fake_deepfort_plugin:MISSING\n", "")
    colours: Registry[int] = Registry("colour", group="test.colours")
    with pytest.raises(ConfigError, match=r"colour entry point red = fake_deepfort_plugin:MISSING .* failed"):
        colours.get("red")


PLUGIN = """
from deepfort.aigc.workflow.nodes import Node, NodeResult
from deepfort.reasoning.deepseek_r1 import DeepSeekR1ReasoningParser

def create_engine(model, server):
    raise NotImplementedError

class BracketParser(DeepSeekR1ReasoningParser):
    name = "brackets"
    start_tag, end_tag = "[", "]"

class EchoNode(Node):
    type_name = "echo"

    async def run(self, params, ctx):
        return NodeResult({"services": self.services})

class Plain:
    name = "plain"

    def render(self, shot, width, height):
        return b"png"
"""

ENTRY_POINTS = """
[deepfort.engines]
fake = fake_deepfort_plugin:create_engine

[deepfort.reasoning_parsers]
brackets = fake_deepfort_plugin:BracketParser

[deepfort.workflow_nodes]
echo = fake_deepfort_plugin:EchoNode

[deepfort.image_backends]
plain = fake_deepfort_plugin:Plain
"""


def test_an_installed_package_adds_to_every_registry(
    install: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    for registry in (ENGINES, PARSERS, NODE_TYPES, IMAGE_BACKENDS):
        fresh(registry, monkeypatch)
    plugin = install(ENTRY_POINTS, PLUGIN)

    assert "fake" in engine_names() and ENGINES.get("fake") is plugin.create_engine
    assert get_parser("brackets") is plugin.BracketParser
    assert get_parser("brackets")().parse("[why]so").content == "so"
    services = object()
    nodes = default_registry(services)  # type: ignore[arg-type]
    assert "echo" in nodes.known() and "template" in nodes.known()
    assert nodes.create("echo").services is services
    backends = default_image_backends()
    assert isinstance(backends.get("plain"), plugin.Plain)
    assert backends.get("plain") is backends.get("plain")  # built once
