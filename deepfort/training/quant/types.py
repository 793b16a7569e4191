"""The quantization types ``deepfort quantize --type`` knows, as llama-quantize names them, mapped to
llama.cpp's ``LLAMA_FTYPE_MOSTLY_*``, and what a GGUF's ``general.file_type`` says it already is.

Only the types llama.cpp quantizes without an importance matrix are offered (the IQ1/IQ2 family and
Q2_K_S need one, and deepfort does not read imatrix files yet).
"""

from __future__ import annotations

from dataclasses import dataclass

import llama_cpp as lc

from deepfort.errors import ConfigError

__all__ = ["QUANT_TYPES", "UNQUANTIZED", "QuantType", "file_type_name", "parse_type"]


@dataclass(frozen=True, slots=True)
class QuantType:
    name: str
    ftype: int
    about: str


_TYPES = [
    QuantType("f32", lc.LLAMA_FTYPE_ALL_F32, "32-bit floats: no quantization"),
    QuantType("f16", lc.LLAMA_FTYPE_MOSTLY_F16, "16-bit floats: no loss from f32 in practice"),
    QuantType("bf16", lc.LLAMA_FTYPE_MOSTLY_BF16, "bfloat16: the range of f32, the size of f16"),
    QuantType("q8_0", lc.LLAMA_FTYPE_MOSTLY_Q8_0, "8.5 bits per weight: close to f16"),
    QuantType("q6_k", lc.LLAMA_FTYPE_MOSTLY_Q6_K, "6.6 bits per weight"),
    QuantType("q5_k_m", lc.LLAMA_FTYPE_MOSTLY_Q5_K_M, "about 5.7 bits per weight: a good trade-off"),
    QuantType("q5_k_s", lc.LLAMA_FTYPE_MOSTLY_Q5_K_S, "5.5 bits per weight"),
    QuantType("q5_1", lc.LLAMA_FTYPE_MOSTLY_Q5_1, "6 bits per weight (legacy)"),
    QuantType("q5_0", lc.LLAMA_FTYPE_MOSTLY_Q5_0, "5.5 bits per weight (legacy)"),
    QuantType("q4_k_m", lc.LLAMA_FTYPE_MOSTLY_Q4_K_M, "about 4.9 bits per weight: the usual default"),
    QuantType("q4_k_s", lc.LLAMA_FTYPE_MOSTLY_Q4_K_S, "4.5 bits per weight"),
    QuantType("q4_1", lc.LLAMA_FTYPE_MOSTLY_Q4_1, "5 bits per weight (legacy)"),
    QuantType("q4_0", lc.LLAMA_FTYPE_MOSTLY_Q4_0, "4.5 bits per weight (legacy): the most loss at 4 bits"),
    QuantType("iq4_xs", lc.LLAMA_FTYPE_MOSTLY_IQ4_XS, "4.25 bits per weight"),
    QuantType("iq4_nl", lc.LLAMA_FTYPE_MOSTLY_IQ4_NL, "4.5 bits per weight, non-linear"),
    QuantType("q3_k_l", lc.LLAMA_FTYPE_MOSTLY_Q3_K_L, "about 4.3 bits per weight"),
    QuantType("q3_k_m", lc.LLAMA_FTYPE_MOSTLY_Q3_K_M, "about 3.9 bits per weight"),
    QuantType("q3_k_s", lc.LLAMA_FTYPE_MOSTLY_Q3_K_S, "3.4 bits per weight"),
    QuantType("iq3_m", lc.LLAMA_FTYPE_MOSTLY_IQ3_M, "3.7 bits per weight"),
    QuantType("iq3_s", lc.LLAMA_FTYPE_MOSTLY_IQ3_S, "3.4 bits per weight"),
    QuantType("q2_k", lc.LLAMA_FTYPE_MOSTLY_Q2_K, "about 2.6 bits per weight: large loss"),
]

QUANT_TYPES: dict[str, QuantType] = {t.name: t for t in _TYPES}
"""By lower-case name, best to smallest."""

UNQUANTIZED = frozenset({lc.LLAMA_FTYPE_ALL_F32, lc.LLAMA_FTYPE_MOSTLY_F16, lc.LLAMA_FTYPE_MOSTLY_BF16})
"""File types whose weights are still floats: quantizing them rounds once."""

# Every named LLAMA_FTYPE_* of the binding, for naming what an input file already is.
_FTYPE_NAMES: dict[int, str] = {
    int(getattr(lc, attr)): attr.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_").removeprefix("ALL_")
    for attr in dir(lc)
    if attr.startswith("LLAMA_FTYPE_") and attr != "LLAMA_FTYPE_GUESSED"
}


def parse_type(name: str) -> QuantType:
    """The type called ``name`` (any case); an unknown name is refused with the list of known ones."""
    found = QUANT_TYPES.get(name.strip().lower())
    if found is None:
        raise ConfigError(f"unknown quantization type {name!r}; known: {', '.join(QUANT_TYPES)}")
    return found


def file_type_name(ftype: int) -> str:
    """``Q4_1`` for 3: llama.cpp's name of a ``general.file_type``."""
    return _FTYPE_NAMES.get(ftype, f"type {ftype}")
