"""Helpers shared by the generalization checks: the held-out curve and the training level at its steps."""

from __future__ import annotations

import math

from ...run import Run, Series
from ..stats import level_near


def held_out(run: Run) -> Series | None:
    """The held-out loss: validation when logged, else test; finite points only."""
    s = run.first("loss/val", "loss/test")
    if s is None:
        return None
    fin = s.finite_part()
    return fin if len(fin) else None


def train_level_at(run: Run, ref: Series, i: int, *, window: int = 9) -> float:
    """The training loss around the step of point ``i`` of ``ref`` (NaN when the curves cannot be aligned)."""
    t = run.get("loss/train")
    if t is None or not len(t) or t.step_unit != ref.step_unit:
        return math.nan
    step = float(ref.steps[i])
    fin = t.finite_part()
    if not len(fin):
        return math.nan
    lo, hi = float(fin.steps[0]), float(fin.steps[-1])
    margin = max((hi - lo) * 0.1, 1.0)
    if step < lo - margin or step > hi + margin:
        return math.nan
    return level_near(t, step, window=window)
