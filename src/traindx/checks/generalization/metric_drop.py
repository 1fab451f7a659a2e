"""TDX404 metric_drop: a held-out or per-task metric falls from its best and stays down."""

from __future__ import annotations

import re

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, Series, fmt_num
from ..evidence import at
from ..registry import check

HIGHER = re.compile(r"acc|f1|bleu|rouge|auc|exact|match|map\b|precision|recall|score|reward")
LOWER = re.compile(r"err|wer\b|cer\b")
TRAIN = re.compile(r"(^|[/_. -])(train|training|trn)([/_. -]|$)")


def candidates(run: Run) -> list[tuple[Series, bool]]:
    """(series, higher_is_better) for held-out and per-task quality metrics (not training ones, not losses)."""
    out = []
    for name, s in sorted(run.series.items()):
        low = (s.source_name + " " + name).lower()
        if "loss" in low or name.startswith(("grad_norm", "lr", "loss_scale")) or TRAIN.search(name.lower()) or TRAIN.search(s.source_name.lower()):
            continue
        if HIGHER.search(low):
            out.append((s, True))
        elif LOWER.search(low):
            out.append((s, False))
    return out


@check(code="TDX404", emits="metric_drop")
def metric_drop(run: Run, *, min_drop: float = 0.10, min_points_drop: float = 0.05, min_evals: int = 4) -> list[Symptom]:
    """A held-out or per-task quality metric falls from its best and does not come back.

    ## Symptom
    A validation, test or per-task metric (accuracy, F1, BLEU, ... where
    higher is better; error rates where lower is better) with at least
    ``min_evals`` (4) points ends worse than its best by ``min_drop`` (10%,
    relative) and, for metrics on a 0-1 scale, by ``min_points_drop`` (5
    points); the last two evaluations are both on the worse side of the
    midpoint, so one bad evaluation is not enough.

    ## Why it matters
    When a metric that was fine gets worse while training goes on, the model
    is losing something it had: an earlier task (catastrophic forgetting), or
    generalization (overfitting).

    ## Evidence
    The best value and the last value with their steps and ``file:line``.

    ## Likely causes
    Training on a new task or data mix without replay (forgetting),
    overfitting, a learning-rate increase, a data change mid-run.

    ## Fix
    Replay part of the earlier data, lower the LR for the new phase, or stop
    at the best checkpoint.

    ## Known false positives
    Noisy small evaluation sets wobble by a few points; the thresholds sit
    above that.
    """
    found = []
    for s, higher in candidates(run):
        fin = s.finite_part()
        if len(fin) < min_evals:
            continue
        v = fin.values if higher else -fin.values
        b = int(np.argmax(v))
        best, last = float(v[b]), float(v[-1])
        if b >= len(v) - 1 or best == 0:
            continue
        drop = (best - last) / abs(best)
        scale01 = float(np.max(np.abs(fin.values))) <= 1.0
        if drop < min_drop or (scale01 and best - last < min_points_drop):
            continue
        mid = (best + last) / 2
        if not (v[-1] < mid and v[-2] < mid):
            continue
        found.append((drop, fin, b, higher))
    if not found:
        return []
    found.sort(key=lambda t: -t[0])
    drop, fin, b, higher = found[0]
    n = len(fin)
    ev = []
    for d, f, bi, h in found[:3]:
        ev.append(Evidence(f"{f.source_name} best {fmt_num(float(f.values[bi]))} at {at(f, bi)}", f.where(bi), float(f.steps[bi])))
        ev.append(Evidence(f"{f.source_name} {fmt_num(float(f.values[-1]))} at {at(f, len(f) - 1)} ({d * 100:.0f}% worse)", f.where(len(f) - 1), float(f.steps[-1])))
    # the first evaluation after the best that is on the worse side: the onset
    v = fin.values if higher else -fin.values
    mid = (float(v[b]) + float(v[-1])) / 2
    after = np.flatnonzero(v[b + 1 :] < mid)
    onset = b + 1 + int(after[0]) if after.size else n - 1
    return [
        Symptom(
            id="metric_drop",
            code="TDX404",
            severity="high" if drop >= 0.2 else "medium",
            summary=f"{fin.source_name} fell {drop * 100:.0f}% from its best {fmt_num(float(fin.values[b]))} at {at(fin, b)} to {fmt_num(float(fin.values[-1]))} at {at(fin, n - 1)}"
            + (f" ({len(found)} metrics dropped)" if len(found) > 1 else ""),
            metric=fin.name,
            step=float(fin.steps[onset]),
            step_unit=fin.step_unit,
            evidence=ev,
            data={"drop": drop, "best_step": float(fin.steps[b]), "onset_step": float(fin.steps[onset]), "metrics": [f.name for _, f, _, _ in found]},
        )
    ]
