"""TDX104 loss_plateau: the training loss does not move (from the start, or stuck at a fixed level)."""

from __future__ import annotations

import math

import numpy as np

from ...findings import Evidence, Request, Symptom
from ...run import Run, Series, fmt_num
from ..chance import match_chance
from ..evidence import at, point
from ..registry import check
from ..stats import segment_medians


def _repeating(fin: Series, *, min_repeat: int) -> tuple[int, int, int] | None:
    """(start, period, length) of an exact repetition of the loss sequence, if any.

    Identical losses for the same batches in two epochs mean the parameters did
    not change between them.
    """
    v = fin.values
    n = v.size
    if n < 2 * min_repeat or n > 200_000:
        return None
    for start in range(0, min(n - 2 * min_repeat, 50)):
        same = np.flatnonzero(v[start + 1 :] == v[start]) + start + 1
        for j in same[:5]:
            p = int(j - start)
            if p < 2:
                continue
            overlap = n - start - p
            if overlap < min_repeat:
                continue
            if np.unique(v[start : start + p]).size < 3:
                continue  # a constant (or two-valued) loss repeats trivially; that is another signature
            eq = v[start : start + overlap] == v[start + p : start + p + overlap]
            run_len = int(np.argmin(eq)) if not eq.all() else overlap
            if run_len >= min_repeat and eq.mean() >= 0.8:
                return start, p, overlap
    return None


def _flat_stretch_start(values: np.ndarray, tail_start: int, lo: float, hi: float) -> int:
    """Walk back from ``tail_start`` while values stay within [lo, hi]."""
    i = tail_start
    while i > 0 and lo <= values[i - 1] <= hi:
        i -= 1
    return i


