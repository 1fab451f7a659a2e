"""Markdown: the diagnosis for pasting into an issue or a pull request."""

from __future__ import annotations

from ..diagnosis import Diagnosis
from .common import sources_line, status_word, step_text


def _esc(s: str) -> str:
    return s.replace("|", "\\|")


def to_markdown(d: Diagnosis) -> str:
    out: list[str] = []
    out.append("# traindx diagnosis")
    out.append("")
    out.append(f"**Status:** {status_word(d)}. {d.headline()}")
    out.append("")
    out.append(f"Run: {sources_line(d)}.")
    if d.task:
        out.append(f"Task: {d.task}")
    out.append("")
    if d.root_causes:
        out.append("## Root causes")
        out.append("")
        for i, h in enumerate(d.root_causes, 1):
            out.append(f"### {i}. {h.issue}")
            out.append("")
            out.append(f"`{h.id}` · severity **{h.severity}** · confidence **{h.confidence:.2f}** ({h.basis})")
            out.append("")
            out.append(f"Explains: {', '.join('`' + e + '`' for e in h.explains)}")
            out.append("")
            out.append("Evidence:")
            for e in h.evidence:
                out.append(f"- {e.text} (`{e.source}`)")
            for e in h.contradicts:
                out.append(f"- against: {e.text} (`{e.source}`)")
            out.append("")
            out.append(f"- **Fix:** {h.fix}")
            out.append(f"- **Expected impact:** {h.expected_impact}")
            out.append(f"- **Verify:** {h.verify}")
            out.append(f"- **If not:** {h.if_not}")
            if h.confirm:
                out.append(f"- **To confirm:** {h.confirm}")
            out.append("")
    if d.symptoms:
        out.append("## Symptoms")
        out.append("")
        out.append("| severity | symptom | where | what |")
        out.append("|---|---|---|---|")
        for s in d.symptoms:
            out.append(f"| {s.severity} | `{s.id}` ({s.code}) | {step_text(s.step, s.step_unit)} | {_esc(s.summary)} |")
        out.append("")
        for s in d.symptoms:
            out.append(f"**`{s.id}`** evidence:")
            for e in s.evidence:
                out.append(f"- {e.text} (`{e.source}`)")
            out.append("")
    if d.quick_fixes:
        out.append("## Quick fixes")
        out.append("")
        out.extend(f"- {q}" for q in d.quick_fixes)
        out.append("")
    if d.user_symptoms:
        out.append("## Your statements, checked")
        out.append("")
        for u in d.user_symptoms:
            out.append(f"- \"{u.text}\": **{u.verdict}** — {u.explanation}")
        out.append("")
    if d.requests:
        out.append("## More data that would help")
        out.append("")
        for r in d.requests:
            out.append(f"- **{r.need}**: {r.why}. How: {r.how}")
        out.append("")
    out.append("## Files")
    out.append("")
    for src in sorted(d.run.sources, key=lambda s: s.path):
        out.append(f"- read `{src.path}` ({src.detail or src.reader}, {src.series} series, {src.events} events)")
    for sk in sorted(d.run.skipped, key=lambda s: s.path)[:50]:
        out.append(f"- skipped `{sk.path}`: {sk.reason}")
    if len(d.run.skipped) > 50:
        out.append(f"- ... and {len(d.run.skipped) - 50} more skipped")
    for c in d.run.choices:
        out.append(f"- `{c.name}` taken from {c.used} ({c.points} points; {c.reason}); also in: {', '.join(c.others)}")
    if d.errors:
        out.append("")
        out.append("## Internal errors")
        out.extend(f"- {e}" for e in d.errors)
    return "\n".join(out).rstrip() + "\n"
