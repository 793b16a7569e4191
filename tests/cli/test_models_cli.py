"""``deepfort models``: list, show, add and remove against a private data directory."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

RunCli = Callable[..., Result]


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _by_id(cli: RunCli) -> dict[str, dict[str, Any]]:
    return {m["id"]: m for m in _json(cli("models", "list", "--json"))}


def _failed(result: Result, *fragments: str) -> None:
    """Exit code 1, one clear message naming ``fragments``, and no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


def test_list_json_shows_the_embedded_model(cli: RunCli, embedded_gguf: Path) -> None:
    models = _by_id(cli)
    assert list(models) == ["smollm2-135m"]
    embedded = models["smollm2-135m"]
    assert embedded["source"] == "embedded"
    assert embedded["aliases"] == ["smollm2"]
    assert embedded["path"] == str(embedded_gguf)
    assert embedded["size_bytes"] == embedded_gguf.stat().st_size
    assert embedded["demo"] is True
    assert embedded["sampling_defaults"] == {"temperature": 0.2, "top_p": 0.9, "top_k": 40}


def test_list_table_names_every_model(cli: RunCli) -> None:
    result = cli("models", "list")
    assert result.exit_code == 0, result.output
    assert "smollm2-135m" in result.stdout
    assert "embedded" in result.stdout
    # Only the demonstration model is known: say so, and how to add a real one.
    assert "demonstration model" in result.stderr and "deepfort models add" in result.stderr


def test_add_show_remove(cli: RunCli, embedded_gguf: Path, data_dir: Path) -> None:
    added = cli(
        "models", "add", str(embedded_gguf), "--id", "tiny-r1", "--alias", "tiny",
        "--reasoning-parser", "deepseek_r1", "--n-ctx", "2048",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "tiny-r1" in added.stdout

    listed = _by_id(cli)
    assert set(listed) == {"smollm2-135m", "tiny-r1"}
    entry = listed["tiny-r1"]
    assert entry["source"] == "registered"
    assert entry["aliases"] == ["tiny"]
    assert entry["reasoning_parser"] == "deepseek_r1"
    assert entry["n_ctx"] == 2048
    assert entry["path"] == str(embedded_gguf.resolve())

    shown = _json(cli("models", "show", "tiny", "--json"))  # by alias
    assert shown["id"] == "tiny-r1"
    assert shown["reasoning_parser"] == "deepseek_r1"
    assert shown["metadata"]["general.architecture"] == "llama"

    removed = cli("models", "remove", "tiny-r1")
    assert removed.exit_code == 0, removed.output
    assert set(_by_id(cli)) == {"smollm2-135m"}
    assert embedded_gguf.is_file()  # a registered file is only referenced, never deleted


def test_show_reads_the_embedded_gguf(cli: RunCli) -> None:
    shown = _json(cli("models", "show", "smollm2", "--json"))
    assert shown["id"] == "smollm2-135m"
    assert shown["source"] == "embedded"
    assert shown["metadata"]["general.architecture"] == "llama"
    assert "tokenizer.chat_template" not in shown["metadata"]  # long values are left out

    table = cli("models", "show", "smollm2-135m")
    assert table.exit_code == 0, table.output
    assert "general.architecture" in table.stdout


def test_show_unknown_id_lists_the_known_ones(cli: RunCli) -> None:
    _failed(cli("models", "show", "no-such-model"), "no-such-model", "smollm2-135m")


def test_models_from_the_settings_file(cli: RunCli, embedded_gguf: Path, tmp_path: Path) -> None:
    config = tmp_path / "deepfort.yaml"
    config.write_text(
        f"models:\n  - id: from-config\n    path: {embedded_gguf}\n    reasoning_parser: deepseek_r1\n"
    )
    models = {m["id"]: m for m in _json(cli("models", "list", "--json", "-c", str(config)))}
    assert models["from-config"]["source"] == "config"
    assert models["from-config"]["reasoning_parser"] == "deepseek_r1"
    shown = _json(cli("models", "show", "from-config", "--json", "--config", str(config)))
    assert shown["metadata"]["general.architecture"] == "llama"


def _truncated(gguf: Path) -> bytes:
    with gguf.open("rb") as fh:
        return fh.read(1 << 20)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", lambda _: b"hello, not a model\n", "not a GGUF file"),
        ("short.gguf", lambda _: b"GGU", "not a GGUF file"),
        ("garbage.gguf", lambda _: b"GGUF\x03\x00\x00\x00" + b"garbage" * 10, "llama.cpp could not load"),
        ("truncated.gguf", _truncated, "llama.cpp could not load"),
        ("missing.gguf", None, "not found"),
    ],
    ids=["text", "short", "garbage", "truncated", "missing"],
)
def test_add_rejects_what_llama_cpp_cannot_read(
    cli: RunCli,
    embedded_gguf: Path,
    tmp_path: Path,
    name: str,
    content: Callable[[Path], bytes] | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content(embedded_gguf))
    _failed(cli("models", "add", str(path)), message, str(path))
    assert set(_by_id(cli)) == {"smollm2-135m"}


