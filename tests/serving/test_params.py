"""``with_defaults``: a model's sampling defaults fill what a request leaves out, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from deepfort.catalog import embedded_spec
from deepfort.config import SamplingDefaults
from deepfort.protocol import ChatCompletionRequest, CompletionRequest
from deepfort.serving.params import sampling_params, with_defaults

MESSAGES = [{"role": "user", "content": "Hi"}]
DEFAULTS = SamplingDefaults(
    temperature=0.2, top_p=0.9, top_k=40, min_p=0.05, repetition_penalty=1.1, max_tokens=256
)
ALL = {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1}


def chat(**fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": MESSAGES, **fields})


def completion(**fields: Any) -> CompletionRequest:
    return CompletionRequest.model_validate({"model": "m", "prompt": "Hi", **fields})


def picked(request: ChatCompletionRequest | CompletionRequest, names: list[str]) -> dict[str, Any]:
    return {name: getattr(request, name) for name in names}


FIELDS = [*ALL, "max_tokens"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {**ALL, "max_tokens": 256}),
        # null is the same as absent: the client asks for the default
        ({"temperature": None, "max_tokens": None}, {**ALL, "max_tokens": 256}),
        ({"temperature": 0.0}, {**ALL, "temperature": 0.0, "max_tokens": 256}),  # 0 is a value, not unset
        ({"top_p": 1.0, "top_k": 0}, {**ALL, "top_p": 1.0, "top_k": 0, "max_tokens": 256}),
        ({"repetition_penalty": 1.0}, {**ALL, "repetition_penalty": 1.0, "max_tokens": 256}),
        ({"max_tokens": 8}, {**ALL, "max_tokens": 8}),
        # max_completion_tokens bounds the answer: max_tokens stays unset
        ({"max_completion_tokens": 8}, {**ALL, "max_tokens": None}),
    ],
    ids=["nothing", "nulls", "zero-temperature", "top-p-and-k", "penalty", "max-tokens", "max-completion"],
)
def test_chat_request_fields_left_out_take_the_defaults(
    given: dict[str, Any], expected: dict[str, Any]
) -> None:
    request = chat(**given)
    filled = with_defaults(request, DEFAULTS)
    assert picked(filled, FIELDS) == expected
    assert filled.max_completion_tokens == given.get("max_completion_tokens")


@pytest.mark.parametrize(
    ("given", "max_tokens"),
    [({}, 256), ({"max_tokens": 16}, 16), ({"max_tokens": None}, 256), ({"max_tokens": 3}, 3)],
    ids=["absent", "explicit-16", "null", "explicit"],
)
def test_completion_default_of_16_counts_as_left_out(given: dict[str, Any], max_tokens: int) -> None:
    filled = with_defaults(completion(**given), DEFAULTS)
    assert filled.max_tokens == max_tokens
    assert picked(filled, list(ALL)) == ALL


def test_partial_defaults_leave_openai_defaults_in_place() -> None:
    filled = with_defaults(chat(), SamplingDefaults(temperature=0.2))
    assert picked(filled, FIELDS) == {name: None for name in FIELDS} | {"temperature": 0.2}
    params = sampling_params(filled)
    assert (params.temperature, params.top_p, params.repetition_penalty) == (0.2, 1.0, 1.0)


@pytest.mark.parametrize("defaults", [None, SamplingDefaults()], ids=["none", "empty"])
def test_no_defaults_is_the_request_itself(defaults: SamplingDefaults | None) -> None:
    request = chat(temperature=0.7)
    assert with_defaults(request, defaults) is request


def test_the_request_is_not_changed() -> None:
    request = chat()
    filled = with_defaults(request, DEFAULTS)
    assert filled is not request and type(filled) is ChatCompletionRequest
    assert picked(request, FIELDS) == {name: None for name in FIELDS}
    assert filled.messages == request.messages and filled.model == "m"


def test_embedded_sampling_reaches_the_engine() -> None:
    params = sampling_params(with_defaults(chat(), embedded_spec().sampling_defaults))
    assert (params.temperature, params.top_p) == (0.2, 0.9)
