"""The multiple-choice suites: readers on fixtures in each published layout, prompts, judging, and the
log-likelihood context and choice."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import jinja2
import pytest
import yaml

from deepfort.errors import ConfigError
from deepfort.evals.base import Generation, Item, Loglikelihood, LoglikelihoodRequest
from deepfort.evals.extract import is_chinese
from deepfort.evals.suites import SUITES
from deepfort.evals.suites.mcq import CMMLU, MCQ, MMLU, CEval

DATA = Path(__file__).parents[1] / "data" / "evals"
MCQ50 = Path(__file__).parents[2] / "benchmarks" / "data" / "mcq50.jsonl"


def by_id(items: list[Item]) -> dict[str, Item]:
    return {item.id: item for item in items}


def test_the_suites_are_registered_with_both_modes() -> None:
    for name, cls in (("mmlu", MMLU), ("ceval", CEval), ("cmmlu", CMMLU), ("mcq", MCQ)):
        assert SUITES.get(name) is cls
        assert cls.modes == ("generate", "loglikelihood")


# -- readers ---------------------------------------------------------------------------------------------


def test_mmlu_reads_the_test_split_of_a_data_directory() -> None:
    items = by_id(MMLU().load(DATA / "mmlu"))
    assert sorted(items) == [
        "astronomy_test/1",
        "astronomy_test/2",
        "astronomy_test/3",
        "high_school_geography_test/1",
        "high_school_geography_test/2",
    ]
    assert {item.subject for item in items.values()} == {"astronomy", "high_school_geography"}
    assert [items[f"astronomy_test/{n}"].target for n in (1, 2, 3)] == ["B", "C", "B"]
    phases = items["astronomy_test/2"]
    assert phases.choices[2] == "The changing fraction of the Moon's sunlit half that faces the Earth"
    assert "\n(Assume the mean Earth-Sun distance.)" in items["astronomy_test/3"].data["question"]


def test_mmlu_reads_one_file() -> None:
    items = MMLU().load(DATA / "mmlu" / "dev" / "astronomy_dev.csv")
    assert [(item.id, item.subject, item.target) for item in items] == [("astronomy_dev/1", "astronomy", "C")]


def test_ceval_reads_the_val_split() -> None:
    items = by_id(CEval().load(DATA / "ceval"))
    assert len(items) == 5
    routing = items["computer_network_val/0"]
    assert routing.subject == "computer_network"
    assert routing.choices == ("物理层", "数据链路层", "网络层", "传输层")
    assert routing.target == "C"
    assert items["high_school_physics_val/1"].target == "B"


def test_ceval_test_split_is_refused_for_having_no_answers() -> None:
    with pytest.raises(ConfigError, match=r"computer_network_test\.csv: no answers: C-Eval's test split"):
        CEval().load(DATA / "ceval" / "test")


def test_cmmlu_reads_the_test_directory() -> None:
    items = by_id(CMMLU().load(DATA / "cmmlu"))
    assert len(items) == 5
    assert items["agronomy/0"].subject == "agronomy"
    assert items["agronomy/0"].choices[0] == "《齐民要术》"
    assert [items[f"chinese_history/{n}"].target for n in (0, 1)] == ["A", "C"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


CEVAL_HEADER = "id,question,A,B,C,D,answer\n"
JSON_Q = '{"question": "Q", "choices": ["a", "b"], '


@pytest.mark.parametrize(
    ("suite", "name", "text", "error"),
    [
        (MMLU(), "x_test.csv", "Q1,a,b,c,d,A\nQ2,a,b,c,A\n", r"x_test\.csv:2: 5 columns"),
        (
            MMLU(),
            "x_test.csv",
            "Q1,a,b,c,d,A\nQ2,a,b,c,d,E\n",
            r"x_test\.csv:2: answer 'E' is not one",
        ),
        (
            MMLU(),
            "x_test.csv",
            'Q,a,b,c,d,A\n"Q2\nQ2",a,b,c,d,B\n,a,b,c,d,C\n',
            r"x_test\.csv:4: empty question",
        ),
        (CEval(), "x_val.csv", CEVAL_HEADER + "0,Q,a,b,c,d,A\n1,Q,a,b,c\n", r"x_val\.csv:3: 5 columns"),
        (CEval(), "x_val.csv", CEVAL_HEADER + "0,Q,a,b,c,d,\n", r"x_val\.csv: no answers"),
        (CEval(), "x_val.csv", CEVAL_HEADER, r"x_val\.csv: no questions"),
        (CMMLU(), "x.csv", "Q,A,B,C,D\n0,Q,a,b,c,d\n", r"x\.csv:1: expected a header"),
        (CMMLU(), "x.csv", ",Question,A,B,C,D,Answer\n0,Q,a,b,c,d,Z\n", r"x\.csv:2: answer 'Z'"),
        (MCQ(), "x.jsonl", JSON_Q + '"answer": 0}\n{"question": "Q"\n', r"x\.jsonl:2: not JSON"),
        (MCQ(), "x.jsonl", "\n" + JSON_Q + '"answer": 2}\n', r"x\.jsonl:2: answer 2"),
        (
            MCQ(),
            "x.jsonl",
            '{"question": "Q", "choices": "ab", "answer": "A"}',
            r"x\.jsonl:1: `choices` must be",
        ),
        (
            MCQ(),
            "x.jsonl",
            '{"question": "", "choices": ["a", "b"], "answer": "A"}',
            r"x\.jsonl:1: `question`",
        ),
        (MCQ(), "x.jsonl", ('{"id": 1, ' + JSON_Q[1:] + '"answer": "A"}\n') * 2, "share the id"),
        (MCQ(), "x.jsonl", "\n", r"x\.jsonl: no questions"),
    ],
    ids=lambda value: value if isinstance(value, str) and value.endswith(("csv", "jsonl")) else None,
)
def test_malformed_files_are_named_with_their_line(
    tmp_path: Path, suite: MMLU | CEval | CMMLU | MCQ, name: str, text: str, error: str
) -> None:
    with pytest.raises(ConfigError, match=error):
        suite.load(write(tmp_path / name, text))


def test_a_directory_without_data_files_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \*\.csv files in"):
        MMLU().load(tmp_path)
    with pytest.raises(ConfigError, match="no such file or directory"):
        MMLU().load(tmp_path / "missing")


def test_jsonl_answers_as_index_or_letter(tmp_path: Path) -> None:
    rows = [
        {"question": "What is 2 + 2?", "choices": ["3", "4", "5"], "answer": 1, "subject": "arithmetic"},
        {"id": "q2", "question": "中国的首都是？", "choices": ["上海", "北京"], "answer": "b"},
    ]
    path = write(tmp_path / "set.jsonl", "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    first, second = MCQ().load(path)
    assert (first.id, first.subject, first.target, first.choices) == (
        "set/1",
        "arithmetic",
        "B",
        ("3", "4", "5"),
    )
    assert (second.id, second.target, second.data["language"]) == ("q2", "B", "zh")


def test_mcq50_is_fifty_questions_half_chinese_answers_spread() -> None:
    items = MCQ().load(MCQ50)
    assert len(items) == 50
    assert all(len(item.choices) == 4 for item in items)
    assert 20 <= sum(is_chinese(str(item.data["question"])) for item in items) <= 30
    assert min(Counter(item.target for item in items).values()) >= 10
    assert len({item.data["question"] for item in items}) == 50


# -- generate --------------------------------------------------------------------------------------------


def test_english_prompt_asks_for_a_final_answer_line() -> None:
    item = MMLU().load(DATA / "mmlu" / "test" / "high_school_geography_test.csv")[0]
    assert item.prompt == (
        "Answer the following multiple choice question. The last line of your response should be of the "
        "following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by "
        "step before answering.\n\nWhich river flows through the most countries?\n\n"
        "A) The Amazon\nB) The Nile\nC) The Danube\nD) The Mississippi"
    )


def test_chinese_prompt_for_chinese_suites_and_questions(tmp_path: Path) -> None:
    item = CMMLU().load(DATA / "cmmlu" / "test" / "chinese_history.csv")[1]
    assert "“答案：X”" in item.prompt and "A、B、C、D" in item.prompt
    assert item.prompt.endswith("“贞观之治”出现在哪个朝代？\n\nA. 汉朝\nB. 隋朝\nC. 唐朝\nD. 宋朝")
    english = MCQ().load(
        write(tmp_path / "q.jsonl", '{"question": "Q?", "choices": ["a", "b"], "answer": 0}\n')
    )
    assert english[0].prompt.startswith("Answer the following") and "one of AB." in english[0].prompt
    assert english[0].prompt.endswith("\n\nQ?\n\nA) a\nB) b")


@pytest.mark.parametrize(
    ("content", "truncated", "correct", "extracted"),
    [
        ("<think>Sydney? no.</think>Canberra is the capital.\n\nAnswer: C", False, True, "C"),
        ("The Nile crosses eleven countries.\n\nAnswer: B", False, False, "B"),
        ("Let me list the rivers one by one: the Danube flows through", True, False, None),
    ],
)
def test_judge_reads_the_letter(content: str, truncated: bool, correct: bool, extracted: str | None) -> None:
    item = MMLU().load(DATA / "mmlu" / "test" / "high_school_geography_test.csv")[0]
    generation = Generation(content, finish_reason="length" if truncated else "stop")
    verdict = MMLU().judge(item, generation)
    assert (verdict.correct, verdict.extracted, verdict.truncated) == (correct, extracted, truncated)
    if extracted is None:
        assert verdict.detail == "no answer letter found (cut by max_tokens)"


def test_judge_ignores_the_reasoning_field() -> None:
    item = MCQ().item("q", "2 + 2 = ?", ["3", "4"], "B")
    assert MCQ().judge(item, Generation("", reasoning="Answer: B")).extracted is None


# -- loglikelihood ---------------------------------------------------------------------------------------


def test_mmlu_loglikelihood_is_lm_evals_zero_shot_context() -> None:
    item = MMLU().load(DATA / "mmlu" / "test" / "astronomy_test.csv")[0]
    requests = MMLU().loglikelihood(item)
    context = (
        "The following are multiple choice questions (with answers) about astronomy.\n\n"
        "Which planet in the Solar System has the shortest orbital period?\n"
        "A. Venus\nB. Mercury\nC. Mars\nD. Earth\nAnswer:"
    )
    assert list(requests) == [LoglikelihoodRequest(context, f" {letter}") for letter in "ABCD"]


def lm_eval_template(task: str) -> dict[str, object]:
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("lm-eval is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "tasks" / task
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.mark.parametrize(
    ("suite", "data", "template", "doc"),
    [
        (MMLU(), "mmlu/test/astronomy_test.csv", "mmlu/default/_default_template_yaml", "mmlu"),
        (CEval(), "ceval/val/computer_network_val.csv", "ceval/_default_ceval_yaml", "ceval"),
        (CMMLU(), "cmmlu/test/agronomy.csv", "cmmlu/_default_template_yaml", "cmmlu"),
    ],
)
def test_contexts_render_as_lm_evals_templates(
    suite: MMLU | CEval | CMMLU, data: str, template: str, doc: str
) -> None:
    """The context after the description is lm-eval's doc_to_text, and the options its doc_to_choice
    after its default target delimiter (a space)."""
    spec = lm_eval_template(template)
    item = suite.load(DATA / data)[0]
    question = str(item.data["question"])
    options = dict(zip("ABCD", item.choices, strict=True))
    fields = {
        "mmlu": {"question": question, "choices": list(item.choices)},
        "ceval": {"question": question, **options},
        "cmmlu": {"Question": question, **options},
    }[doc]
    expected = jinja2.Template(str(spec["doc_to_text"]), keep_trailing_newline=True).render(**fields)
    requests = suite.loglikelihood(item)
    assert requests[0].context == suite.description(item) + expected
    choices = spec["doc_to_choice"]
    assert isinstance(choices, list)
    assert [r.continuation for r in requests] == [f" {choice}" for choice in choices]


def test_text_scoring_scores_the_option_texts() -> None:
    english = MCQ(scoring="text").item("q", "What is 2 + 2?", ["3", "4"], "B")
    assert list(MCQ(scoring="text").loglikelihood(english)) == [
        LoglikelihoodRequest("Question: What is 2 + 2?\nAnswer:", " 3"),
        LoglikelihoodRequest("Question: What is 2 + 2?\nAnswer:", " 4"),
    ]
    chinese = MCQ(scoring="text").item("q", "中国的首都是？", ["上海", "北京"], "B")
    assert MCQ(scoring="text").loglikelihood(chinese)[1] == LoglikelihoodRequest(
        "问题：中国的首都是？\n答案：", " 北京"
    )


def test_unknown_scoring_is_refused() -> None:
    with pytest.raises(ConfigError, match="scoring"):
        MCQ(scoring="length")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("logprobs", "chosen"),
    [
        ([-2.0, -0.5, -3.0, -1.0], "B"),
        ([-1.0, -1.0, -2.0, -2.0], "A"),  # a tie: the first
        ([-9.0, -8.0, -7.0, -0.1], "D"),
        ([-5.0, -0.25, -0.25, -9.0], "B"),
    ],
)
def test_choose_takes_the_highest_log_probability(logprobs: list[float], chosen: str) -> None:
    item = MCQ().item("q", "Which?", ["w", "x", "y", "z"], "B")
    verdict = MCQ().choose(item, [Loglikelihood(lp) for lp in logprobs])
    assert verdict.extracted == chosen
    assert verdict.correct is (chosen == "B")
    assert verdict.detail.startswith(f"A={logprobs[0]:.3f} B=")


def test_choose_refuses_a_score_count_that_is_not_the_option_count() -> None:
    item = MCQ().item("q", "Which?", ["w", "x", "y", "z"], "B")
    with pytest.raises(ValueError, match="3 scores for 4 options"):
        MCQ().choose(item, [Loglikelihood(-1.0)] * 3)
