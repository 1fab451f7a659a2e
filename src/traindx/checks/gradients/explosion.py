"""TDX201 gradient_explosion: the gradient norm jumps far above its running level, or grows without bound."""

from __future__ import annotations

import math

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, fmt_num, times
from ..baselines import causal_baseline, ema_z_at, group_runs
from ..evidence import at, span
from ..registry import check
from ..stats import segment_medians
from .layers import GLOBAL_GRAD, global_grad, per_layer


def _loss_reacts(run: Run, step: float, unit: str, *, jump: float = 1.25, around: int = 3) -> bool:
    """Whether the training loss jumped (``jump`` x its running median) within ``around`` points of ``step``."""
    loss = run.get("loss/train")
    if loss is None or loss.step_unit != unit:
        return False
    lf = loss.finite_part()
    if len(lf) < 8:
        return False
    base = causal_baseline(lf.values, min(50, max(4, len(lf) // 6)))
    i = int(np.searchsorted(lf.steps, step))
    lo, hi = max(0, i - 1), min(len(lf), i + around + 1)
    for j in range(lo, hi):
        m = base.median[j]
        if np.isfinite(m) and m > 0 and lf.values[j] >= jump * m:
            return True
    return False


@check(code="TDX201", emits="gradient_explosion", requires=(GLOBAL_GRAD,))
def gradient_explosion(
    run: Run,
    *,
    ratio: float = 10.0,
    window: int = 50,
    warmup_fraction: float = 0.05,
    growth: float = 2.5,
    early_growth: float = 1.5,
    layer_ratio: float = 70.0,
    min_points: int = 8,
) -> list[Symptom]:
    """The global gradient norm jumps far above its running median, or grows steadily from the start.

    ## Symptom
    One of three signatures, after the first ``warmup_fraction`` (5%) of at
    least ``min_points`` (8) logged norms:
    - *spike*: a norm at least ``ratio`` (10x) the median of the points before
      it (causal blocks of ``window``, 50, points), with its ZClip-style EMA
      z-score;
    - *growth*: the median of the last fifth of the run is at least ``growth``
      (2.5x) the median of the first fifth, the fifths rise one after the
      other, and the rise starts at once (the second fifth is already
      ``early_growth``, 1.5x, the first): gradients accumulate from the first
      step (a missing ``zero_grad``), unlike a divergence that grows the norm
      only once the loss turns;
    - *layers*: with per-layer norms (``grad_norm/<layer>``), the first layer's
      norm is more than ``layer_ratio`` (70x) the last layer's (AUTOTRAINER's
      exploding-gradient rule).

    ## Why it matters
    One unclipped step with a huge gradient can throw the weights far off;
    OLMo 2 and "Spike No More" see grad-norm spikes before loss spikes.

    ## Evidence
    The biggest jumps with their step, ratio to the running median and
    ``file:line``; for growth, the first and last fifths' medians; for layers,
    the two layers' norms.

    ## Likely causes
    Learning rate too high, no gradient clipping (recurrent nets especially),
    gradients never cleared between steps, fp16 overflow, a bad batch.

    ## Fix
    Clip the gradient norm (1.0 is the common default), lower the LR, and make
    sure ``optimizer.zero_grad()`` runs every step.

    ## Known false positives
    Pre-clip norms of large models swing widely and isolated spikes with a
    flat loss are common (corpus case 30, where maintainers called them
    unrelated; case 17, a healthy run with two 100x blips): spikes the loss
    does not react to (no loss point within 3 points of them at 1.25x its
    running median) are low severity, a warning. The early steps, where norms start high, are skipped.
    A norm printed as 0.000 because it was not computed is ignored.
    """
    g = global_grad(run)
    assert g is not None
    fin = g.finite_part()
    x = fin.values
    n = len(fin)
    if n < min_points or float(np.max(np.abs(x))) == 0.0:
        return []
    out: list[Symptom] = []
    # growth from the start
    fifths = segment_medians(x, 5)
    if fifths[0] > 0 and fifths[-1] >= growth * fifths[0] and np.all(np.diff(fifths) > 0) and fifths[1] >= early_growth * fifths[0]:
        q = max(1, n // 5)
        out.append(
            Symptom(
                id="gradient_explosion",
                code="TDX201",
                severity="high",
                summary=f"gradient norm grows steadily from the start: median {fmt_num(float(fifths[0]))} over the first fifth of the run, {fmt_num(float(fifths[-1]))} over the last ({times(fifths[-1] / fifths[0])}), rising in every fifth",
                metric=g.name,
                step=float(fin.steps[0]),
                step_unit=fin.step_unit,
                evidence=[
                    Evidence(f"grad norm median {fmt_num(float(fifths[0]))} over {at(fin, 0)}-{at(fin, q - 1)}", fin.where(0), float(fin.steps[0])),
                    Evidence(f"grad norm median {fmt_num(float(fifths[-1]))} over {at(fin, n - q)}-{at(fin, n - 1)}", fin.where(n - 1), float(fin.steps[-1])),
                ],
                data={"kind": "growth", "ratio": float(fifths[-1] / fifths[0]), "onset_step": float(fin.steps[0])},
            )
        )
    # spikes against the running median
    w = min(window, max(4, n // 6))
    base = causal_baseline(x, w)
    start = max(w, int(math.ceil(warmup_fraction * n)))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = x / base.median
    cand = np.flatnonzero((np.arange(n) >= start) & (base.median > 0) & (r >= ratio))
    if cand.size and not out:
        events = []
        for a, b in group_runs(cand):
            p = a + int(np.argmax(x[a : b + 1]))
            events.append((float(r[p]), a, p))
        events.sort(key=lambda e: -e[0])
        ev = []
        for rr, a, p in events[:3]:
            zg = ema_z_at(x, p)
            ztxt = f", EMA z-score {zg:.0f}" if not math.isnan(zg) else ""
            ev.append(Evidence(f"grad norm {fmt_num(float(x[p]))} at {at(fin, p)}, {times(rr)} its running median {fmt_num(float(base.median[p]))}{ztxt}", fin.where(p), float(fin.steps[p])))
        biggest = events[0]
        first = min(events, key=lambda e: e[1])
        reacted = [e for e in events if _loss_reacts(run, float(fin.steps[e[2]]), fin.step_unit)]
        if reacted:
            severity = "high" if len(reacted) >= 2 or biggest[0] >= 100 else "medium"
            tail = f"; the loss jumped with {len(reacted)} of them"
        else:
            severity = "low"
            tail = "; the loss did not react to any of them"
        out.append(
            Symptom(
                id="gradient_explosion",
                code="TDX201",
                severity=severity,
                summary=f"{len(events)} gradient-norm spike{'s' if len(events) != 1 else ''} of {ratio:.0f}x or more over the running median; the biggest {times(biggest[0])} at {at(fin, biggest[2])}{tail}",
                metric=g.name,
                step=float(fin.steps[first[1]]),
                step_unit=fin.step_unit,
                evidence=ev,
                data={
                    "kind": "spike",
                    "count": len(events),
                    "ratio": biggest[0],
                    "onset_step": float(fin.steps[first[1]]),
                    "steps": sorted(float(fin.steps[e[1]]) for e in events),
                    "loss_reacted": len(reacted),
                },
            )
        )
    # per-layer: first layer far above the last
    layers = per_layer(run, "grad_norm", exclude=GLOBAL_GRAD)
    if len(layers) >= 2 and not out:
        first_l, last_l = layers[0].finite_part(), layers[-1].finite_part()
        if len(first_l) and len(last_l):
            a, b = float(np.median(first_l.values)), float(np.median(last_l.values))
            if b > 0 and a / b > layer_ratio:
                out.append(
                    Symptom(
                        id="gradient_explosion",
                        code="TDX201",
                        severity="high",
                        summary=f"first layer's gradient norm is {times(a / b)} the last layer's ({layers[0].name} vs {layers[-1].name})",
                        metric=layers[0].name,
                        step=float(first_l.steps[0]),
                        step_unit=first_l.step_unit,
                        evidence=[span(first_l, 0, len(first_l) - 1, first_l.source_name), span(last_l, 0, len(last_l) - 1, last_l.source_name)],
                        data={"kind": "layers", "ratio": a / b, "onset_step": float(first_l.steps[0])},
                    )
                )
    return out
