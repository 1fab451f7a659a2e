"""TDX401 val_loss_rising: the held-out loss rises after its best evaluation while training goes on."""

from __future__ import annotations

import math

import numpy as np

from ...findings import Evidence, Request, Symptom
from ...run import Run, fmt_num
from ..evidence import at, point, span
from ..registry import check
from ..stats import nearest_index
from .common import held_out, train_level_at


@check(
    code="TDX401",
    emits="val_loss_rising",
    requires=(("loss/val", "loss/test"),),
    request=Request(
        need="a validation loss",
        why="overfitting, and the step where early stopping would stop, can only be read from a held-out curve",
        how="evaluate on a held-out split every N steps (HF eval_strategy/eval_steps, Lightning val_check_interval, Keras validation_data) and log its loss",
    ),
)
def val_loss_rising(
    run: Run,
    *,
    min_evals: int = 3,
    min_after: int = 2,
    min_rise: float = 0.05,
    high_rise: float = 0.10,
    train_rising: float = 0.05,
) -> list[Symptom]:
    """Validation loss rises after its best evaluation while the training loss does not.

    ## Symptom
    Over at least ``min_evals`` (3) evaluations, the held-out loss reaches its
    minimum, then at least ``min_after`` (2) later evaluations sit above it and
    the last one is ``min_rise`` (5%) or more above the minimum (``high_rise``,
    10%, makes it high severity), while the
    training loss over the same steps did not rise by more than
    ``train_rising`` (5%) (when it did, the run is diverging, not overfitting).
    The best evaluation is where early stopping would have stopped.

    ## Why it matters
    Every step after the best evaluation makes the model worse on unseen data;
    the best checkpoint and the wasted compute follow directly.

    ## Evidence
    The best evaluation and the last one with their steps and ``file:line``,
    the number of evaluations after the best that were worse, and the
    training loss over the same span.

    ## Likely causes
    Overfitting: too many epochs over too little data, too little
    regularization; sometimes a learning-rate schedule that keeps the LR high.

    ## Fix
    Stop at the best evaluation (early stopping with a patience of 1-3
    evaluations), add regularization (dropout, weight decay, augmentation), or
    add data.

    ## Known false positives
    A single noisy evaluation above the minimum is ignored (two are needed).
    UMLAUT flags "val loss rising while train loss falls"; the 5% (medium) and
    10% (high) rises are our thresholds, checked on the corpus, where healthy
    runs wobble by less than 1%.
    """
    v = held_out(run)
    if v is None or len(v) < min_evals:
        return []
    vals = v.values
    b = int(np.argmin(vals))
    best = float(vals[b])
    after = vals[b + 1 :]
    if after.size < min_after or best == 0:
        return []
    end = float(vals[-1])
    rise = (end - best) / abs(best)
    if rise < min_rise:
        return []
    worse = int(np.sum(after > best * (1 + 0.005)))
    if worse < min_after or worse < 0.66 * after.size:
        return []
    increases = int(np.sum(np.diff(vals[b:]) > 0))
    t_best = train_level_at(run, v, b)
    t_end = train_level_at(run, v, len(v) - 1)
    train_change = (t_end - t_best) / abs(t_best) if (math.isfinite(t_best) and math.isfinite(t_end) and t_best != 0) else None
    if train_change is not None and train_change > train_rising:
        return []
    severity = "high" if rise >= high_rise else "medium"
    label = "validation loss" if v.name == "loss/val" else "test loss"
    ev = [
        point(v, b, f"best {label}"),
        point(v, len(v) - 1, f"last {label}"),
        Evidence(
            text=f"{worse} of the {after.size} evaluations after the best were worse; {increases} of the {after.size} steps between evaluations went up",
            source=v.where(len(v) - 1),
            step=float(v.steps[-1]),
        ),
    ]
    if train_change is not None:
        t = run.series["loss/train"].finite_part()
        i0 = nearest_index(t.steps, float(v.steps[b]))
        i1 = nearest_index(t.steps, float(v.steps[-1]))
        ev.append(span(t, i0, i1, "training loss", suffix=f" (smoothed {train_change * 100:+.0f}%) over the same span"))
    summary = (
        f"{label} rose {rise * 100:.0f}% from its best {fmt_num(best)} at {at(v, b)} to {fmt_num(end)} at {at(v, len(v) - 1)}"
        f" ({worse} later evaluations worse); early stopping would have stopped at {at(v, b)}"
    )
    return [
        Symptom(
            id="val_loss_rising",
            code="TDX401",
            severity=severity,
            summary=summary,
            metric=v.name,
            step=float(v.steps[b]),
            step_unit=v.step_unit,
            evidence=ev,
            data={
                "best_step": float(v.steps[b]),
                "best_value": best,
                "end_value": end,
                "rise": rise,
                "evals": len(v),
                "evals_after": int(after.size),
                "worse": worse,
                "train_change": train_change,
                "train_best": t_best,
                "train_end": t_end,
            },
        )
    ]
