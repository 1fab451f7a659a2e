"""TDX106 loss_oscillation: the loss swings up and down with a large amplitude instead of settling."""

from __future__ import annotations

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, fmt_num
from ..evidence import at
from ..registry import check
from ..stats import rolling_median


@check(code="TDX106", emits="loss_oscillation", requires=("loss/train",))
def loss_oscillation(run: Run, *, min_amplitude: float = 0.3, max_autocorr: float = -0.6, min_points: int = 20, max_points: int = 20000) -> list[Symptom]:
    """Training loss oscillates: large swings that alternate, not batch noise.

    ## Symptom
    Over the second half of at least ``min_points`` (20) points (its last
    ``max_points``, 20,000, for long runs), the loss's
    deviations from a rolling median have an interquartile range of at least
    ``min_amplitude`` (30%) of the loss level, and they alternate: their lag-1
    autocorrelation is ``max_autocorr`` (-0.6) or lower. Batch noise is
    uncorrelated; the rolling median (at least 9 points) that removes the
    trend gives its residuals an autocorrelation near -0.1 at most, far
    from a swing that alternates (near -1).

    ## Why it matters
    An optimizer that overshoots back and forth across a valley makes no
    progress along it: the loss stops improving at a level well above what
    the model can reach.

    ## Evidence
    The amplitude and the autocorrelation, and two consecutive points of a
    swing with their ``file:line``.

    ## Likely causes
    A learning rate too high for the curvature (still below divergence),
    momentum too high, a batch size too small for the LR.

    ## Fix
    Lower the LR (or add decay), reduce momentum, or increase the batch size.

    ## Known false positives
    Losses from alternating tasks or data sources in a fixed order alternate
    too; TheDeepChecker's sign-change rule (50% over 50 steps) fires on plain
    noise, which is why the autocorrelation is required here.
    """
    s = run.series["loss/train"]
    fin = s.finite_part()
    n = len(fin)
    if n < min_points:
        return []
    # the second half of the run, at most its last ``max_points`` points (swings are local)
    half = max(n // 2, n - max_points)
    x = fin.values[half:]
    w = min(51, max(9, (len(x) // 10) | 1))
    base = rolling_median(x, w)
    r = x - base
    level = float(np.median(np.abs(base)))
    if level <= 0:
        return []
    q75, q25 = np.percentile(r, [75, 25])
    amp = float(q75 - q25) / level
    if amp < min_amplitude or r.std() == 0:
        return []
    ac = float(np.corrcoef(r[:-1], r[1:])[0, 1])
    if not np.isfinite(ac) or ac > max_autocorr:
        return []
    k = half + int(np.argmax(np.abs(np.diff(x)))) 
    return [
        Symptom(
            id="loss_oscillation",
            code="TDX106",
            severity="high" if amp >= 1.0 else "medium",
            summary=f"training loss oscillates around {fmt_num(level)} with swings of {amp * 100:.0f}% of its level (lag-1 autocorrelation {ac:.2f}) over the second half of the run",
            metric="loss/train",
            step=float(fin.steps[half]),
            step_unit=fin.step_unit,
            evidence=[
                Evidence(f"training loss {fmt_num(float(fin.values[k]))} at {at(fin, k)}", fin.where(k), float(fin.steps[k])),
                Evidence(f"training loss {fmt_num(float(fin.values[k + 1]))} at {at(fin, k + 1)}", fin.where(k + 1), float(fin.steps[k + 1])),
            ],
            data={"amplitude": amp, "autocorr": ac, "onset_step": float(fin.steps[half])},
        )
    ]
