"""Terminal output: status, ranked causes with a confidence bar, evidence with sources, fixes."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.text import Text

from ..diagnosis import Diagnosis
from ..findings import Evidence
from .common import sources_line, status_word, step_text

SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
STATUS_STYLE = {"healthy": "bold green", "diagnosis_complete": "bold red", "needs_more_data": "bold yellow"}
SPARK = "▁▂▃▄▅▆▇█"


def confidence_bar(c: float, width: int = 10) -> str:
    full = int(round(c * width))
    return "█" * full + "░" * (width - full)


def sparkline(values: np.ndarray, width: int = 48, mark: int | None = None) -> str:
    """A one-line curve; the marked position (e.g. an onset) is shown as ``│``."""
    v = values[np.isfinite(values)]
    if v.size < 2:
        return ""
    if float(v.min()) > 0 and float(v.max()) / float(v.min()) > 100:
        v = np.log10(v)  # a curve spanning orders of magnitude reads better on a log scale
    idx = np.linspace(0, v.size, width + 1).astype(int)
    buckets = [v[a:b] for a, b in zip(idx[:-1], idx[1:]) if b > a]
    pts = np.array([float(np.median(b)) for b in buckets])
    lo, hi = float(pts.min()), float(pts.max())
    span = hi - lo or 1.0
    chars = [SPARK[min(len(SPARK) - 1, int((p - lo) / span * (len(SPARK) - 1)))] for p in pts]
    if mark is not None and 0 <= mark < len(chars):
        chars[mark] = "│"
    return "".join(chars)


def _evidence(console: Console, e: Evidence, indent: str = "      ") -> None:
    t = Text(indent + "· ")
    t.append(e.text)
    t.append(f"  [{e.source}]", style="dim")
    console.print(t, overflow="fold")


def render_text(d: Diagnosis, console: Console) -> None:
    head = Text("traindx ", style="bold")
    head.append(status_word(d), style=STATUS_STYLE.get(d.status, "bold"))
    console.print(head)
    console.print(Text(d.headline()), overflow="fold")
    console.print(Text(f"run: {sources_line(d)}", style="dim"), overflow="fold")
    loss = d.run.first("loss/train", "loss/val")
    if loss is not None and len(loss) > 2:
        mark = None
        onset = next((s for s in d.symptoms if s.metric == loss.name and s.step is not None), None)
        width = max(16, min(48, console.width - 30))
        if onset is not None and onset.step is not None:
            fin = loss.finite_part()
            if len(fin):
                pos = int(np.searchsorted(fin.steps, onset.step))
                mark = min(width - 1, int(pos / max(len(fin), 1) * width))
        line = Text(f"{loss.name}: ", style="dim")
        line.append(sparkline(loss.values, width, mark))
        if mark is not None and onset is not None:
            line.append(f"  │ = {onset.id} at {step_text(onset.step, onset.step_unit)}", style="dim")
        console.print(line)
    if d.user_symptoms:
        console.print()
        console.print(Text("Your statements", style="bold"))
        for u in d.user_symptoms:
            style = {"confirmed": "green", "refuted": "red"}.get(u.verdict, "yellow")
            t = Text(f"  \"{u.text}\": ")
            t.append(u.verdict, style=style)
            t.append(f" — {u.explanation}")
            console.print(t, overflow="fold")
    if d.root_causes:
        console.print()
        console.print(Text("Root causes", style="bold"))
        for i, h in enumerate(d.root_causes, 1):
            t = Text(f"  {i}. ")
            t.append(f"{h.confidence:.2f} {confidence_bar(h.confidence)} ", style="bold" if h.confidence >= 0.8 else "")
            t.append(h.id, style=SEVERITY_STYLE.get(h.severity, ""))
            t.append(f"  ({h.severity})", style="dim")
            console.print(t, overflow="fold")
            console.print(Text(f"     {h.issue}"), overflow="fold")
            console.print(Text(f"     why {h.basis}", style="dim"), overflow="fold")
            for e in h.evidence:
                _evidence(console, e)
            for e in h.contradicts:
                _evidence(console, Evidence("against: " + e.text, e.source, e.step))
            console.print(Text(f"     fix: {h.fix}"), overflow="fold")
            console.print(Text(f"     expected: {h.expected_impact}", style="dim"), overflow="fold")
            console.print(Text(f"     verify: {h.verify}", style="dim"), overflow="fold")
            console.print(Text(f"     if not: {h.if_not}", style="dim"), overflow="fold")
    if d.symptoms:
        console.print()
        console.print(Text("Symptoms", style="bold"))
        for s in d.symptoms:
            t = Text("  ")
            t.append(f"{s.severity.upper():8}", style=SEVERITY_STYLE.get(s.severity, ""))
            t.append(f" {s.id} ({s.code})")
            where = step_text(s.step, s.step_unit)
            if where:
                t.append(f" at {where}", style="dim")
            console.print(t, overflow="fold")
            console.print(Text(f"     {s.summary}"), overflow="fold")
            for e in s.evidence:
                _evidence(console, e)
    if d.quick_fixes:
        console.print()
        console.print(Text("Quick fixes", style="bold"))
        for q in d.quick_fixes:
            console.print(Text(f"  - {q}"), overflow="fold")
    if d.requests:
        console.print()
        console.print(Text("More data that would help", style="bold"))
        for r in d.requests:
            console.print(Text(f"  - {r.need}: {r.why}"), overflow="fold")
            console.print(Text(f"    how: {r.how}", style="dim"), overflow="fold")
    if d.run.skipped:
        console.print()
        shown = sorted(d.run.skipped, key=lambda s: s.path)
        console.print(Text(f"Skipped ({len(shown)})", style="bold"))
        for sk in shown[:10]:
            console.print(Text(f"  {sk.path}: {sk.reason}", style="dim"), overflow="fold")
        if len(shown) > 10:
            console.print(Text(f"  ... and {len(shown) - 10} more (see --format json)", style="dim"))
    if d.errors:
        console.print()
        console.print(Text("Internal errors (the rest of the diagnosis stands)", style="bold red"))
        for e in d.errors:
            console.print(Text(f"  {e}"), overflow="fold")
    for k, v in sorted(d.analysis_artifacts.items()):
        console.print(Text(f"{k}: {v}", style="dim"))
