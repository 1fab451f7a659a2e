"""Terminal output: a status line, the model in two lines when the run holds one, the main loss as a
sparkline with the onset marked, ranked causes with a confidence bar, evidence with its sources, the fix.

Layout rules, so it reads well at 80 columns, piped, or with ``NO_COLOR``:
every paragraph wraps at word boundaries under a hanging indent; a source
(``train.log:4123``) is never split: it goes at the right end of the evidence
line when it fits there, else right-aligned on the line below; colour and bold
only underline what the words already say (rich drops them when the output is
not a terminal or ``NO_COLOR`` is set).
"""

from __future__ import annotations

import math

import numpy as np
from rich.console import Console
from rich.text import Text

from ..diagnosis import Diagnosis, model_lines, model_section
from ..findings import Evidence
from ..run import Series, display_name, fmt_num, fmt_step
from .common import axis_range, sources_line, status_word, step_text, symptom_marks

SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
STATUS_STYLE = {"healthy": "bold green", "diagnosis_complete": "bold red", "needs_more_data": "bold yellow"}
SPARK = "▁▂▃▄▅▆▇█"
NONFINITE = "×"
INDENT = 5


def confidence_bar(c: float, width: int = 10) -> str:
    full = max(0, min(width, round(c * width)))
    return "█" * full + "░" * (width - full)


def spark_buckets(steps: np.ndarray, width: int) -> np.ndarray:
    """The sparkline column of each point: by step, or by position when steps leave columns empty."""
    n = steps.size
    lo, hi = float(steps[0]), float(steps[-1])
    b = np.minimum(((steps - lo) / ((hi - lo) or 1.0) * width).astype(np.int64), width - 1)
    if np.unique(b).size < width:  # irregular or sparse steps: equal-count columns read better than gaps
        b = np.arange(n, dtype=np.int64) * width // n
    return b


