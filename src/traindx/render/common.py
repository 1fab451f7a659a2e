"""Wording shared by the text and Markdown renderers."""

from __future__ import annotations

from ..diagnosis import Diagnosis

STATUS_WORDS = {
    "healthy": "healthy",
    "diagnosis_complete": "diagnosis complete",
    "needs_more_data": "needs more data",
}


def status_word(d: Diagnosis) -> str:
    return STATUS_WORDS.get(d.status, d.status)


def step_text(step: float | None, unit: str) -> str:
    if step is None:
        return ""
    s = int(step) if step == int(step) else round(step, 3)
    return f"{unit} {s}"


def sources_line(d: Diagnosis) -> str:
    run = d.run
    n = len(run.sources)
    parts = [f"{n} file{'s' if n != 1 else ''} read"]
    if run.skipped:
        parts.append(f"{len(run.skipped)} skipped")
    rng = run.step_range
    if rng is not None:
        parts.append(f"steps {int(rng[0]) if rng[0] == int(rng[0]) else rng[0]}-{int(rng[1]) if rng[1] == int(rng[1]) else rng[1]}")
    return ", ".join(parts)
