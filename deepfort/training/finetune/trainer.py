"""The LoRA training loop: peft on a transformers model, devices through Hugging Face ``accelerate``.

In one process it trains on the CPU or one GPU; under ``accelerate launch`` with a DeepSpeed or FSDP
config the same loop runs on several GPUs or machines (accelerate owns the device placement, the
gradient synchronisation and the sharded checkpoints; we never do).

Batches come from :class:`~deepfort.training.finetune.data.Schedule`, a function of the seed and the
step, and a checkpoint (``accelerator.save_state``: the adapter only, the optimizer, the learning-rate
schedule and every random generator, dropout's included) is taken between steps, so ``--resume`` goes
on with the same batches and the same dropout masks, and ends where an uninterrupted run ends.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file, save_file

from deepfort.errors import ConfigError
from deepfort.training.finetune.base import BaseModel, load_base
from deepfort.training.finetune.data import IGNORE, Example, Renderer, Schedule, pad_batch, read_conversations
from deepfort.training.finetune.gguf_lora import write_lora_gguf
from deepfort.training.lora_merge import AdapterSpec, merge_lora

__all__ = ["FinetuneOptions", "FinetuneResult", "StepEvent", "finetune"]

CHECKPOINTS = "checkpoints"
_ADAPTER_FILE = "adapter.safetensors"
_STATE_FILE = "trainer.json"


@dataclass
class FinetuneOptions:
    """One fine-tune. Defaults are the guide's LoRA settings (r 16, alpha 32 on q_proj and v_proj,
    dropout 0.1) and the usual LoRA learning rate."""

    base: Path
    data: Path
    out: Path
    eval: Path | None = None
    mix: Path | None = None
    mix_share: float = 0.2
    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target: tuple[str, ...] = ("q_proj", "v_proj")
    epochs: int = 3
    steps: int | None = None
    """Optimizer steps in all; when set it overrides ``epochs``."""
    batch_size: int = 8
    lr: float = 2e-4
    warmup: float = 0.03
    """Share of the steps over which the learning rate rises linearly, before it falls linearly to 0."""
    max_len: int = 1024
    eval_every: int = 50
    save_every: int = 100
    resume: bool = False
    seed: int = 0
    merge: bool = False
    """Also write the base with the adapter merged into its weights: ``merged.gguf`` for a GGUF base
    (``training/lora_merge.py``), ``merged/`` (a Hugging Face directory, peft's ``merge_and_unload``)
    for a directory."""

    def check(self) -> None:
        if not 0 <= self.mix_share < 1:
            raise ConfigError(f"--mix-share must be in [0, 1), not {self.mix_share}")
        for name in ("r", "epochs", "batch_size", "max_len", "eval_every", "save_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.steps is not None and self.steps < 1:
            raise ConfigError("--steps must be at least 1")


@dataclass(frozen=True)
class StepEvent:
    step: int
    total: int
    loss: float
    eval_loss: float | None = None


@dataclass
class FinetuneResult:
    out: Path
    adapter_dir: Path
    adapter_gguf: Path | None
    merged: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class _History:
    train: list[dict[str, float]] = field(default_factory=list)
    eval: list[dict[str, float]] = field(default_factory=list)


def _tensors(batch: dict[str, list[list[int]]], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: torch.tensor(value, dtype=torch.long, device=device) for key, value in batch.items()}


def _eval_loss(model: Any, examples: Sequence[Example], batch_size: int, pad_id: int, device: Any) -> float:
    """Mean loss per answer token over ``examples``."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            # the model predicts label i + 1 from position i: the first label is never a target
            n = sum(sum(1 for label in e.labels[1:] if label != IGNORE) for e in chunk)
            loss = model(**_tensors(pad_batch(chunk, pad_id), device)).loss
            total += float(loss) * n
            tokens += n
    model.train(was_training)
    return total / max(tokens, 1)


def _latest_checkpoint(out: Path) -> Path | None:
    found = sorted((out / CHECKPOINTS).glob("step-*"), key=lambda p: int(p.name.removeprefix("step-")))
    return found[-1] if found else None


def finetune(options: FinetuneOptions, progress: Callable[[StepEvent], None] | None = None) -> FinetuneResult:
    """Train a LoRA adapter on ``options.data`` and write the output directory: ``adapter/`` (peft),
    ``adapter.gguf`` (llama.cpp), ``report.json``, ``loss.png`` and ``checkpoints/step-N/``."""
    from deepfort.training.finetune.report import write_report

    options.check()
    started = time.monotonic()
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    set_seed(options.seed)
    base = load_base(options.base)
    renderer = Renderer(base.template, base.encode, max_len=options.max_len)
    train = renderer.examples(read_conversations(options.data))
    if not train:
        raise ConfigError(
            f"{options.data}: no assistant turn to train on (within --max-len {options.max_len})"
        )
    mix = renderer.examples(read_conversations(options.mix)) if options.mix else []
    evals = renderer.examples(read_conversations(options.eval)) if options.eval else []
    # one global batch per step, of --batch-size examples per process; each process takes its share
    world, rank = accelerator.num_processes, accelerator.process_index
    schedule = Schedule(train, mix, options.mix_share, options.batch_size * world, options.seed)
    total = options.steps or options.epochs * schedule.steps_per_epoch

    config = LoraConfig(
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(options.target),
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft 0.21 reads transformers 5's deprecated `is_gradient_checkpointing`; nothing of ours.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
        model = get_peft_model(base.model, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=options.lr)
    warmup = math.ceil(total * options.warmup)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    _adapter_only_checkpoints(accelerator)

    options.out.mkdir(parents=True, exist_ok=True)
    history, step = _History(), 0
    checkpoint = _latest_checkpoint(options.out) if options.resume else None
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / _STATE_FILE).read_text())
        step, history = int(state["step"]), _History(**state["history"])

    device = accelerator.device
    first_step = step
    if evals and not history.eval:
        history.eval.append(
            {"step": 0, "loss": _eval_loss(model, evals, options.batch_size, base.pad_id, device)}
        )
    model.train()
    loop_started = time.monotonic()
    while step < total:
        examples = schedule.batch(step)
        # every process must step together: a short last batch still gives each one an example
        mine = examples[rank::world] or examples[:1]
        batch = _tensors(pad_batch(mine, base.pad_id), device)
        loss = model(**batch).loss
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        step += 1
        history.train.append({"step": step, "loss": loss.item(), "lr": float(scheduler.get_last_lr()[0])})
        eval_loss = None
        if evals and (step % options.eval_every == 0 or step == total):
            eval_loss = _eval_loss(model, evals, options.batch_size, base.pad_id, device)
            history.eval.append({"step": step, "loss": eval_loss})
        if step % options.save_every == 0 and step < total:
            _save_checkpoint(accelerator, options.out / CHECKPOINTS / f"step-{step}", step, history)
        if progress is not None:
            progress(StepEvent(step, total, history.train[-1]["loss"], eval_loss))

    # the training loop alone (eval loss and checkpoints included), without loading the model
    train_seconds = time.monotonic() - loop_started
    accelerator.wait_for_everyone()
    result = FinetuneResult(out=options.out, adapter_dir=options.out / "adapter", adapter_gguf=None)
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.save_pretrained(result.adapter_dir, save_embedding_layers=False)
        result.adapter_gguf = _export_gguf(unwrapped, base, options)
        if options.merge:
            result.merged = _merge(unwrapped, base, result.adapter_gguf, options.out)
        result.report = write_report(
            options.out,
            options=asdict(options),
            history=asdict(history),
            counts={
                "train_examples": len(train),
                "mix_examples": len(mix),
                "mix_per_epoch": schedule.mix_per_epoch,
                "eval_examples": len(evals),
                "skipped_too_long": renderer.skipped,
                "trainable_parameters": trainable,
                "steps": total,
                "steps_per_epoch": schedule.steps_per_epoch,
            },
            seconds=time.monotonic() - started,
            train_seconds=train_seconds,
            steps_run=total - first_step,
            device=str(device),
            adapter_gguf=result.adapter_gguf,
            merged=result.merged,
        )
    return result