@check(
    code="TDX104",
    emits="loss_plateau",
    requires=("loss/train",),
    request=Request(
        need="the training loss per step",
        why="a plateau is judged on the training loss",
        how="log the loss every few steps",
    ),
)
def loss_plateau(
    run: Run,
    *,
    min_points: int = 20,
    min_improvement: float = 0.03,
    tail_fraction: float = 0.3,
    min_flat_points: int = 4,
    constant_spread: float = 1e-4,
    chance_spread: float = 0.03,
    chance_tolerance: float = 0.02,
    min_repeat: int = 5,
    min_chance_span: float = 20,
) -> list[Symptom]:
    """Training loss does not decrease: stuck from the start, pinned at a fixed value, or repeating.

    ## Symptom
    One of four signatures on the training loss (at least ``min_flat_points``
    (4) finite points):
    - *repeating*: the same loss values, exactly, epoch after epoch (at least
      ``min_repeat`` (5) consecutive equal values one period apart): the
      parameters are not changing;
    - *chance*: the loss sits at ln(k) for a class count k (from the config,
      or a common one: 2-20, 100, 1000, tokenizer vocabularies) within
      ``chance_tolerance`` (2%) while its spread is under ``chance_spread``
      (3%): the model predicts the uniform distribution (for a class count
      that is not the run's own, only when the loss climbed up to that level,
      or sat there from the start over at least ``min_chance_span``, 20,
      steps or 3 epochs: an untrained model starts at ln(k));
    - *constant*: the last ``tail_fraction`` (30%) of the points are identical
      to within ``constant_spread`` (0.01%) and not zero;
    - *no improvement*: over at least ``min_points`` (20) points, no later fifth
      of the run has a median loss more than ``min_improvement`` (3%) below the
      first fifth's.

    ## Why it matters
    A model that does not learn wastes the whole run; the signature says
    where to look: no update at all (repeating), a broken signal or a dead
    network (chance), or an optimizer that moves too little (no improvement).

    ## Evidence
    The level and the points it is pinned at, with steps and ``file:line``;
    for chance, ln(k) and where k comes from; for repeating, the two epochs'
    matching values.

    ## Likely causes
    Labels not aligned with inputs or all masked, a frozen model (no
    parameters in the optimizer, LR 0, ``optimizer.step()`` never called),
    dead ReLUs or vanishing gradients, a learning rate far too low, or a
    divergence that destroyed the model (the plateau then follows it).

    ## Fix
    Overfit a single batch first: if even one batch cannot be learned, the
    data or the model wiring is broken; check that the optimizer holds the
    trainable parameters and that the LR is not zero.

    ## Known false positives
    A strong pretrained model can start near its floor and improve little;
    *no improvement* is therefore medium severity. Thresholds: LossNotDecreasing
    in SageMaker Debugger uses a 0.1% decrease per window and TheDeepChecker 5%
    over a window of 5; the 3% over fifths of the run is our measurement on the
    corpus (a noisy batch-size-1 LoRA run improves 1.4%, healthy runs 10% or
    more). Reinforcement-learning losses (with negative values) are skipped.
    """
    s = run.series["loss/train"]
    fin = s.finite_part()
    n = len(fin)
    if n < min_flat_points:
        return []
    v = fin.values
    if float(v.min()) < 0:
        return []

    # 1. exact repetition: no parameter update
    rep = _repeating(fin, min_repeat=min_repeat)
    if rep is not None:
        start, p, length = rep
        ev = [
            point(fin, start, "training loss"),
            Evidence(
                text=f"training loss {fmt_num(float(v[start + p]))} again at {at(fin, start + p)}, and the next "
                f"{min(length, 50) - 1} values repeat those {p} steps earlier exactly",
                source=fin.where(start + p),
                step=float(fin.steps[start + p]),
            ),
        ]
        return [
            Symptom(
                id="loss_plateau",
                code="TDX104",
                severity="high",
                summary=f"training loss repeats exactly every {p} logged steps from {at(fin, start)}: "
                "the same batches give the same losses, so the parameters are not being updated",
                metric="loss/train",
                step=float(fin.steps[start]),
                step_unit=fin.step_unit,
                evidence=ev,
                data={"kind": "repeating", "period": p, "onset_step": float(fin.steps[start]), "level": float(np.median(v))},
            )
        ]

    # 2. a pinned level at the end: constant, or at chance
    k_tail = max(min_flat_points, int(math.ceil(tail_fraction * n)))
    k_tail = min(k_tail, n)
    tail = v[-k_tail:]
    med = float(np.median(tail))
    if med > 1e-2:
        lo_q, hi_q = np.percentile(tail, [10, 90])
        spread = float(hi_q - lo_q) / med
        chance = match_chance(med, run, tolerance=chance_tolerance) if spread <= chance_spread else None
        constant = spread <= constant_spread
        onset = 0
        if chance is not None or constant:
            band_lo = float(tail.min()) if constant else med * (1 - chance_spread)
            band_hi = float(tail.max()) if constant else med * (1 + chance_spread)
            onset = _flat_stretch_start(v, n - k_tail, band_lo, band_hi)
        if chance is not None and "common" in chance[1]:
            # a level that merely equals ln(k) for a common k (not the run's own class
            # count) is chance only when the log covers the start and the model never
            # got below it, or when the loss climbed up to it
            before = v[:onset]
            low = med * (1 - chance_spread)
            # climbed up to it: the loss had been clearly lower (3x the spread allowed) before
            rose_to_it = before.size > 0 and float(np.min(before)) < med * (1 - 3 * chance_spread)
            starts_early = float(fin.steps[0]) <= 0.05 * max(float(fin.steps[-1]), 1.0)
            never_below = before.size == 0 or float(np.min(before)) >= low
            # a loss at ln(k) over the first handful of steps is just the untrained model
            long_enough = float(fin.steps[-1] - fin.steps[onset]) >= (min_chance_span if fin.step_unit == "step" else 3)
            if not (rose_to_it or (starts_early and never_below and long_enough)):
                chance = None
        if chance is not None or constant:
            ev = [point(fin, onset, "training loss"), point(fin, n - 1, "training loss")]
            kind = "chance" if chance is not None else "constant"
            if onset > 0:
                ev.insert(0, point(fin, onset - 1, "training loss before the plateau"))
            text = (
                f"training loss stuck at {fmt_num(med)} from {at(fin, onset)} to {at(fin, n - 1)} "
                f"({n - onset} points, spread {spread * 100:.2g}%)"
            )
            data = {"kind": kind, "onset_step": float(fin.steps[onset]), "level": med, "spread": spread, "points": n - onset}
            if chance is not None:
                k, why, rel = chance
                text += f" = ln({k}) = {math.log(k):.4f}: uniform predictions over {k} classes ({why})"
                ev.append(
                    Evidence(
                        text=f"ln({k}) = {math.log(k):.4f}; the loss level {fmt_num(med)} is within {rel * 100:.2g}% of it ({why})",
                        source=fin.where(n - 1),
                        step=float(fin.steps[n - 1]),
                    )
                )
                data.update({"chance_k": k, "chance_source": why})
            from_start = onset <= max(1, n // 20)
            data["from_start"] = from_start
            return [
                Symptom(
                    id="loss_plateau",
                    code="TDX104",
                    severity="high",
                    summary=text,
                    metric="loss/train",
                    step=float(fin.steps[onset]),
                    step_unit=fin.step_unit,
                    evidence=ev,
                    data=data,
                )
            ]

    # 3. no improvement from the start
    if n < min_points:
        return []
    seg = segment_medians(v, 5)
    first = float(seg[0])
    if first <= 1e-2:
        return []
    best_later = float(np.min(seg[1:]))
    improvement = (first - best_later) / first
    if improvement >= min_improvement:
        return []
    last = float(seg[-1])
    # a log that starts far into the run continues from a checkpoint
    resumed = fin.step_unit == "step" and float(fin.steps[0]) > 0.2 * float(fin.steps[-1]) > 0
    text = (
        f"training loss did not improve over {n} points from {at(fin, 0)} to {at(fin, n - 1)}: "
        f"median of the first fifth {fmt_num(first)}, best later fifth {fmt_num(best_later)} "
        f"({improvement * 100:.1f}% lower), last fifth {fmt_num(last)}"
    )
    if resumed:
        text += f" (the log starts at {at(fin, 0)}: a resumed run)"
    q = max(1, n // 5)
    ev = [
        Evidence(
            text=f"training loss median {fmt_num(first)} over {at(fin, 0)}-{at(fin, q - 1)}",
            source=fin.where(0),
            step=float(fin.steps[0]),
        ),
        Evidence(
            text=f"training loss median {fmt_num(last)} over {at(fin, n - q)}-{at(fin, n - 1)}",
            source=fin.where(n - 1),
            step=float(fin.steps[n - 1]),
        ),
    ]
    return [
        Symptom(
            id="loss_plateau",
            code="TDX104",
            severity="medium",
            summary=text,
            metric="loss/train",
            step=float(fin.steps[0]),
            step_unit=fin.step_unit,
            evidence=ev,
            data={
                "kind": "no_improvement",
                "onset_step": float(fin.steps[0]),
                "level": last,
                "improvement": improvement,
                "from_start": True,
                "resumed": resumed,
            },
        )
    ]
