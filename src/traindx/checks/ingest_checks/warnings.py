"""TDX901 zero_variance_warning: the log warns that a variance was taken over a single value."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Run
from ..registry import check


@check(code="TDX901", emits="zero_variance_warning")
def zero_variance_warning(run: Run, *, max_evidence: int = 2) -> list[Symptom]:
    """The log warns ``var(): degrees of freedom is <= 0``: a variance over one element.

    ## Symptom
    A ``UserWarning: var(): degrees of freedom is <= 0`` (or the older
    ``std(): degrees of freedom``) line in a log, quoted with its
    ``file:line`` (the first ``max_evidence``, 2, occurrences).

    ## Why it matters
    The variance (or standard deviation) it computed is NaN or infinite; a
    normalization, a halting (ACT) head or a loss term that uses it then
    feeds NaN or a constant into training, often silently.

    ## Evidence
    The warning lines and how many times they appear.

    ## Likely causes
    ``torch.var``/``std`` over a dimension of size 1 (a batch or a sequence of
    one, a halting head that sees a single step), a per-sample normalization
    applied to a batch of one.

    ## Fix
    Compute the statistic over a dimension with more than one element, use
    ``unbiased=False``/``correction=0``, or guard the case of one element.

    ## Known false positives
    A warning emitted once during a sanity check at start-up, outside the
    training loop.
    """
    evs = run.events_of("zero_variance")
    if not evs:
        return []
    return [
        Symptom(
            id="zero_variance_warning",
            code="TDX901",
            severity="medium",
            summary=f"the log warns {len(evs)} time{'s' if len(evs) != 1 else ''} that a variance was computed over a single element (degrees of freedom <= 0)",
            step=evs[0].step,
            evidence=[Evidence(e.text[:300], e.where, e.step) for e in evs[:max_evidence]],
            data={"count": len(evs), "onset_step": evs[0].step},
        )
    ]
