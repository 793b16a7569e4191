"""A parser for the subset of PromQL that deepfort's alert rules use.

Supported: number literals, vector selectors with ``= != =~ !~`` matchers, range selectors
(``x[5m]``), the functions in :data:`FUNCTIONS`, the aggregations in :data:`AGGREGATIONS` with
``by``/``without``, arithmetic (``+ - * / % ^``), comparisons (``== != > < >= <=``) and ``and``,
``or``, ``unless`` with Prometheus's precedence. Anything else (``offset``, ``@``, subqueries,
``bool``, ``on``/``ignoring``, ``group_left``, other functions) raises :class:`PromQLError` naming it,
so a rule file never silently means something else here than in Prometheus.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

FUNCTIONS = (
    "rate",
    "increase",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "histogram_quantile",
    "vector",
    "absent",
)
AGGREGATIONS = ("sum", "avg", "min", "max", "count")
COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")
SET_OPS = ("and", "or", "unless")
# Binding power, lowest first, as in Prometheus.
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    **dict.fromkeys(COMPARISONS, 3),
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "^": 6,
}
_UNSUPPORTED_KEYWORDS = ("offset", "bool", "on", "ignoring", "group_left", "group_right", "atan2")
_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


class PromQLError(ValueError):
    """An expression this subset cannot parse or does not support."""


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = re.fullmatch(self.value, value) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class VectorSelector:
    name: str | None
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class MatrixSelector:
    vector: VectorSelector
    range_s: float


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Aggregate:
    op: str
    expr: Expr
    grouping: tuple[str, ...]
    without: bool


@dataclass(frozen=True)
class Binary:
    op: str
    lhs: Expr
    rhs: Expr


Expr = Number | VectorSelector | MatrixSelector | Call | Aggregate | Binary


def parse_duration(text: str) -> float:
    """``5m``, ``1h30m``, ``0s`` -> seconds."""
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise PromQLError(f"not a duration: {text!r}")
    return total


_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![\w:]))
    |(?P<duration>\[[^\]]*\])
    |(?P<bare_duration>\d+(?:ms|s|m|h|d|w|y)\b)
    |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    |(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    |(?P<op>==|!=|<=|>=|=~|!~|[-+*/%^<>=(){},@])""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise PromQLError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def next(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> _Token:
        token = self.next()
        if token.text != text:
            raise PromQLError(f"expected {text!r} at position {token.pos}, found {token.text or 'the end'!r}")
        return token

    def binary_op(self) -> str | None:
        token = self.peek()
        if token.kind in ("op", "ident") and token.text in _PRECEDENCE:
            return token.text
        return None

    def expr(self, min_prec: int = 1) -> Expr:
        lhs = self.unary()
        while (op := self.binary_op()) is not None and _PRECEDENCE[op] >= min_prec:
            self.next()
            if self.peek().text in _UNSUPPORTED_KEYWORDS:
                raise PromQLError(f"{self.peek().text!r} is not supported (position {self.peek().pos})")
            # `^` is right-associative, everything else left-associative.
            rhs = self.expr(_PRECEDENCE[op] + (0 if op == "^" else 1))
            lhs = Binary(op, lhs, rhs)
        return lhs

    def unary(self) -> Expr:
        if self.peek().text in ("-", "+"):
            sign = self.next().text
            # Binds tighter than `*` but looser than `^`, as in Prometheus: -2^2 == -4.
            operand = self.expr(_PRECEDENCE["^"])
            if sign == "+":
                return operand
            if isinstance(operand, Number):
                return Number(-operand.value)
            return Binary("-", Number(0.0), operand)
        return self.postfix(self.primary())

    def postfix(self, expr: Expr) -> Expr:
        token = self.peek()
        if token.kind == "duration":
            self.next()
            if not isinstance(expr, VectorSelector):
                raise PromQLError(
                    f"a range (or subquery) applies to a plain selector only (position {token.pos})"
                )
            inner = token.text[1:-1].strip()
            if ":" in inner:
                raise PromQLError(f"subqueries are not supported (position {token.pos})")
            expr = MatrixSelector(expr, parse_duration(inner))
            token = self.peek()
        if token.text in ("offset", "@"):
            raise PromQLError(f"{token.text!r} is not supported (position {token.pos})")
        return expr

    def primary(self) -> Expr:
        token = self.next()
        if token.kind == "number":
            return Number(float(token.text))
        if token.text == "(":
            inner = self.expr()
            self.expect(")")
            return inner
        if token.text == "{":
            return VectorSelector(None, self.matchers())
        if token.kind != "ident":
            raise PromQLError(f"unexpected {token.text or 'end of expression'!r} at position {token.pos}")
        name = token.text
        if name in ("Inf", "inf", "NaN", "nan"):
            return Number(math.inf if name.lower() == "inf" else math.nan)
        if name in AGGREGATIONS:
            return self.aggregation(name)
        if self.peek().text == "(":
            if name not in FUNCTIONS:
                raise PromQLError(
                    f"function {name!r} is not supported (position {token.pos}); "
                    f"supported: {', '.join(FUNCTIONS)}"
                )
            return Call(name, self.call_args())
        if name in _UNSUPPORTED_KEYWORDS or name in SET_OPS:
            raise PromQLError(f"unexpected {name!r} at position {token.pos}")
        if self.peek().text != "{":
            return VectorSelector(name, ())
        self.next()
        return VectorSelector(name, self.matchers())

    def call_args(self) -> tuple[Expr, ...]:
        self.expect("(")
        args: list[Expr] = []
        while self.peek().text != ")":
            if self.peek().kind == "string":
                raise PromQLError(f"string arguments are not supported (position {self.peek().pos})")
            args.append(self.expr())
            if self.peek().text != ",":
                break
            self.next()
        self.expect(")")
        return tuple(args)

    def matchers(self) -> tuple[Matcher, ...]:
        """Matchers after an opening ``{`` (already consumed) up to and including ``}``."""
        found: list[Matcher] = []
        while self.peek().text != "}":
            label = self.next()
            if label.kind != "ident":
                raise PromQLError(f"expected a label name at position {label.pos}")
            op = self.next()
            if op.text not in ("=", "!=", "=~", "!~"):
                raise PromQLError(f"expected a label matcher operator at position {op.pos}")
            value = self.next()
            if value.kind != "string":
                raise PromQLError(f"expected a quoted label value at position {value.pos}")
            found.append(Matcher(label.text, op.text, _unquote(value.text)))  # type: ignore[arg-type]
            if self.peek().text != ",":
                break
            self.next()
        self.expect("}")
        return tuple(found)

    def grouping(self) -> tuple[str, ...]:
        self.expect("(")
        labels: list[str] = []
        while self.peek().text != ")":
            token = self.next()
            if token.kind != "ident":
                raise PromQLError(f"expected a label name at position {token.pos}")
            labels.append(token.text)
            if self.peek().text != ",":
                break
            self.next()
        self.expect(")")
        return tuple(labels)

    def aggregation(self, op: str) -> Aggregate:
        grouping: tuple[str, ...] = ()
        without = False
        if self.peek().text in ("by", "without"):
            without = self.next().text == "without"
            grouping = self.grouping()
        args = self.call_args()
        if self.peek().text in ("by", "without"):
            if grouping:
                raise PromQLError(f"{op}: grouping given twice")
            without = self.next().text == "without"
            grouping = self.grouping()
        if len(args) != 1:
            raise PromQLError(f"{op} takes one argument, got {len(args)}")
        return Aggregate(op, args[0], grouping, without)


def parse(text: str) -> Expr:
    """Parse one expression of the supported subset; :class:`PromQLError` on anything else."""
    parser = _Parser(text)
    expr = parser.expr()
    token = parser.peek()
    if token.kind != "end":
        raise PromQLError(f"unexpected {token.text!r} at position {token.pos}")
    _check(expr)
    return expr


def _check(expr: Expr) -> None:
    """Argument types of the supported functions, checked once at load time."""
    if isinstance(expr, Binary):
        _check(expr.lhs)
        _check(expr.rhs)
    elif isinstance(expr, Aggregate):
        _check(expr.expr)
    elif isinstance(expr, MatrixSelector):
        raise PromQLError(
            "a range selector is only allowed as the argument of a *_over_time, rate or increase"
        )
    elif isinstance(expr, Call):
        args = expr.args
        if expr.func in ("rate", "increase") or expr.func.endswith("_over_time"):
            if len(args) != 1 or not isinstance(args[0], MatrixSelector):
                raise PromQLError(f"{expr.func} takes one range selector, e.g. {expr.func}(x[5m])")
        elif expr.func == "histogram_quantile":
            if len(args) != 2 or not isinstance(args[0], Number):
                raise PromQLError("histogram_quantile takes a number and a vector")
            _check(args[1])
        elif expr.func == "vector":
            if len(args) != 1 or not isinstance(args[0], Number):
                raise PromQLError("vector takes one number")
        elif expr.func == "absent":
            if len(args) != 1:
                raise PromQLError("absent takes one vector")
            _check(args[0])


def ranges(expr: Expr) -> list[float]:
    """Every range (seconds) the expression reads, to check it fits the sample buffer."""
    if isinstance(expr, MatrixSelector):
        return [expr.range_s]
    if isinstance(expr, Binary):
        return ranges(expr.lhs) + ranges(expr.rhs)
    if isinstance(expr, Aggregate):
        return ranges(expr.expr)
    if isinstance(expr, Call):
        return [r for arg in expr.args for r in ranges(arg)]
    return []
