"""``deepfort finetune`` on the tiny model: resume, mixing, eval and the output directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("peft")

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from deepfort.cli.main import app
from deepfort.training.finetune.trainer import FinetuneOptions, StepEvent, finetune
from tests.training.test_finetune_gguf import QA, write_qa
from tests.training.tiny import TinyModel, build_tiny_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]

GENERAL = [("Say hello.", "Hello!"), ("What is 1+1?", "2.")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def options(tiny: TinyModel, root: Path, out: str, **overrides: object) -> FinetuneOptions:
    base = {
        "base": tiny.hf_dir,
        "data": write_qa(root / "qa.jsonl", QA),
        "mix": write_qa(root / "general.jsonl", GENERAL),
        "eval": write_qa(root / "eval.jsonl", QA[:2]),
        "out": root / out,
        "steps": 6,
        "batch_size": 2,
        "lr": 1e-2,
        "eval_every": 3,
        "save_every": 3,
        "mix_share": 0.25,
    }
    return FinetuneOptions(**{**base, **overrides})  # type: ignore[arg-type]


class Interrupted(Exception):
    pass


def test_resume_ends_where_an_uninterrupted_run_ends(tiny: TinyModel, tmp_path: Path) -> None:
    whole = finetune(options(tiny, tmp_path, "whole")).report

    def stop_after_4(event: StepEvent) -> None:
        if event.step == 4:
            raise Interrupted

    interrupted = options(tiny, tmp_path, "resumed")
    with pytest.raises(Interrupted):
        finetune(interrupted, progress=stop_after_4)
    assert [p.name for p in (interrupted.out / "checkpoints").iterdir()] == ["step-3"]
    resumed = finetune(options(tiny, tmp_path, "resumed", resume=True)).report

    # steps 4 to 6 again from the step-3 checkpoint: same batches, dropout masks and learning rates
    assert [p["step"] for p in resumed["history"]["train"]] == [1, 2, 3, 4, 5, 6]
    assert [p["loss"] for p in resumed["history"]["train"]] == pytest.approx(
        [p["loss"] for p in whole["history"]["train"]], abs=1e-6
    )
    assert resumed["eval_after"] == pytest.approx(whole["eval_after"], abs=1e-6)


def test_output_directory_and_report(tiny: TinyModel, tmp_path: Path) -> None:
    result = finetune(options(tiny, tmp_path, "out"))
    report = json.loads((result.out / "report.json").read_text())
    assert report["train_examples"] == len(QA)
    assert report["mix_per_epoch"] == 2  # 6 pairs at a share of 0.25
    assert report["steps"] == 6
    assert [p["step"] for p in report["history"]["eval"]] == [0, 3, 6]
    assert report["eval_after"] < report["eval_before"]
    assert report["options"]["r"] == 16 and report["options"]["target"] == ["q_proj", "v_proj"]
    assert 0 < report["train_seconds"] < report["seconds"]
    assert report["seconds_per_step"] == pytest.approx(report["train_seconds"] / 6, abs=1e-3)
    assert report["merged"] is None
    assert (result.out / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert (result.out / "adapter" / "adapter_config.json").is_file()
    assert (result.out / "adapter.gguf").read_bytes().startswith(b"GGUF")


def test_cli_trains_and_prints_the_report_as_json(tiny: TinyModel, tmp_path: Path) -> None:
    data = write_qa(tmp_path / "qa.jsonl", QA)
    args = ["finetune", str(tiny.hf_dir), str(data), "-o", str(tmp_path / "out"), "--steps", "2", "--merge"]
    result = CliRunner().invoke(
        app, [*args, "--batch-size", "4", "--r", "4", "--lr", "1e-2", "--target", "q_proj,k_proj", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["steps"] == 2
    assert report["options"]["r"] == 4 and report["options"]["target"] == ["q_proj", "k_proj"]
    assert report["trainable_parameters"] == 2 * (4 * 64 + 64 * 4) + 2 * (4 * 64 + 32 * 4)
    assert Path(report["adapter_gguf"]).is_file()
    # --merge on a Hugging Face directory: the merged model as a directory, the tuned model's logits
    merged = Path(report["merged"])
    assert merged == tmp_path / "out" / "merged"
    tokens = torch.tensor([[1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(tiny.hf_dir, dtype=torch.float32).eval()
        want = PeftModel.from_pretrained(base, tmp_path / "out" / "adapter").eval()(tokens).logits
        got = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()(tokens).logits
        untuned = AutoModelForCausalLM.from_pretrained(tiny.hf_dir, dtype=torch.float32).eval()(tokens).logits
    assert (want - untuned).abs().max() > 1e-2  # the adapter matters
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_cli_without_the_train_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delitem(sys.modules, "deepfort.training.finetune.trainer")
    monkeypatch.setitem(sys.modules, "peft", None)
    result = CliRunner().invoke(
        app, ["finetune", str(tmp_path), str(tmp_path / "d.jsonl"), "-o", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "pip install 'deepfort[train]'" in " ".join(result.output.split())
