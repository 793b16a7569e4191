"""Reasoning parsers: split ``<think>``-style reasoning from answer content in streamed model output.

Look a parser up by name with :func:`get_parser`; importing this package registers the built-in ones, and an
installed package adds its own through the entry point group ``deepfort.reasoning_parsers``.
"""

from __future__ import annotations

from deepfort.reasoning.base import (
    PARSERS,
    ReasoningDelta,
    ReasoningParser,
    UnknownReasoningParserError,
    get_parser,
    parser_names,
    register_parser,
)
from deepfort.reasoning.deepseek_r1 import DeepSeekR1ReasoningParser

__all__ = [
    "PARSERS",
    "DeepSeekR1ReasoningParser",
    "ReasoningDelta",
    "ReasoningParser",
    "UnknownReasoningParserError",
    "get_parser",
    "parser_names",
    "register_parser",
]
