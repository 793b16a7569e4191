"""Reports and comparisons as one self-contained HTML page: inline CSS and hand-written SVG bar charts,
no script and nothing fetched, so the file can be mailed, archived or served by the API as it is.

Charts: a bar per suite (score, 0-100 %), a bar per subject of each suite that has subjects; for a
comparison, a bar per suite and subject from zero to the delta with its confidence interval as a
whisker, then the questions that flipped.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["comparison_html", "delta_chart", "report_html", "score_chart"]

_LABEL_W = 230
_BAR_W = 420
_ROW_H = 22
_VALUE_W = 110
_GOOD, _BAD, _BAR, _MUTED = "#2e7d32", "#c62828", "#3b6fb6", "#777"

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", "PingFang SC", sans-serif;
       color: #1d1d1f; margin: 2rem auto; max-width: 980px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.meta { color: #555; margin-bottom: 1.5rem; }
code { background: #f2f2f4; padding: 0 .25rem; border-radius: 3px; }
table { border-collapse: collapse; margin: .5rem 0 1rem; width: 100%; font-size: 13px; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #e4e4e7; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f7f7f8; font-weight: 600; }
th.text, td.text { text-align: left; max-width: 22rem; overflow-wrap: anywhere; }
th.left, td.left { text-align: left; white-space: nowrap; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", "Noto Sans", sans-serif; }
.good { color: #2e7d32; } .bad { color: #c62828; } .muted { color: #777; }
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _pct(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, float | int) else "-"


def _num(value: object, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, float | int) else "-"


def _clip(label: str, width: int = 34) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def score_chart(rows: Sequence[tuple[str, float, str]], title: str) -> str:
    """Horizontal bars from 0 to 100 %: ``(label, score 0..1, text shown after the bar)`` per row."""
    height = _ROW_H * len(rows) + 34
    width = _LABEL_W + _BAR_W + _VALUE_W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{_e(title)}</title>'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = _LABEL_W + tick * _BAR_W
        parts.append(f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 24}" stroke="#e4e4e7"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" fill="{_MUTED}">{tick:.0%}</text>'
        )
    for i, (label, value, note) in enumerate(rows):
        y = 6 + i * _ROW_H
        w = max(0.0, min(1.0, value)) * _BAR_W
        parts.append(
            f'<text x="{_LABEL_W - 8}" y="{y + 14}" text-anchor="end"><title>{_e(label)}</title>'
            f"{_e(_clip(label))}</text>"
        )
        parts.append(
            f'<rect x="{_LABEL_W}" y="{y + 2}" width="{w:.1f}" height="{_ROW_H - 6}" fill="{_BAR}" rx="2"/>'
        )
        parts.append(f'<text x="{_LABEL_W + w + 6:.1f}" y="{y + 14}">{_e(note)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def delta_chart(rows: Sequence[tuple[str, float, float, float]], title: str) -> str:
    """Bars from zero to each delta with its interval as a whisker: ``(label, delta, low, high)``, all
    in score units (-1..1), drawn in points on a symmetric axis."""
    reach = max([0.05, *(max(abs(lo), abs(hi), abs(d)) for _, d, lo, hi in rows)])
    reach = min(1.0, reach * 1.1)
    height = _ROW_H * len(rows) + 34
    width = _LABEL_W + _BAR_W + _VALUE_W + 90  # the delta and its interval
    zero = _LABEL_W + _BAR_W / 2

    def x(value: float) -> float:
        return zero + value / reach * (_BAR_W / 2)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{_e(title)}</title>'
    ]
    for tick in (-reach, -reach / 2, 0.0, reach / 2, reach):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="4" x2="{x(tick):.1f}" y2="{height - 24}" '
            f'stroke="{"#999" if tick == 0 else "#e4e4e7"}"/>'
        )
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 8}" text-anchor="middle" fill="{_MUTED}">'
            f"{tick * 100:+.0f}</text>"
        )
    for i, (label, delta, low, high) in enumerate(rows):
        y = 6 + i * _ROW_H
        significant = low > 0 or high < 0
        colour = (_GOOD if delta > 0 else _BAD) if significant else "#9aa5b1"
        left, right = sorted((x(0.0), x(delta)))
        parts.append(
            f'<text x="{_LABEL_W - 8}" y="{y + 14}" text-anchor="end"><title>{_e(label)}</title>'
            f"{_e(_clip(label))}</text>"
        )
        parts.append(
            f'<rect x="{left:.1f}" y="{y + 4}" width="{max(right - left, 1):.1f}" height="{_ROW_H - 10}" '
            f'fill="{colour}" rx="2"/>'
        )
        mid = y + _ROW_H / 2
        whisker = [(x(low), mid, x(high), mid), (x(low), mid - 5, x(low), mid + 5)]
        whisker.append((x(high), mid - 5, x(high), mid + 5))
        for x1, y1, x2, y2 in whisker:
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#333"/>')
        parts.append(
            f'<text x="{_LABEL_W + _BAR_W + 8}" y="{y + 14}">{delta * 100:+.1f} '
            f'<tspan fill="{_MUTED}">[{low * 100:+.1f}, {high * 100:+.1f}]</tspan></text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _page(title: str, body: Sequence[str]) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _params(params: Mapping[str, Any]) -> str:
    shown = [f"{_e(k)} <code>{_e(v)}</code>" for k, v in params.items() if k != "model" and v is not None]
    return ", ".join(shown) or "server defaults"


def report_html(report: Mapping[str, Any]) -> str:
    """The report of :func:`deepfort.evals.report.build_report` as a page."""
    suites: Mapping[str, Any] = report["suites"]
    body = [
        f"<h1>Eval report: {_e(report.get('model'))}</h1>",
        f'<p class="meta">Run file <code>{_e(report.get("run_file"))}</code>; '
        f"{_params(report.get('params') or {})}.</p>",
    ]
    if not suites:
        body.append("<p>No answers yet.</p>")
        return _page(f"eval {report.get('model')}", body)
    rows = [
        (name, float(s["score"]), f"{s['score']:.1%} {s['metric']} (n={s['n']})")
        for name, s in suites.items()
    ]
    body += ["<h2>Score per suite</h2>", score_chart(rows, "score per suite")]
    body.append(
        '<table><tr><th>suite</th><th class="left">mode</th><th>score</th><th class="left">metric</th>'
        "<th>n</th><th>samples</th><th>unparsed</th>"
        '<th>truncated</th><th title="mean reasoning tokens">reasoning tok</th>'
        '<th title="mean answer tokens">answer tok</th><th title="questions per minute">q/min</th>'
        '<th title="requests per second">req/s</th></tr>'
    )
    for name, s in suites.items():
        body.append(
            f'<tr><td>{_e(name)}</td><td class="left">{_e(s["mode"])}</td><td>{_pct(s["score"])}</td>'
            f'<td class="left">{_e(s["metric"])}</td>'
            f"<td>{s['n']}</td><td>{s['samples']}</td><td>{_pct(s['unparsed_rate'])}</td>"
            f"<td>{_pct(s['truncated_rate'])}</td><td>{_num(s['mean_reasoning_tokens'])}</td>"
            f"<td>{_num(s['mean_answer_tokens'])}</td><td>{_num(s['questions_per_minute'], 1)}</td>"
            f"<td>{_num(s['requests_per_second'], 2)}</td></tr>"
        )
    body.append("</table>")
    if any(s.get("tokens_estimated") for s in suites.values()):
        body.append(
            '<p class="muted">Token counts partly estimated from characters (no count from the server).</p>'
        )
    for name, s in suites.items():
        pass_at_k = s.get("pass_at_k") or {}
        if len(pass_at_k) > 1:
            cells = "".join(f"<td>{_pct(v)}</td>" for v in pass_at_k.values())
            heads = "".join(f"<th>{_e(k)}</th>" for k in pass_at_k)
            body.append(f"<h2>{_e(name)}: pass@k</h2><table><tr><th>suite</th>{heads}</tr>")
            body.append(f"<tr><td>{_e(name)}</td>{cells}</tr></table>")
    for name, s in suites.items():
        subjects: Mapping[str, Any] = s.get("subjects") or {}
        if not subjects:
            continue
        rows = [
            (subject, float(v["score"]), f"{v['score']:.1%} (n={v['n']})") for subject, v in subjects.items()
        ]
        body += [f"<h2>{_e(name)} by subject</h2>", score_chart(rows, f"{name} by subject")]
    return _page(f"eval {report.get('model')}", body)


def _answered(flip: Mapping[str, Any], side: str) -> str:
    """What a run answered to a flipped question: the answer read, or with several samples how many were
    right (the first sample's answer may not be the majority's)."""
    samples = int(flip.get(f"{side}_samples") or 1)
    if samples > 1:
        return f"{flip.get(f'{side}_right', 0)}/{samples} right"
    answer = flip.get(side)
    return "(unparsed)" if answer is None else str(answer)


def comparison_html(comparison: Mapping[str, Any], *, flips: int = 200) -> str:
    """The comparison of :func:`deepfort.evals.compare.compare_runs` as a page."""
    a, b = comparison["a"], comparison["b"]
    level = f"{comparison['confidence']:.0%}"
    suites: Mapping[str, Any] = comparison["suites"]
    body = [
        f"<h1>Eval comparison: {_e(a['model'])} → {_e(b['model'])}</h1>",
        f'<p class="meta">A <code>{_e(a["run_file"])}</code> ({_params(a["params"])})<br>'
        f"B <code>{_e(b['run_file'])}</code> ({_params(b['params'])})<br>"
        f"Deltas in points (B − A), {level} paired bootstrap intervals over questions "
        f"({comparison['resamples']:,} resamples, seed {comparison['seed']}).</p>",
    ]
    if not suites:
        body.append("<p>The two runs share no suite.</p>")
        return _page("eval comparison", body)
    rows = [(name, s["delta"], s["ci_low"], s["ci_high"]) for name, s in suites.items()]
    body += ["<h2>Delta per suite</h2>", delta_chart(rows, "delta per suite")]
    body.append(
        f"<table><tr><th>suite</th><th>n</th><th>A</th><th>B</th><th>delta</th><th>{level} CI</th>"
        "<th>right → wrong</th><th>wrong → right</th></tr>"
    )
    for name, s in suites.items():
        css = ("good" if s["delta"] > 0 else "bad") if s["significant"] else ""
        body.append(
            f"<tr><td>{_e(name)}</td><td>{s['n']}</td><td>{_pct(s['score_a'])}</td><td>{_pct(s['score_b'])}</td>"
            f'<td class="{css}">{s["delta"] * 100:+.1f}</td>'
            f"<td>[{s['ci_low'] * 100:+.1f}, {s['ci_high'] * 100:+.1f}]</td>"
            f"<td>{len(s['flipped']['right_to_wrong'])}</td><td>{len(s['flipped']['wrong_to_right'])}</td></tr>"
        )
    body.append("</table>")
    for name, s in suites.items():
        subjects: Mapping[str, Any] = s.get("subjects") or {}
        if subjects:
            rows = [(subject, v["delta"], v["ci_low"], v["ci_high"]) for subject, v in subjects.items()]
            body += [f"<h2>{_e(name)}: delta by subject</h2>", delta_chart(rows, f"{name} delta by subject")]
    for name, s in suites.items():
        for kind, label in (("right_to_wrong", "right → wrong"), ("wrong_to_right", "wrong → right")):
            flipped = s["flipped"][kind]
            if not flipped:
                continue
            body.append(f"<h2>{_e(name)}: {len(flipped)} flipped {label}</h2>")
            heads = ("question", "subject", "gold", "A answered", "B answered")
            body.append("<table><tr>" + "".join(f'<th class="text">{h}</th>' for h in heads) + "</tr>")
            for f in flipped[:flips]:
                cells = (f["item"], f["subject"], f["target"], _answered(f, "a"), _answered(f, "b"))
                body.append("<tr>" + "".join(f'<td class="text">{_e(c)}</td>' for c in cells) + "</tr>")
            body.append("</table>")
            if len(flipped) > flips:
                body.append(f'<p class="muted">and {len(flipped) - flips} more (see --json).</p>')
    return _page("eval comparison", body)
