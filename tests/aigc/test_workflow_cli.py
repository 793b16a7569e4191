"""`deepfort workflow validate|run|runs`: the problems table, and an in-process run recorded in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepfort.cli.main import app

runner = CliRunner()
GOOD = """name: hello
inputs: {who: {type: string, required: true}}
nodes:
  - {id: greet, type: template, params: {template: "hi {{ inputs.who }}"}}
outputs: {text: "{{ nodes.greet.text }}"}
"""


@pytest.mark.parametrize(
    ("document", "line", "node", "reason"),
    [
        (GOOD.replace("inputs.who", "inputs.nobody"), 4, "greet", "nobody"),
        (GOOD.replace("type: template", "type: nonesuch"), 4, "greet", "unknown node type"),
        (GOOD + "edges: [greet -> ghost]\n", 6, None, "ghost"),
    ],
)
def test_validate_reports_line_and_node(
    tmp_path: Path, document: str, line: int, node: str | None, reason: str
) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(document)
    result = runner.invoke(app, ["workflow", "validate", str(path), "--json"])
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    assert any(
        p["line"] == line and (node is None or p["node"] == node) and reason in p["reason"] for p in problems
    ), problems
    table = runner.invoke(app, ["workflow", "validate", str(path)])
    assert table.exit_code == 1 and "invalid workflow" in table.stdout


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(GOOD)
    result = runner.invoke(app, ["workflow", "validate", str(path)])
    assert result.exit_code == 0 and "valid" in result.stdout


@pytest.mark.slow  # the real model, in process
def test_run_in_process_then_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPFORT_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "wf.yaml"
    path.write_text(GOOD)
    result = runner.invoke(app, ["workflow", "run", str(path), "--input", "who=世界", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["status"] == "succeeded" and record["outputs"] == {"text": "hi 世界"}
    listed = runner.invoke(app, ["workflow", "runs", "--json"])
    assert [r["id"] for r in json.loads(listed.stdout)] == [record["id"]]
