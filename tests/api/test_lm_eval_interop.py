"""lm-evaluation-harness against a real `deepfort serve`, as a new user runs it: its ``local-completions``
model with the default tokenizer detection (``tokenizer_backend=auto``: ``GET /tokenizer_info``, then
``/tokenize`` and ``/detokenize``), a multiple-choice task defined in a YAML file on a local JSONL file,
offline. Its accuracy and its choice on every question must equal what the log-probabilities computed
directly with llama.cpp on the same GGUF give (issue 15: before, it scored 0.10 with no error).

lm-eval builds each request the way :func:`direct_scores` does: the context ``Question: ...\\nAnswer:``
and the continuation `` <choice>`` tokenized together and apart (``_encode_pair``), no BOS, sent as token
ids with ``echo: true, logprobs: 1, max_tokens: 1``; it sums the continuation's prompt logprobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from deepfort.catalog import embedded_model_path
from tests.conftest import Server

pytestmark = pytest.mark.slow  # the direct scores load the model in this process (the server makes it e2e)

MODEL = "smollm2-135m"
DATA = Path(__file__).resolve().parent.parent / "data" / "mcq20.jsonl"

TASK = """\
task: mcq20
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""

# Runs in a subprocess: lm-eval and its datasets read their offline switches at import.
RUN = """\
import json, sys
from lm_eval import simple_evaluate
from lm_eval.api.registry import get_model
from lm_eval.tasks import TaskManager

base_url, model, include, out = sys.argv[1:5]
lm = get_model("local-completions")(base_url=base_url, model=model, num_concurrent=4, max_retries=1)
results = simple_evaluate(
    model=lm, tasks=["mcq20"], task_manager=TaskManager(include_path=include), log_samples=True
)
samples = sorted(results["samples"]["mcq20"], key=lambda s: s["doc_id"])
with open(out, "w") as fh:
    json.dump(
        {
            "acc": results["results"]["mcq20"]["acc,none"],
            "tokenizer_backend": lm.tokenizer_backend,
            "scores": [[float(r[0]) for r in s["filtered_resps"]] for s in samples],
        },
        fh,
    )
"""


def questions() -> list[dict[str, object]]:
    return [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


def direct_scores(llm: llama_cpp.Llama) -> list[list[float]]:
    """Each choice's summed continuation logprob, by llama.cpp on the GGUF (flash attention, as the
    server's context: see tests/api/test_prompt_logprobs.py)."""

    def encode(text: str) -> list[int]:
        return list(llm.tokenize(text.encode(), add_bos=False, special=True))

    scores = []
    for q in questions():
        context = f"Question: {q['question']}\nAnswer:"
        row = []
        for choice in q["choices"]:  # type: ignore[attr-defined]
            whole = encode(f"{context} {choice}")
            n_context = len(encode(context))
            llm.reset()
            llm.eval(whole)
            logits = np.array(llm.scores[: len(whole) - 1], dtype=np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
            row.append(float(sum(logits[i - 1, whole[i]] for i in range(n_context, len(whole)))))
        scores.append(row)
    return scores


def test_lm_eval_local_completions_scores_as_llama_cpp_does(server: Server, tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "mcq20.yaml").write_text(TASK.format(data=DATA))
    out = tmp_path / "result.json"
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    args = [f"{server.v1}/completions", MODEL, str(tmp_path / "tasks"), str(out)]
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    got = json.loads(out.read_text())
    assert got["tokenizer_backend"] == "remote"  # the default detection read /tokenizer_info

    llm = llama_cpp.Llama(
        str(embedded_model_path()), logits_all=True, flash_attn=True, n_ctx=512, verbose=False
    )
    try:
        want = direct_scores(llm)
    finally:
        llm.close()
    answers = [q["answer"] for q in questions()]
    want_choices = [int(np.argmax(row)) for row in want]
    got_choices = [int(np.argmax(row)) for row in got["scores"]]
    # The same number for every choice of every question, so the same pick and the same accuracy.
    assert np.allclose(got["scores"], want, atol=1e-3), (got["scores"], want)
    assert got_choices == want_choices
    want_acc = float(np.mean([c == a for c, a in zip(want_choices, answers, strict=True)]))
    assert got["acc"] == pytest.approx(want_acc)
    # deepfort eval on the same file, scoring each option's text as lm-eval's task does: the same picks.
    ours = subprocess.run(
        [sys.executable, "-m", "deepfort", "eval", "run", "mcq-text", "--data", str(DATA), "--url", server.v1,
         "--model", MODEL, "--run-file", str(tmp_path / "ours.jsonl"), "--json"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert ours.returncode == 0, ours.stderr[-4000:]
    report = json.loads(ours.stdout)
    assert report["suites"]["mcq-text"]["n"] == len(answers)
    assert report["suites"]["mcq-text"]["score"] == pytest.approx(want_acc)
    records = [json.loads(line) for line in (tmp_path / "ours.jsonl").read_text().splitlines()]
    ours_scores = {r["item"]: [s[0] for s in r["scores"]] for r in records if r["type"] == "answer"}
    ours_rows = [ours_scores[f"mcq20/{number}"] for number in range(1, len(answers) + 1)]
    assert np.allclose(ours_rows, want, atol=1e-3), (ours_rows, want)
    assert [int(np.argmax(row)) for row in ours_rows] == want_choices
    # Not chance: the model knows most of these (chance is 0.25; before the fix lm-eval read 0.10).
    assert want_acc >= 0.6, want_acc
