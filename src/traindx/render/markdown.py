"""Markdown: the diagnosis for pasting into an issue or a pull request.

The same content as report.html: status, ranked causes (confidence, evidence
with sources, fix, expected impact, how to verify, what next), symptoms, the
model (when the run holds one: size, parameter groups, balance), the
plots (relative paths, as written beside report.md by ``--out``), what the
plots cannot show, your statements checked, requests for more data, and the
files read and skipped. Text that comes from the run (log lines, file names)
is escaped so that it cannot turn into markup, links or HTML where it is
pasted.
"""

from __future__ import annotations

import re

import numpy as np

from ..diagnosis import Diagnosis, balance_shares, model_lines, model_section
from ..run import fmt_num, fmt_step
from .common import PLOT_FILES, missing_notes, sources_line, status_word, step_text

MAX_LISTED = 50
MAX_SERIES_ROWS = 60
_SPECIAL = re.compile(r"([\\`*\[\]])")


def md(text: str) -> str:
    """Run-derived text as literal Markdown: no HTML, no emphasis, no links, one line."""
    t = " ".join(str(text).split())
    t = _SPECIAL.sub(r"\\\1", t)
    return t.replace("<", "&lt;").replace(">", "&gt;")


def cell(text: str) -> str:
    """Literal text inside a table cell."""
    return md(text).replace("|", "\\|")


def code(text: str) -> str:
    """An inline code span that holds ``text`` whatever backticks it contains."""
    t = " ".join(str(text).split())
    runs = [len(r) for r in re.findall(r"`+", t)]
    fence = "`" * (max(runs) + 1 if runs else 1)
    pad = " " if t.startswith("`") or t.endswith("`") else ""
    return f"{fence}{pad}{t}{pad}{fence}"


