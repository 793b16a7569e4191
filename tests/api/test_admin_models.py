"""Adding a GGUF model while the server runs (POST /admin/models): served at once, kept for restarts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from deepfort.catalog import embedded_model_path
from tests.conftest import start_server, stop_server

CONFIG = {"models": [{"id": "smollm2-135m", "n_ctx": 512, "n_parallel": 1}]}


@pytest.mark.e2e
def test_a_model_added_while_running_is_served_now_and_after_a_restart(tmp_path: Path) -> None:
    server = start_server(CONFIG, tmp_path)
    try:
        card = httpx.get(f"{server.v1}/models/smollm2-135m", timeout=10).json()
        assert card["demo"] is True  # the embedded GGUF, though the config names it
        assert card["sampling_defaults"] == {"temperature": 0.2, "top_p": 0.9, "top_k": 40}
        added = httpx.post(
            f"{server.base_url}/admin/models",
            json={
                "path": str(embedded_model_path()),
                "id": "smol-added",
                "n_ctx": 512,
                "n_parallel": 1,
                "sampling_defaults": {"temperature": 0.3},
            },
            timeout=120,
        )
        assert added.status_code == 201, added.text
        assert added.json()["ready"] is True
        card = httpx.get(f"{server.v1}/models/smol-added", timeout=10).json()
        assert card["demo"] is False and card["sampling_defaults"] == {"temperature": 0.3}
        body = {"model": "smol-added", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}
        assert httpx.post(f"{server.v1}/chat/completions", json=body, timeout=60).status_code == 200
        again = httpx.post(
            f"{server.base_url}/admin/models", json={"path": str(embedded_model_path()), "id": "smol-added"}
        )
        assert again.status_code == 400 and again.json()["error"]["code"] == "model_exists"
        no_path = httpx.post(f"{server.base_url}/admin/models", json={"id": "nothing"})
        assert no_path.status_code == 400 and no_path.json()["error"]["param"] == "path"
        missing = httpx.post(f"{server.base_url}/admin/models", json={"path": str(tmp_path / "none.gguf")})
        assert missing.status_code == 400 and missing.json()["error"]["code"] == "model_file_missing"
        not_gguf = tmp_path / "notes.gguf"
        not_gguf.write_text("not a model")
        refused = httpx.post(f"{server.base_url}/admin/models", json={"path": str(not_gguf), "id": "broken"})
        assert refused.status_code == 400
        assert httpx.post(f"{server.v1}/chat/completions", json=body, timeout=60).status_code == 200
    finally:
        stop_server(server)
    # The registry keeps it: a server started on the same data directory without naming models serves it.
    restarted = start_server({}, tmp_path)
    try:
        ids = [m["id"] for m in httpx.get(f"{restarted.v1}/models").json()["data"]]
    finally:
        stop_server(restarted)
    assert "smol-added" in ids
