"""Run every rule, rank the hypotheses, and collect what more data would settle."""

from __future__ import annotations

from ..findings import Hypothesis, Request, Symptom, severity_rank
from ..run import Run
from .rules import RULES, Context


def reason(run: Run, symptoms: list[Symptom]) -> tuple[list[Hypothesis], list[Request], list[str]]:
    """(ranked hypotheses, requests, errors). A rule that raises is reported, the others still run."""
    ctx = Context(run, symptoms)
    hyps: list[Hypothesis] = []
    errors: list[str] = []
    if not symptoms:
        return hyps, ctx.requests, errors
    for cause in sorted(RULES):
        try:
            h = RULES[cause](ctx)
        except Exception as e:  # noqa: BLE001 - one broken rule must not lose the diagnosis
            errors.append(f"rule {cause}: {type(e).__name__}: {e}")
            continue
        if h is not None:
            hyps.append(h)
    hyps.sort(key=lambda h: (-h.confidence, -severity_rank(h.severity), h.id))
    return hyps, ctx.requests, errors