def test_add_rejects_an_unknown_reasoning_parser(cli: RunCli, embedded_gguf: Path) -> None:
    result = cli("models", "add", str(embedded_gguf), "--id", "x", "--reasoning-parser", "no_such_parser")
    _failed(result, "no_such_parser", "deepseek_r1")
    assert set(_by_id(cli)) == {"smollm2-135m"}


@pytest.mark.parametrize("args", [["--id", "smollm2-135m"], ["--id", "new", "--alias", "smollm2"]])
def test_add_rejects_a_name_in_use(cli: RunCli, embedded_gguf: Path, args: list[str]) -> None:
    _failed(cli("models", "add", str(embedded_gguf), *args), "already in use")
    assert set(_by_id(cli)) == {"smollm2-135m"}


def test_copy_is_deleted_on_remove_but_the_source_stays(
    cli: RunCli, embedded_gguf: Path, tmp_path: Path, data_dir: Path
) -> None:
    source = tmp_path / "src" / "mine.gguf"
    source.parent.mkdir()
    shutil.copyfile(embedded_gguf, source)

    added = _json(cli("models", "add", str(source), "--id", "mine", "--copy", "--json"))
    copy = Path(added["path"])
    assert copy != source
    assert copy.is_relative_to(data_dir)
    assert copy.read_bytes() == source.read_bytes()
    assert _by_id(cli)["mine"]["path"] == str(copy)

    removed = cli("models", "remove", "mine")
    assert removed.exit_code == 0, removed.output
    assert not copy.exists()
    assert source.is_file()
    assert "mine" not in _by_id(cli)


def test_chat_template_file_is_stored(cli: RunCli, embedded_gguf: Path, tmp_path: Path) -> None:
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    added = cli(
        "models", "add", str(embedded_gguf), "--id", "templated", "--chat-template-file", str(template)
    )
    assert added.exit_code == 0, added.output
    shown = _json(cli("models", "show", "templated", "--json"))
    assert shown["chat_template_override"] is True


def test_sampling_defaults_are_stored_and_shown(cli: RunCli, embedded_gguf: Path) -> None:
    added = cli(
        "models", "add", str(embedded_gguf), "--id", "tuned", "--temperature", "0.6", "--top-p", "0.95",
        "--repeat-penalty", "1.1", "--max-tokens", "512",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    expected = {"temperature": 0.6, "top_p": 0.95, "repetition_penalty": 1.1, "max_tokens": 512}
    assert _by_id(cli)["tuned"]["sampling_defaults"] == expected
    shown = _json(cli("models", "show", "tuned", "--json"))
    assert shown["sampling_defaults"] == expected and shown["demo"] is False
    table = cli("models", "show", "tuned")
    assert table.exit_code == 0, table.output
    assert "temperature=0.6" in table.stdout
    # With a real model registered the list no longer points at `models add`.
    assert "demonstration model" not in cli("models", "list").stderr


def test_show_the_embedded_sampling_defaults(cli: RunCli) -> None:
    table = cli("models", "show", "smollm2")
    assert table.exit_code == 0, table.output
    assert "temperature=0.2, top_p=0.9" in table.stdout


def test_remove_unknown_fails(cli: RunCli) -> None:
    _failed(cli("models", "remove", "nothing-here"), "nothing-here")


def test_add_adapter_list_and_remove(cli: RunCli, data_dir: Path, tmp_path: Path) -> None:
    from deepfort.catalog import resolve_models
    from deepfort.config import LocalModel, Settings

    adapter = tmp_path / "faq.gguf"
    adapter.write_bytes(b"GGUF" + bytes(28))  # the registry checks the magic, llama.cpp the rest
    added = cli("models", "add-adapter", "smollm2", "faq", str(adapter), "--scale", "0.5")
    assert added.exit_code == 0, added.output
    assert "smollm2-135m:faq" in added.stdout
    embedded = _by_id(cli)["smollm2-135m"]
    assert embedded["lora"] == [{"name": "faq", "path": str(adapter), "scale": 0.5}]
    # `deepfort serve` gets it on the model, and `--model base:adapter` names the base model.
    settings = Settings(data_dir=data_dir)
    (served,) = resolve_models(settings, ["smollm2-135m:faq"])
    assert isinstance(served, LocalModel) and [a.name for a in served.lora] == ["faq"]
    _failed(cli("models", "add-adapter", "smollm2-135m", "faq", str(adapter)), "already has an adapter")
    _failed(cli("models", "add-adapter", "smollm2-135m", "a:b", str(adapter)), "not an adapter name")
    _failed(cli("models", "add-adapter", "smollm2-135m", "x", str(tmp_path / "none.gguf")), "no adapter file")
    _failed(cli("models", "add-adapter", "nope", "x", str(adapter)), "no model named")
    removed = cli("models", "remove-adapter", "smollm2-135m", "faq")
    assert removed.exit_code == 0, removed.output
    assert _by_id(cli)["smollm2-135m"]["lora"] == []
    _failed(cli("models", "remove-adapter", "smollm2-135m", "faq"), "no registered adapter")
