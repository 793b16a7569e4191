"""The fine-tune's report: ``report.json`` (options, counts, loss history, eval before and after) and
``loss.png`` (the training loss per step, the eval loss at its steps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["plot_losses", "write_report"]


def write_report(
    out: Path,
    *,
    options: dict[str, Any],
    history: dict[str, list[dict[str, float]]],
    counts: dict[str, int],
    seconds: float,
    train_seconds: float,
    steps_run: int,
    device: str,
    adapter_gguf: Path | None,
    merged: Path | None = None,
) -> dict[str, Any]:
    train, evals = history["train"], history["eval"]
    report: dict[str, Any] = {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
        **counts,
        "device": device,
        "seconds": round(seconds, 3),
        "train_seconds": round(train_seconds, 3),
        "seconds_per_step": round(train_seconds / steps_run, 3) if steps_run else None,
        "final_loss": train[-1]["loss"] if train else None,
        "eval_before": evals[0]["loss"] if evals else None,
        "eval_after": evals[-1]["loss"] if evals else None,
        "adapter": str(out / "adapter"),
        "adapter_gguf": str(adapter_gguf) if adapter_gguf else None,
        "merged": str(merged) if merged else None,
        "loss_png": str(out / "loss.png"),
        "history": history,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2))
    plot_losses(history, out / "loss.png")
    return report


def plot_losses(history: dict[str, list[dict[str, float]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    train = history["train"]
    ax.plot([p["step"] for p in train], [p["loss"] for p in train], label="train", linewidth=1)
    if history["eval"]:
        ax.plot(
            [p["step"] for p in history["eval"]], [p["loss"] for p in history["eval"]], "o-", label="eval"
        )
    ax.set_xlabel("step")
    ax.set_ylabel("loss (per answer token)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