def to_markdown(d: Diagnosis) -> str:
    out: list[str] = []
    out.append("# traindx diagnosis")
    out.append("")
    out.append(f"**Status:** {status_word(d)}. {md(d.headline())}")
    out.append("")
    out.append(f"Run: {md(sources_line(d))}.")
    if d.task:
        out.append(f"Task: {md(d.task)}")
    out.append("")
    if d.root_causes:
        out.append("## Root causes")
        out.append("")
        for i, h in enumerate(d.root_causes, 1):
            out.append(f"### {i}. {md(h.issue)}")
            out.append("")
            out.append(f"{code(h.id)} · severity **{h.severity}** · confidence **{h.confidence:.2f}** {_bar(h.confidence)} ({md(h.basis)})")
            out.append("")
            out.append(f"Explains: {', '.join(code(e) for e in h.explains)}")
            out.append("")
            out.append("Evidence:")
            for e in h.evidence:
                out.append(f"- {md(e.text)} ({code(e.source)})")
            for e in h.contradicts:
                out.append(f"- against: {md(e.text)} ({code(e.source)})")
            out.append("")
            out.append(f"- **Fix:** {md(h.fix)}")
            out.append(f"- **Expected impact:** {md(h.expected_impact)}")
            out.append(f"- **Verify:** {md(h.verify)}")
            out.append(f"- **If not:** {md(h.if_not)}")
            if h.confirm:
                out.append(f"- **To confirm:** {md(h.confirm)}")
            out.append("")
    if d.symptoms:
        out.append("## Symptoms")
        out.append("")
        out.append("| severity | symptom | where | what |")
        out.append("|---|---|---|---|")
        for s in d.symptoms:
            out.append(f"| {s.severity} | {code(s.id)} ({s.code}) | {step_text(s.step, s.step_unit)} | {cell(s.summary)} |")
        out.append("")
        for s in d.symptoms:
            out.append(f"**{code(s.id)}** evidence:")
            for e in s.evidence:
                out.append(f"- {md(e.text)} ({code(e.source)})")
            out.append("")
    out.extend(_model(d))
    plots = [(key, caption) for key, _, caption in PLOT_FILES if key in d.analysis_artifacts]
    notes = missing_notes(d)
    if plots or notes:
        out.append("## Plots")
        out.append("")
        for key, caption in plots:
            path = d.analysis_artifacts[key]
            out.append(f"![{md(caption)}]({_link(path)})")
            out.append("")
        for n in notes:
            out.append(f"- Not shown: {md(n)}")
        if notes:
            out.append("")
    if d.quick_fixes:
        out.append("## Quick fixes")
        out.append("")
        out.extend(f"- {md(q)}" for q in d.quick_fixes)
        out.append("")
    if d.user_symptoms:
        out.append("## Your statements, checked")
        out.append("")
        for u in d.user_symptoms:
            out.append(f'- "{md(u.text)}": **{u.verdict}** — {md(u.explanation)}')
            for e in u.evidence:
                out.append(f"  - {md(e.text)} ({code(e.source)})")
        out.append("")
    if d.requests:
        out.append("## More data that would help")
        out.append("")
        for r in d.requests:
            out.append(f"- **{md(r.need)}**: {md(r.why)}. How: {md(r.how)}")
        out.append("")
    if d.run.series:
        out.append("## Series")
        out.append("")
        out.append("| series | points | steps | first | last | non-finite | from |")
        out.append("|---|---|---|---|---|---|---|")
        names = sorted(d.run.series)
        for name in names[:MAX_SERIES_ROWS]:
            s = d.run.series[name]
            if not len(s):
                continue
            bad = int((~np.isfinite(s.values)).sum())
            out.append(
                f"| {code(name)} | {len(s)} | {s.step_unit} {fmt_step(float(s.steps[0]))}-{fmt_step(float(s.steps[-1]))} | "
                f"{fmt_num(float(s.values[0]))} | {fmt_num(float(s.values[-1]))} | {bad} | {code(s.source_name)} in {code(s.source)} |"
            )
        if len(names) > MAX_SERIES_ROWS:
            out.append("")
            out.append(f"... and {len(names) - MAX_SERIES_ROWS} more series (listed in diagnosis.json).")
        out.append("")
    out.append("## Files")
    out.append("")
    for src in sorted(d.run.sources, key=lambda s: s.path):
        out.append(f"- read {code(src.path)} ({md(src.detail or src.reader)}, {src.series} series, {src.events} events)")
    for sk in sorted(d.run.skipped, key=lambda s: s.path)[:MAX_LISTED]:
        out.append(f"- skipped {code(sk.path)}: {md(sk.reason)}")
    if len(d.run.skipped) > MAX_LISTED:
        out.append(f"- ... and {len(d.run.skipped) - MAX_LISTED} more skipped")
    for c in d.run.choices:
        out.append(f"- {code(c.name)} taken from {md(c.used)} ({c.points} points; {md(c.reason)}); also in: {md(', '.join(c.others))}")
    if d.errors:
        out.append("")
        out.append("## Internal errors")
        out.append("")
        out.extend(f"- {md(e)}" for e in d.errors)
    return "\n".join(out).rstrip() + "\n"


def _model(d: Diagnosis) -> list[str]:
    """The model section: its two summary lines and the parameter groups as a table."""
    block = model_section(d)
    if block is None:
        return []
    first, _ = model_lines(block)
    bal = block["balance"]
    out = ["## Model", "", md(first), ""]
    out.append("| group | parameters | share |")
    out.append("|---|---|---|")
    for g, v in block["groups"].items():
        out.append(f"| {g} | {v['parameters']:,} | {float(v['share']):.1%} |")
    out.append("")
    out.append(
        f"Balance: **{bal['verdict']}** ({balance_shares(bal)})."
    )
    out.append("")
    return out


def _bar(c: float, width: int = 10) -> str:
    full = max(0, min(width, round(c * width)))
    return "`" + "█" * full + "░" * (width - full) + "`"


def _link(path: str) -> str:
    """A relative link target: spaces and parentheses percent-encoded."""
    return path.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
