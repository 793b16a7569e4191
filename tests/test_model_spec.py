"""ModelSpec: one description of a model, local or upstream, that old configs and registries still fill."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from deepfort import catalog
from deepfort.config import MODEL_SPEC, LocalModel, Settings, UpstreamModel, load_settings
from deepfort.errors import ConfigError

# What the single model class before ModelSpec wrote into models.json for `models add`.
OLD_REGISTRY_ENTRY = {
    "id": "qwen",
    "engine": "llamacpp",
    "path": "/models/qwen.gguf",
    "n_ctx": 2048,
    "n_threads": None,
    "n_threads_batch": None,
    "n_batch": 512,
    "n_parallel": 4,
    "kv_cells": None,
    "prefill_chunk": 256,
    "queue_size": None,
    "chat_template": None,
    "reasoning_parser": "deepseek_r1",
    "aliases": ["q"],
    "upstream": None,
    "upstream_model": None,
    "api_key_env": None,
    "think_in_content": "auto",
    "added_at": "2026-11-01T10:00:00+00:00",
    "metadata": {"general.architecture": "qwen2"},
}


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"id": "a"}, LocalModel),
        ({"id": "a", "path": "/m.gguf", "n_ctx": 512}, LocalModel),
        ({"path": "/models/Qwen3-8B.gguf"}, LocalModel),  # id from the file name
        ({"id": "r1", "upstream": "http://vllm:8000/v1", "upstream_model": "r1-32b"}, UpstreamModel),
        # old configs: `path: null` beside upstream, llama.cpp fields an upstream model ignored
        ({"id": "r1", "upstream": "http://v/v1", "path": None, "n_ctx": 8192}, UpstreamModel),
        ({"id": "r1", "kind": "upstream", "upstream": "http://v/v1"}, UpstreamModel),
        ({"id": "a", "kind": "local", "upstream": None, "think_in_content": "auto"}, LocalModel),
    ],
    ids=["bare", "local", "id-from-path", "upstream", "old-upstream", "explicit-kind", "old-local"],
)
def test_kind_follows_upstream_unless_given(data: dict[str, Any], kind: type) -> None:
    spec = MODEL_SPEC.validate_python(data)
    assert type(spec) is kind
    assert spec.kind == ("upstream" if kind is UpstreamModel else "local")
    assert MODEL_SPEC.validate_json(MODEL_SPEC.dump_json(spec)) == spec  # a round trip keeps the kind


def test_id_from_path_is_the_lowercase_stem() -> None:
    assert MODEL_SPEC.validate_python({"path": "/models/Qwen3-8B.gguf"}).id == "qwen3-8b"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": "a", "upstream": "http://v/v1", "path": "/m.gguf"}, "either `path` or `upstream`"),
        ({"id": "a", "kind": "local", "upstream": "http://v/v1"}, "no `upstream`"),
        ({"id": "a", "kind": "upstream"}, "upstream"),
        ({"id": "a", "kind": "remote"}, "does not match"),
        ({"id": "a", "n_ctxx": 512}, "n_ctxx"),
        ({"id": "a", "sampling_defaults": {"temperature": 3}}, "temperature"),
        ({"id": "a", "sampling_defaults": {"top_q": 0.5}}, "top_q"),
        ({"n_ctx": 512}, "id"),  # the embedded model has no file name to take an id from
    ],
    ids=["path-and-upstream", "local-with-upstream", "upstream-without-url", "unknown-kind", "typo",
         "temperature-range", "sampling-typo", "no-id"],
)  # fmt: skip
def test_bad_specs_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MODEL_SPEC.validate_python(data)


def test_a_yaml_config_keeps_loading(tmp_path: Path) -> None:
    config = tmp_path / "deepfort.yaml"
    config.write_text(
        "models:\n"
        "  - id: smollm2-135m\n"
        "  - id: r1-32b\n"
        "    upstream: http://vllm:8000/v1\n"
        "    upstream_model: r1-32b\n"
        "    api_key_env: CENTER_API_KEY\n"
        "  - id: qwen\n"
        "    path: /models/qwen.gguf\n"
        "    reasoning_parser: deepseek_r1\n"
        "    sampling_defaults: {temperature: 0.6, top_p: 0.95, max_tokens: 4096}\n"
    )
    local, upstream, qwen = load_settings(config).models
    assert isinstance(local, LocalModel) and local.embedded
    assert isinstance(upstream, UpstreamModel) and upstream.api_key_env == "CENTER_API_KEY"
    assert isinstance(qwen, LocalModel) and not qwen.embedded
    assert qwen.sampling_defaults.given() == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 4096}


def test_a_bad_model_in_the_config_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "deepfort.yaml"
    config.write_text("models:\n  - id: x\n    upstream: http://v/v1\n    path: /m.gguf\n")
    with pytest.raises(ConfigError, match="either `path` or `upstream`"):
        load_settings(config)


def test_the_embedded_gguf_brings_its_sampling_defaults() -> None:
    assert catalog.embedded_spec().sampling_defaults.given() == {
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
    }
    # a config entry running the embedded GGUF gets them too; its own values win
    named = MODEL_SPEC.validate_python({"id": "smol", "sampling_defaults": {"temperature": 0.5}})
    assert named.sampling_defaults.given() == {"temperature": 0.5, "top_p": 0.9, "top_k": 40}
    # a real GGUF gets none
    assert MODEL_SPEC.validate_python({"id": "q", "path": "/q.gguf"}).sampling_defaults.given() == {}


def test_an_old_registry_file_still_loads_and_is_rewritten_nested(tmp_path: Path) -> None:
    catalog.registry_path(tmp_path).write_text(json.dumps([OLD_REGISTRY_ENTRY]))
    (entry,) = catalog.list_registered(tmp_path)
    assert entry.source == "registered"
    assert entry.added_at == OLD_REGISTRY_ENTRY["added_at"]
    assert entry.metadata == {"general.architecture": "qwen2"}
    assert isinstance(entry.spec, LocalModel)
    assert (entry.spec.id, entry.spec.path, entry.spec.reasoning_parser) == (
        "qwen",
        Path("/models/qwen.gguf"),
        "deepseek_r1",
    )
    assert entry.names == ["qwen", "q"]
    # Removing another entry rewrites the file in today's shape, which reads back the same.
    catalog._save(tmp_path, [entry])
    saved = json.loads(catalog.registry_path(tmp_path).read_text())
    assert saved[0]["spec"]["kind"] == "local" and saved[0]["source"] == "registered"
    assert catalog.list_registered(tmp_path) == [entry]


def test_catalog_entries_say_where_each_model_came_from(tmp_path: Path) -> None:
    catalog.registry_path(tmp_path).write_text(json.dumps([OLD_REGISTRY_ENTRY]))
    settings = Settings(
        data_dir=tmp_path, models=[{"id": "r1", "upstream": "http://v/v1"}, {"id": "tiny", "path": "/t.gguf"}]
    )
    entries = catalog.entries(settings)
    assert [(e.id, e.source) for e in entries] == [
        ("smollm2-135m", "embedded"), ("r1", "config"), ("tiny", "config"), ("qwen", "registered"),
    ]  # fmt: skip
    assert entries[1].gguf() is None  # an upstream model has no file here
    assert entries[2].gguf() == Path("/t.gguf")


def test_resolve_models_keeps_upstream_models_apart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, models=[{"id": "r1", "upstream": "http://v/v1"}])
    models = catalog.resolve_models(settings, [])
    assert [type(m).__name__ for m in models] == ["UpstreamModel", "LocalModel"]
    assert isinstance(models[1], LocalModel) and models[1].embedded


def test_resolve_models_finds_a_model_of_the_settings_file_by_name(tmp_path: Path) -> None:
    """``deepfort chat --model X`` in process, X a model of the config file, was refused as neither a file
    nor a known id."""
    settings = Settings(data_dir=tmp_path, models=[{"id": "smol", "aliases": ["s"], "n_ctx": 512}])
    assert [m.id for m in catalog.resolve_models(settings, ["smol"])] == ["smol"]
    assert [m.id for m in catalog.resolve_models(settings, ["s"])] == ["smol"]
    with pytest.raises(ConfigError, match="neither a GGUF file nor a known model id"):
        catalog.resolve_models(settings, ["other"])


def test_local_model_is_the_one_named_else_the_first(tmp_path: Path) -> None:
    """What ``deepfort chat`` and ``deepfort eval`` load in process."""
    settings = Settings(
        data_dir=tmp_path, models=[{"id": "one", "n_ctx": 512}, {"id": "two", "aliases": ["2"], "n_ctx": 512}]
    )
    assert catalog.local_model(settings, None).id == "one"
    assert catalog.local_model(settings, "one").id == "one"
    assert catalog.local_model(settings, "2").id == "two"
    assert catalog.local_model(Settings(data_dir=tmp_path), None).embedded
    gguf = tmp_path / "My-Model.gguf"
    gguf.write_bytes(b"GGUF")
    assert catalog.local_model(settings, str(gguf)).id == "my-model"


def test_slots_default_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for cores, slots in [(1, 8), (2, 16), (16, 64), (None, 8)]:
        monkeypatch.setattr("deepfort.config.os.cpu_count", lambda cores=cores: cores)
        assert LocalModel(id="m").slots == slots
    assert LocalModel(id="m", n_parallel=3).slots == 3


def test_kv_layout_gives_each_slot_a_stream_when_memory_allows() -> None:
    """A full context per slot in its own stream by default; a shared pool of four contexts' worth when
    that would take more than a quarter of the memory; explicit settings win."""
    model = LocalModel(id="m", n_ctx=1000, n_parallel=16)
    per_cell = 1000
    roomy = 4 * 16 * 1000 * per_cell  # a quarter of it holds 16 contexts exactly
    assert model.kv_layout(per_cell, roomy) == (16_000, False)
    assert model.kv_layout(per_cell, roomy - 4) == (4_000, True)
    assert model.kv_layout(per_cell, 4 * 2500 * per_cell) == (2_500, True)  # what a quarter holds
    assert model.kv_layout(per_cell, 4 * 10 * per_cell) == (1_000, True)  # never below one context
    tight = LocalModel(id="m", n_ctx=1000, n_parallel=4, kv_cells=640)
    assert tight.kv_layout(per_cell, roomy) == (640, True)  # fewer cells than contexts: a pool
    forced = LocalModel(id="m", n_ctx=1000, n_parallel=4, kv_cells=640, kv_unified=False)
    assert forced.kv_layout(per_cell, roomy) == (640, False)
    assert LocalModel(id="m", n_ctx=1000, n_parallel=4, kv_unified=True).kv_layout(per_cell, roomy) == (
        4_000,
        True,
    )