def _export_gguf(model: Any, base: BaseModel, options: FinetuneOptions) -> Path:
    return write_lora_gguf(
        get_peft_model_state_dict(model, save_embedding_layers=False),
        model.config,
        options.out / "adapter.gguf",
        alpha=options.alpha,
    )


def _merge(model: Any, base: BaseModel, adapter_gguf: Path, out: Path) -> Path:
    """The base with the adapter in its weights: a GGUF base through our GGUF merge (the exported adapter,
    as llama.cpp applies it), a Hugging Face directory through peft (the model is merged in place)."""
    if base.gguf is not None:
        return merge_lora(base.gguf, [AdapterSpec(adapter_gguf)], out / "merged.gguf").out
    merged = out / "merged"
    model.merge_and_unload().save_pretrained(merged)
    base.tokenizer.save_pretrained(merged)
    return merged


def _save_checkpoint(accelerator: Any, where: Path, step: int, history: _History) -> None:
    accelerator.save_state(str(where))
    if accelerator.is_main_process:
        (where / _STATE_FILE).write_text(json.dumps({"step": step, "history": asdict(history)}))


def _adapter_only_checkpoints(accelerator: Any) -> None:
    """Checkpoints hold the adapter, not the frozen base model's weights (accelerate would save the whole
    state dict): the pattern of accelerate's model-state hooks, the one diffusers' training scripts use."""

    def save(models: list[Any], weights: list[Any], output_dir: str) -> None:
        if accelerator.is_main_process:
            for model in models:
                state = get_peft_model_state_dict(
                    accelerator.unwrap_model(model), save_embedding_layers=False
                )
                save_file(
                    {k: v.contiguous() for k, v in state.items()}, str(Path(output_dir) / _ADAPTER_FILE)
                )
        weights.clear()

    def load(models: list[Any], input_dir: str) -> None:
        for model in models:
            set_peft_model_state_dict(
                accelerator.unwrap_model(model), load_file(str(Path(input_dir) / _ADAPTER_FILE))
            )
        models.clear()

    accelerator.register_save_state_pre_hook(save)
    accelerator.register_load_state_pre_hook(load)
