"""TDX107 loss_at_zero: the training loss is exactly zero for the rest of the run."""

from __future__ import annotations

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, fmt_num, fmt_step
from ..evidence import at, point
from ..registry import check


@check(code="TDX107", emits="loss_at_zero", requires=("loss/train",))
def loss_at_zero(run: Run, *, zero: float = 1e-2, exact: float = 1e-8, min_points: int = 3, min_share: float = 0.1) -> list[Symptom]:
    """Training loss is (nearly) zero from some step to the end.

    ## Symptom
    The last stretch of the training loss, at least ``min_points`` (3) points
    and ``min_share`` (10%) of all logged points, is at most ``zero`` (0.01,
    a cross-entropy no real task reaches on held-out data) and the loss never
    goes negative; exactly 0 (within ``exact``, 1e-8) is reported as such.

    ## Why it matters
    A cross-entropy of exactly zero means perfect confidence on every training
    example: either the model memorized a tiny training set (overfitting), or
    the loss is masked (all labels ignored, a NaN turned into 0), in which case
    nothing is being learned at all.

    ## Evidence
    The last non-zero loss, the first zero one, how many points follow, and
    the epoch reached when the log gives it (hundreds of epochs over the same
    data point at memorization).

    ## Likely causes
    A training set of a handful of examples trained for many epochs; label
    masking that removes every target (``-100`` everywhere, a prompt-only
    mask); a NaN gradient that zeroes the reported loss.

    ## Fix
    Check the number of unmasked target tokens per batch; hold out data and
    evaluate on it; for memorization, add data or stop after a few epochs.

    ## Known false positives
    Reinforcement-learning losses (GRPO/PPO) are near zero by construction:
    a run whose loss takes negative values, or that logs a reward, is skipped.
    """
    s = run.series["loss/train"]
    fin = s.finite_part()
    n = len(fin)
    if n < min_points or float(fin.values.min()) < -exact:
        return []
    if any("reward" in name for name in run.series):
        return []
    nz = np.flatnonzero(np.abs(fin.values) > zero)
    first_zero = int(nz[-1]) + 1 if nz.size else 0
    count = n - first_zero
    if count < min_points or count < min_share * n:
        return []
    ev: list[Evidence] = []
    if first_zero > 0:
        ev.append(point(fin, first_zero - 1, "last non-zero training loss"))
    ev.append(point(fin, first_zero, "training loss"))
    ev.append(point(fin, n - 1, "training loss"))
    data = {"zero_from_step": float(fin.steps[first_zero]), "points": count}
    epochs = fin.epochs
    is_exact = bool(np.all(np.abs(fin.values[first_zero:]) <= exact))
    data["exact"] = is_exact
    summary = (
        f"training loss is exactly 0 at all {count} logged points from {at(fin, first_zero)} to {at(fin, n - 1)}"
        if is_exact
        else f"training loss is below {zero:g} at all {count} logged points from {at(fin, first_zero)} to {at(fin, n - 1)} (last {fmt_num(float(fin.values[-1]))})"
    )
    if epochs is not None and np.isfinite(epochs[-1]):
        data["epochs_at_end"] = float(epochs[-1])
        summary += f" (epoch {fmt_step(float(epochs[-1]))} at the end)"
        ev.append(
            Evidence(
                text=f"epoch {fmt_num(float(epochs[-1]))} at {at(fin, n - 1)}: the training data was seen about {fmt_num(float(epochs[-1]))} times",
                source=fin.where(n - 1),
                step=float(fin.steps[n - 1]),
            )
        )
    return [
        Symptom(
            id="loss_at_zero",
            code="TDX107",
            severity="high" if is_exact else "medium",
            summary=summary,
            metric="loss/train",
            step=float(fin.steps[first_zero]),
            step_unit=fin.step_unit,
            evidence=ev,
            data=data,
        )
    ]