def sparkline(values: np.ndarray, width: int = 48, mark: int | None = None, steps: np.ndarray | None = None) -> str:
    """A one-line curve: median per column, ``×`` where a column holds a non-finite value.

    A far outlying tail (a blow-up to 1e24) is cut like the plots' axes so the
    rest of the curve keeps its shape; a curve spanning orders of magnitude is
    drawn in log. ``mark`` (a column) is drawn as ``│`` when given.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n < 2:
        return ""
    width = max(2, min(width, n))
    st = np.arange(n, dtype=np.float64) if steps is None else np.asarray(steps, dtype=np.float64)
    b = spark_buckets(st, width)
    fin = np.isfinite(v)
    pts: list[float | None] = []
    bad = np.zeros(width, dtype=bool)
    bad[b[~fin]] = True
    edges = np.searchsorted(b, np.arange(width + 1))
    for j in range(width):
        seg = v[edges[j] : edges[j + 1]]
        seg = seg[np.isfinite(seg)]
        pts.append(float(np.median(seg)) if seg.size else None)
    vals = np.array([p for j, p in enumerate(pts) if p is not None and not bad[j]])
    if not vals.size:
        return "".join(NONFINITE if bad[j] else " " for j in range(width))
    log, top = axis_range([vals])
    lo = float(vals.min())
    hi = top if top is not None else float(vals.max())

    def level(p: float) -> int:
        if p >= hi:
            return len(SPARK) - 1
        if log:
            t = (math.log10(p) - math.log10(lo)) / ((math.log10(hi) - math.log10(lo)) or 1.0)
        else:
            t = (p - lo) / ((hi - lo) or 1.0)
        return max(0, min(len(SPARK) - 1, int(t * (len(SPARK) - 1) + 0.5)))

    chars = []
    for j, p in enumerate(pts):
        if bad[j]:
            chars.append(NONFINITE)
        elif p is None:
            chars.append(" ")
        else:
            chars.append(SPARK[level(p)])
    if mark is not None and 0 <= mark < len(chars):
        chars[mark] = "│"
    return "".join(chars)


def _bucket_of(s: Series, step: float, width: int) -> int:
    """The sparkline column of the point at (or just after) ``step``."""
    w = max(2, min(width, len(s)))
    b = spark_buckets(np.asarray(s.steps, dtype=np.float64), w)
    i = min(len(s) - 1, int(np.searchsorted(s.steps, step)))
    return int(b[i])


def _wrap(console: Console, text: Text, indent: int, first: str = "", rest: str | None = None) -> None:
    """Print ``text`` wrapped at word boundaries under a hanging indent, without trailing spaces.

    ``first`` is printed before the first line (after the indent) and ``rest``
    (spaces of the same width by default) before the others.
    """
    rest = " " * len(first) if rest is None else rest
    avail = max(16, console.width - indent - len(first))
    lines = text.wrap(console, avail, overflow="fold")
    for i, line in enumerate(lines):
        line.rstrip()
        t = Text(" " * indent + (first if i == 0 else rest))
        t.append_text(line)
        console.print(t, no_wrap=True, crop=False)


def _para(console: Console, text: str, indent: int = INDENT, style: str = "") -> None:
    _wrap(console, Text(text, style=style), indent)


def _field(console: Console, label: str, text: str, style: str = "", indent: int = INDENT) -> None:
    """``label   text`` with the text wrapping under itself."""
    _wrap(console, Text(text, style=style), indent, first=f"{label:<9} ")


def evidence_line(console: Console, e: Evidence, indent: int = INDENT, prefix: str = "· ") -> None:
    """An evidence line; its source right-aligned at the end, or alone on the next line when it does not fit."""
    width = console.width
    avail = max(20, width - indent - len(prefix))
    body = Text(e.text)
    lines = body.wrap(console, avail, overflow="fold")
    src = e.source
    for i, line in enumerate(lines):
        line.rstrip()
        t = Text(" " * indent + (prefix if i == 0 else " " * len(prefix)))
        t.append_text(line)
        last = i == len(lines) - 1
        if last and len(t) + 2 + len(src) <= width:
            t.append(" " * (width - len(t) - len(src)))
            t.append(src, style="dim cyan")
            console.print(t, overflow="fold", no_wrap=True, crop=False)
            return
        console.print(t, overflow="fold", no_wrap=True, crop=False)
    if len(src) + indent + len(prefix) <= width:
        console.print(Text(" " * (width - len(src)) + src, style="dim cyan"), no_wrap=True, crop=False)
    else:
        _wrap(console, Text(src, style="dim cyan"), indent + len(prefix))


def _loss_line(d: Diagnosis, console: Console) -> None:
    loss = d.run.first("loss/train", "loss/val")
    if loss is None or len(loss) < 2:
        return
    name = display_name(loss.name)
    label = f"  {name}  "
    tail = f"  {fmt_num(float(loss.values[0]))} → {fmt_num(float(loss.values[-1]))}"
    width = max(12, min(60, console.width - len(label) - len(tail) - 1))
    if width < 24:  # narrow terminal: the numbers go on the next line
        tail_sep = True
        width = max(12, min(60, console.width - len(label) - 1))
    else:
        tail_sep = False
    marks = [m for m in symptom_marks(d) if m.kind in ("onset", "nan", "best") and m.applies_to(loss.name, loss.step_unit)]
    line = Text(label, style="dim")
    spark = sparkline(loss.values, width, None, loss.steps)
    line.append(spark, style="cyan")
    if not tail_sep:
        line.append(tail, style="dim")
    console.print(line, no_wrap=True, crop=True)
    if tail_sep:
        console.print(Text(" " * len(label) + tail.strip(), style="dim"), no_wrap=True, crop=True)
    if marks:
        m = marks[0]
        pos = _bucket_of(loss, m.step, width)
        text = f"{m.label}, {m.unit} {fmt_step(m.step)}"
        col = len(label) + pos
        if col + 2 + len(text) <= console.width:
            caret = " " * col + "▲ " + text
        elif col - 1 - len(text) >= 0:
            caret = " " * (col - 1 - len(text)) + text + " ▲"
        else:
            caret = " " * col + "▲"
        console.print(Text(caret, style=SEVERITY_STYLE.get(m.severity, "")), no_wrap=True, crop=True)


def render_text(d: Diagnosis, console: Console) -> None:
    head = Text("traindx · ", style="bold")
    head.append(status_word(d), style=STATUS_STYLE.get(d.status, "bold"))
    console.print(head)
    _wrap(console, Text(d.headline()), 0)
    _wrap(console, Text(f"run: {sources_line(d)}", style="dim"), 0)
    model = model_section(d)
    if model is not None:
        for i, line in enumerate(model_lines(model)):
            _wrap(console, Text(line, style="dim"), 0, first="model: " if i == 0 else "       ")
    if d.run.series:
        console.print()
        _loss_line(d, console)
    if d.user_symptoms:
        console.print()
        console.print(Text("Your statements", style="bold"))
        for u in d.user_symptoms:
            style = {"confirmed": "green", "refuted": "red"}.get(u.verdict, "yellow")
            t = Text(f'"{u.text}": ')
            t.append(u.verdict, style=style)
            t.append(f" — {u.explanation}")
            _wrap(console, t, 2)
    if d.root_causes:
        console.print()
        console.print(Text("Root causes", style="bold"))
        for i, h in enumerate(d.root_causes, 1):
            left = Text(f"  {i}. ")
            left.append(h.id, style="bold")
            left.append(f" · {h.severity}", style=SEVERITY_STYLE.get(h.severity, ""))
            right = Text(f"{confidence_bar(h.confidence)} {h.confidence:.2f}", style="bold" if h.confidence >= 0.8 else "")
            gap = console.width - len(left) - len(right)
            if gap >= 2:
                left.append(" " * gap)
                left.append_text(right)
                console.print(left, no_wrap=True, crop=True)
            else:
                _wrap(console, left, 0)
                _wrap(console, right, INDENT)
            _para(console, h.issue)
            _para(console, f"why: {h.basis}", style="dim")
            for e in h.evidence:
                evidence_line(console, e)
            for e in h.contradicts:
                evidence_line(console, Evidence("against: " + e.text, e.source, e.step))
            _field(console, "fix", h.fix)
            _field(console, "expected", h.expected_impact, style="dim")
            _field(console, "verify", h.verify, style="dim")
            _field(console, "if not", h.if_not, style="dim")
            if h.confirm:
                _field(console, "confirm", h.confirm, style="dim")
    if d.symptoms:
        console.print()
        console.print(Text("Symptoms", style="bold"))
        for s in d.symptoms:
            t = Text("  ")
            t.append(f"{s.severity.upper():8}", style=SEVERITY_STYLE.get(s.severity, ""))
            t.append(f" {s.id}", style="bold")
            t.append(f" ({s.code})")
            where = step_text(s.step, s.step_unit)
            if where:
                t.append(f" at {where}", style="dim")
            _wrap(console, t, 0)
            _para(console, s.summary)
            for e in s.evidence:
                evidence_line(console, e)
    if d.quick_fixes:
        console.print()
        console.print(Text("Quick fixes", style="bold"))
        for q in d.quick_fixes:
            _wrap(console, Text(q), 2, first="- ")
    if d.requests:
        console.print()
        console.print(Text("More data that would help", style="bold"))
        for r in d.requests:
            _wrap(console, Text(f"{r.need}: {r.why}"), 2, first="- ")
            _para(console, f"how: {r.how}", indent=4, style="dim")
    if d.run.skipped:
        console.print()
        shown = sorted(d.run.skipped, key=lambda s: s.path)
        console.print(Text(f"Skipped ({len(shown)})", style="bold"))
        for sk in shown[:10]:
            _wrap(console, Text(f"{sk.path}: {sk.reason}", style="dim"), 2)
        if len(shown) > 10:
            console.print(Text(f"  ... and {len(shown) - 10} more (see --format json)", style="dim"))
    if d.errors:
        console.print()
        console.print(Text("Internal errors (the rest of the diagnosis stands)", style="bold red"))
        for e in d.errors:
            _wrap(console, Text(e), 2)
    if d.analysis_artifacts:
        console.print()
        console.print(Text("Written", style="bold"))
        for k, v in sorted(d.analysis_artifacts.items()):
            _wrap(console, Text(f"{v}  ({k})", style="dim"), 2)


