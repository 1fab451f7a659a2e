"""TDX105 slow_convergence: accuracy creeps up far too slowly and stays low."""

from __future__ import annotations

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, fmt_num
from ..evidence import at
from ..registry import check


@check(code="TDX105", emits="slow_convergence", requires=(("accuracy/train", "accuracy/val"),))
def slow_convergence(run: Run, *, max_gain: float = 0.01, max_best: float = 0.6, min_points: int = 5) -> list[Symptom]:
    """Accuracy improves too slowly: small gains at every evaluation and a low best.

    ## Symptom
    AUTOTRAINER's rule: over at least ``min_points`` (5) points, the largest
    gain between consecutive points of the training and the validation
    accuracy is below ``max_gain`` (0.01) and the best accuracy is below
    ``max_best`` (0.6). Percentages are read as fractions.

    ## Why it matters
    A model that gains less than a point per epoch at a low accuracy will not
    get anywhere useful within any reasonable budget.

    ## Evidence
    The accuracy at the first and the last point and the largest gain, with
    ``file:line``.

    ## Likely causes
    A learning rate too low, a model too small, bad initialization, a
    data-pipeline problem that leaves little signal.

    ## Fix
    Raise the LR (an LR range test), check the data (overfit one batch),
    increase capacity.

    ## Known false positives
    Hard tasks where 0.5 is a good accuracy; the rule is only as good as the
    0.6 bar for the task. A loss that decreases slowly but steadily is not
    this: a maintainer called exactly that healthy (corpus case 34).
    """
    series = [run.get(n) for n in ("accuracy/train", "accuracy/val")]
    series = [s.finite_part() for s in series if s is not None and len(s.finite_part()) >= min_points]
    if not series:
        return []
    gains, bests = [], []
    for s in series:
        v = s.values / 100.0 if float(np.max(s.values)) > 1.5 else s.values
        gains.append(float(np.max(np.diff(v))))
        bests.append(float(np.max(v)))
    if max(gains) >= max_gain or max(bests) >= max_best:
        return []
    s = series[0]
    n = len(s)
    return [
        Symptom(
            id="slow_convergence",
            code="TDX105",
            severity="medium",
            summary=f"accuracy gains at most {max(gains) * 100:.2f} points between evaluations and peaks at {max(bests):.2f}",
            metric=s.name,
            step=float(s.steps[0]),
            step_unit=s.step_unit,
            evidence=[
                Evidence(f"{s.source_name} {fmt_num(float(s.values[0]))} at {at(s, 0)}", s.where(0), float(s.steps[0])),
                Evidence(f"{s.source_name} {fmt_num(float(s.values[-1]))} at {at(s, n - 1)}", s.where(n - 1), float(s.steps[-1])),
            ],
            data={"max_gain": max(gains), "best": max(bests), "onset_step": float(s.steps[0])},
        )
    ]
