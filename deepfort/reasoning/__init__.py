"""Reasoning parsers: split ``<think>``-style reasoning from answer content in streamed model output.

Look a parser up by name with :func:`get_parser`; importing this package registers the built-in ones.
"""

from __future__ import annotations

from deepfort.reasoning.base import (
    ReasoningDelta,
    ReasoningParser,
    UnknownReasoningParserError,
    get_parser,
    parser_names,
    register_parser,
)
from deepfort.reasoning.deepseek_r1 import DeepSeekR1ReasoningParser

__all__ = [
    "DeepSeekR1ReasoningParser",
    "ReasoningDelta",
    "ReasoningParser",
    "UnknownReasoningParserError",
    "get_parser",
    "parser_names",
    "register_parser",
]
