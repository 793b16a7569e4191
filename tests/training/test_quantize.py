"""``deepfort quantize``: the embedded model (Q4_1, so ``--allow-requantize``) to q8_0 and q4_0 in a temporary
directory, the outputs loaded and measured by llama.cpp, and the errors a user meets first.

The model is requantized, so a q8_0 output keeps the Q4_1 rounding it was made from: it must answer the
greedy question exactly as the input does and lose next to nothing in perplexity. q4_0 rounds again, more
coarsely: it must still load, answer and stay within a small factor of the input's perplexity. The runs
are short (a 1,200-character text, windows of 64, a 32-token prompt, 8 generated tokens), to check the
plumbing; the figures worth reading are in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from deepfort.catalog import embedded_model_path
from deepfort.cli.main import app
from deepfort.cli.quantize import _print_table
from deepfort.errors import ConfigError
from deepfort.training.quant.heldout import HELDOUT_TEXT
from deepfort.training.quant.measure import MeasureOptions, measure_model, perplexity_windows
from deepfort.training.quant.quantizer import quantize_file
from deepfort.training.quant.types import QUANT_TYPES, parse_type

SHORT_TEXT = HELDOUT_TEXT[:1200]
FAST = ["--ctx-size", "64", "--n-prompt", "32", "--n-gen", "8", "--threads", "1"]
FAST_OPTIONS = MeasureOptions(text=SHORT_TEXT, n_ctx=64, threads=1, n_prompt=32, n_gen=8)
GOLDEN = {"question": "What is the capital of France?", "answers": ["Paris"]}


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, ["quantize", *args])


def error_of(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(result.stderr.split())


@pytest.fixture(scope="module")
def q8(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path]]:
    """One full ``deepfort quantize --type q8_0 --json`` with a one-question golden set: the result and
    the output file."""
    tmp = tmp_path_factory.mktemp("quantize")
    text, golden, out = tmp / "short.txt", tmp / "golden.jsonl", tmp / "smol-q8_0.gguf"
    text.write_text(SHORT_TEXT, encoding="utf-8")
    golden.write_text(json.dumps(GOLDEN) + "\n", encoding="utf-8")
    args = [str(embedded_model_path()), str(out), "--type", "q8_0", "--allow-requantize", *FAST]
    args += ["--eval-text", str(text), "--golden", str(golden), "--max-tokens", "16", "--json"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPFORT_DATA_DIR", str(tmp / "data"))
        result = cli(*args)
    assert result.exit_code == 0, result.output
    yield json.loads(result.stdout), out


@pytest.mark.e2e
@pytest.mark.slow
def test_q8_0_keeps_the_answer_and_the_perplexity(q8: tuple[dict[str, Any], Path]) -> None:
    result, out = q8
    source, output = result["input"], result["output"]
    assert result["requantized"] is True
    assert source["file_type"] == "Q4_1" and output["file_type"] == "Q8_0"
    # The table's sizes are the files'.
    assert source["size_bytes"] == embedded_model_path().stat().st_size
    assert output["size_bytes"] == out.stat().st_size
    assert output["bits_per_weight"] == pytest.approx(8.5, abs=0.1)
    assert source["bits_per_weight"] < output["bits_per_weight"]
    # Q4_1 values fit Q8_0's grid almost exactly: the same greedy answer, the same perplexity within 5%.
    assert output["answer"] == source["answer"] and "Paris" in output["answer"]
    for row in (source, output):
        assert math.isfinite(row["perplexity"]) and row["perplexity"] > 1
        assert row["prompt_tps"] > 0 and row["decode_tps"] > 0
    assert output["perplexity"] / source["perplexity"] == pytest.approx(1.0, abs=0.05)
    assert result["eval_text"]["scored_tokens"] == source["ppl_tokens"] == output["ppl_tokens"] > 0
    # The golden set ran on both models, in process, through deepfort eval's runner.
    for row in (source, output):
        assert row["eval"]["suites"]["golden"]["n"] == 1
    assert result["delta"]["scores"] == {"golden": 0.0}
    assert not list(out.parent.glob("*.partial"))


@pytest.mark.e2e
@pytest.mark.slow
def test_q4_0_loads_answers_and_stays_near(q8: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    out = tmp_path / "smol-q4_0.gguf"
    ftype = quantize_file(embedded_model_path(), out, parse_type("q4_0"), threads=1, allow_requantize=True)
    assert ftype == QUANT_TYPES["q4_1"].ftype
    measured = measure_model(out, FAST_OPTIONS)
    source = q8[0]["input"]
    assert measured.size_bytes == out.stat().st_size < source["size_bytes"]
    assert measured.bits_per_weight < source["bits_per_weight"]
    assert measured.answer.strip()
    assert math.isfinite(measured.perplexity)
    assert 0.8 < measured.perplexity / source["perplexity"] < 2.0


@pytest.mark.e2e
def test_an_interrupted_quantization_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "never.gguf"

    def interrupt(done: int, total: int, tensor: str) -> None:
        if done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        quantize_file(
            embedded_model_path(),
            out,
            parse_type("q8_0"),
            threads=1,
            allow_requantize=True,
            progress=interrupt,
        )
    assert list(tmp_path.iterdir()) == []


def test_the_table_shows_both_models(q8_result: dict[str, Any]) -> None:
    console = Console(width=200, record=True)
    _print_table(q8_result, console)
    shown = console.export_text()
    assert "Q4_1 -> Q8_0" in shown
    assert "93.8 MiB" in shown and "138.1 MiB" in shown
    assert "golden" in shown and "Paris" in shown


@pytest.fixture
def q8_result() -> dict[str, Any]:
    """A result as the q8_0 run prints it (figures from one run), for the table alone."""

    def row(path: str, file_type: str, size: int, bpw: float, ppl: float) -> dict[str, Any]:
        report = {"suites": {"golden": {"score": 1.0}}}
        return {
            "path": path,
            "file_type": file_type,
            "size_bytes": size,
            "bits_per_weight": bpw,
            "prompt_tps": 300.0,
            "decode_tps": 60.0,
            "perplexity": ppl,
            "answer": "The capital of France is Paris.",
            "eval": report,
        }

    return {
        "type": "q8_0",
        "input": row("/m/SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1", 98362432, 5.74, 18.377),
        "output": row("/tmp/smol-q8_0.gguf", "Q8_0", 144811072, 8.51, 18.464),
        "eval_text": {"source": "the built-in held-out text", "n_ctx": 512, "scored_tokens": 1530},
        "delta": {"size_ratio": 1.47, "perplexity": 0.087, "perplexity_ratio": 1.0047},
    }


def test_requantizing_is_refused_without_the_flag(tmp_path: Path) -> None:
    out = tmp_path / "out.gguf"
    message = error_of(cli(str(embedded_model_path()), str(out), "--type", "q8_0"))
    assert message.startswith("error: ")
    assert "already quantized (Q4_1)" in message and "--allow-requantize" in message
    assert "errors add up" in message
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["{model}", "{out}", "--type", "q9_9"], "unknown quantization type 'q9_9'; known: f32, f16"),
        (["{tmp}/missing.gguf", "{out}", "--type", "q8_0"], "input model not found"),
        (["{tmp}", "{out}", "--type", "q8_0"], "convert_hf_to_gguf.py"),
        (["{text}", "{out}", "--type", "q8_0"], "not a GGUF file"),
        (
            ["{model}", "{tmp}/no/such/dir/out.gguf", "--type", "q8_0", "--allow-requantize"],
            "output directory",
        ),
        (["{model}", "{out}", "--type", "q8_0", "--golden", "{tmp}/none.jsonl"], "golden set not found"),
    ],
)
def test_bad_input_is_a_clear_error(args: list[str], expected: str, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    values = {"model": str(embedded_model_path()), "out": str(tmp_path / "out.gguf"), "tmp": str(tmp_path)}
    message = error_of(cli(*(a.format(**values, text=text) for a in args)))
    assert message.startswith("error: ") and expected in message
    assert not (tmp_path / "out.gguf").exists()


def test_type_names_are_llama_quantize_s() -> None:
    assert parse_type("Q4_K_M").ftype == 15
    assert parse_type(" q8_0 ").name == "q8_0"
    with pytest.raises(ConfigError, match="q4_k_m"):
        parse_type("int8")


@pytest.mark.parametrize(
    ("tokens", "n_ctx", "expected"),
    [(1024, 512, (2, 2 * 255)), (3131, 512, (6, 6 * 255)), (200, 64, (3, 3 * 31))],
)
def test_perplexity_scores_the_second_half_of_each_window(
    tokens: int, n_ctx: int, expected: tuple[int, int]
) -> None:
    assert perplexity_windows(tokens, n_ctx) == expected


def test_perplexity_needs_two_windows() -> None:
    with pytest.raises(ConfigError, match="at least 1024"):
        perplexity_windows(1023, 512)


def test_help_says_how_to_convert_a_hugging_face_model() -> None:
    shown = " ".join(CliRunner().invoke(app, ["quantize", "--help"], terminal_width=200).output.split())
    assert "convert_hf_to_gguf.py" in shown and "llama-export-lora" in shown
