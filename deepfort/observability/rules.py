"""Load a Prometheus alerting rule file for the built-in evaluator.

The same file Prometheus loads (``deploy/prometheus/alerts.yml``; the packaged copy is
``deepfort/observability/rules/alerts.yml``). Only alerting rules are taken, with ``expr``, ``for``,
``labels`` and ``annotations``; annotation templates may use ``{{ $labels.<name> }}`` and
``{{ $value | humanize }}`` or ``{{ $value | humanizePercentage }}`` (a bare ``$value`` prints
Go's ``%v``, which this module does not imitate). Anything else raises
:class:`RuleError` naming the rule, rather than being evaluated differently from Prometheus.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from deepfort.observability import promql

_RULE_KEYS = {"alert", "expr", "for", "labels", "annotations"}
_GROUP_KEYS = {"name", "rules"}
_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_LABEL = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")
_VALUE = re.compile(r"\$value\s*\|\s*(humanize|humanizePercentage)")


class RuleError(ValueError):
    """A rule file the built-in evaluator cannot read or does not support."""


def packaged_rules() -> Path:
    """The rule file shipped inside the package (a copy of ``deploy/prometheus/alerts.yml``)."""
    return Path(str(resources.files("deepfort.observability") / "rules" / "alerts.yml"))


@dataclass(frozen=True)
class Template:
    """A parsed annotation: literal text and ``("label", name)`` / ``("value", filter)`` actions."""

    parts: tuple[str | tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[str | tuple[str, str]] = []
        pos = 0
        for match in _ACTION.finditer(text):
            parts.append(text[pos : match.start()])
            action = match.group(1)
            if label := _LABEL.fullmatch(action):
                parts.append(("label", label.group(1)))
            elif value := _VALUE.fullmatch(action):
                parts.append(("value", value.group(1)))
            else:
                raise ValueError(
                    f"template action {{{{ {action} }}}} is not supported (only $labels.<name>, "
                    "$value | humanize and $value | humanizePercentage)"
                )
            pos = match.end()
        parts.append(text[pos:])
        return cls(tuple(p for p in parts if p != ""))

    def expand(self, labels: Mapping[str, str], value: float) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part[0] == "label":
                out.append(labels.get(part[1], ""))  # Prometheus expands with missingkey=zero
            else:
                out.append(_format_value(value, part[1]))
        return "".join(out)


def _format_value(value: float, how: str) -> str:
    """Prometheus's template functions, as Go formats them (``%.4g`` with SI prefixes)."""
    if how == "humanizePercentage":
        return f"{_go_g(value * 100)}%"
    if value == 0 or math.isinf(value) or math.isnan(value):
        return _go_g(value)
    prefix = ""
    if abs(value) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix, value = p, value / 1000
    else:
        for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(value) >= 1:
                break
            prefix, value = p, value * 1000
    return f"{_go_g(value)}{prefix}"


def _go_g(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"  # Python's %.4g rounds and switches to an exponent like Go's


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr_text: str
    expr: promql.Expr
    for_s: float
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, Template], ...]


def _rule(raw: object, where: str) -> AlertRule:
    if not isinstance(raw, dict):
        raise RuleError(f"{where}: a rule must be a mapping")
    if "record" in raw:
        raise RuleError(
            f"{where}: recording rule {raw['record']!r} is not supported by the built-in evaluator"
        )
    name = raw.get("alert")
    if not isinstance(name, str) or not name:
        raise RuleError(f"{where}: a rule needs `alert: <name>`")
    where = f"{where} (alert {name!r})"
    if unknown := set(raw) - _RULE_KEYS:
        raise RuleError(f"{where}: unsupported keys {sorted(unknown)}")
    expr_text = raw.get("expr")
    if not isinstance(expr_text, str | int | float):
        raise RuleError(f"{where}: `expr` must be a PromQL expression")
    try:
        expr = promql.parse(str(expr_text))
        for_s = promql.parse_duration(str(raw.get("for", "0s")))
    except promql.PromQLError as exc:
        raise RuleError(f"{where}: {exc}") from exc
    labels = raw.get("labels") or {}
    annotations = raw.get("annotations") or {}
    if not isinstance(labels, dict) or not isinstance(annotations, dict):
        raise RuleError(f"{where}: `labels` and `annotations` must be mappings")
    for key, value in labels.items():
        if "{{" in str(value):
            raise RuleError(f"{where}: templated label {key!r} is not supported")
    try:
        templates = tuple((str(k), Template.parse(str(v))) for k, v in sorted(annotations.items()))
    except ValueError as exc:
        raise RuleError(f"{where}: {exc}") from exc
    return AlertRule(
        name=name,
        expr_text=str(expr_text),
        expr=expr,
        for_s=for_s,
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        annotations=templates,
    )


def load_rules(path: Path) -> list[AlertRule]:
    """Every alerting rule of a Prometheus rule file, in file order."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise RuleError(f"{path}: expected a mapping with a `groups` list")
    rules: list[AlertRule] = []
    for g, group in enumerate(data["groups"]):
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            raise RuleError(f"{path}: group {g} needs a `rules` list")
        if unknown := set(group) - _GROUP_KEYS:
            raise RuleError(f"{path}: group {group.get('name')!r}: unsupported keys {sorted(unknown)}")
        for r, raw in enumerate(group["rules"]):
            rules.append(_rule(raw, f"{path}: group {group.get('name')!r} rule {r}"))
    return rules
