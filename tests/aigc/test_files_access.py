"""`GET /v1/files/{id}` with API keys: a file is served to the keys whose runs made it, also when two
keys' runs made the same bytes (one file on disk), and to nobody else."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Server, start_server, stop_server
from tests.security.test_auth import create_key

CARD = """
name: card
nodes:
  - id: card
    type: image
    params:
      shot: {scene: "Harbour", visual_prompt: "boats at dawn", narration: "The boats come home."}
      width: 320
      height: 180
outputs: {file: "{{ nodes.card.artefact_id }}"}
"""


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("files")
    keys = {name: str(create_key(tmp / "data", "--name", name)["key"]) for name in ("alice", "bob", "carol")}
    server = start_server({"models": [{"id": "smollm2-135m", "n_ctx": 512, "n_parallel": 1}]}, tmp)
    yield server, keys
    stop_server(server)


def as_key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_file_is_served_to_the_keys_whose_runs_made_it(keyed: tuple[Server, dict[str, str]]) -> None:
    server, keys = keyed
    files = []
    for name in ("alice", "bob"):
        published = httpx.post(
            f"{server.v1}/workflows", json={"definition": CARD}, headers=as_key(keys[name]), timeout=30
        )
        assert published.status_code in (200, 201), published.text
        run = httpx.post(
            f"{server.v1}/workflows/{published.json()['id']}/runs",
            json={"mode": "blocking"},
            headers=as_key(keys[name]),
            timeout=60,
        ).json()
        assert run["status"] == "succeeded", run
        files.append(run["outputs"]["file"])
    assert files[0] == files[1]  # the same bytes: one artefact
    url = f"{server.v1}/files/{files[0]}"
    for name in ("alice", "bob"):
        got = httpx.get(url, headers=as_key(keys[name]), timeout=30)
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        assert got.content.startswith(b"\x89PNG")
    refused = httpx.get(url, headers=as_key(keys["carol"]), timeout=30)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
