"""JSON output constraints as llama.cpp GBNF grammars (llama-cpp-python's JSON-schema converter)."""

from __future__ import annotations

import json

from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from deepfort.engines.base import StructuredOutput
from deepfort.errors import InvalidRequestError


def to_grammar(spec: StructuredOutput) -> str:
    if spec.schema is None:
        return str(JSON_GBNF)
    try:
        return str(json_schema_to_gbnf(json.dumps(spec.schema)))
    except Exception as exc:  # the converter raises bare Exceptions/ValueErrors for schemas it can't express
        raise InvalidRequestError(
            f"response_format json_schema is not supported: {exc}", param="response_format"
        ) from exc
