"""``deepfort finetune`` on the tiny model: resume, mixing, eval and the output directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")

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
    assert (result.out / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert (result.out / "adapter" / "adapter_config.json").is_file()
    assert (result.out / "adapter.gguf").read_bytes().startswith(b"GGUF")
