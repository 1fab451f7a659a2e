"""TDX102 loss_spike: the training loss jumps far above its recent level."""

from __future__ import annotations

import math

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, fmt_num, times
from ..baselines import causal_baseline, ema_z_at, group_runs
from ..evidence import at
from ..registry import check
from ..stats import nearest_index


@check(code="TDX102", emits="loss_spike", requires=("loss/train",))
def loss_spike(
    run: Run,
    *,
    window: int = 50,
    z: float = 6.0,
    min_rise: float = 0.25,
    warmup_fraction: float = 0.05,
    min_points: int = 6,
    recover_sigmas: float = 3.0,
) -> list[Symptom]:
    """Training loss jumps far above its recent running level.

    ## Symptom
    A point (or a run of points) of the training loss at least ``z`` (6)
    robust standard deviations above the median of the points before it
    (a causal baseline over blocks of ``window``, 50, points) and at least
    ``min_rise`` (25%) above that median, after the first ``warmup_fraction``
    (5%) of the run and only with at least ``min_points`` (6) points (short
    logs use blocks of a sixth of their points, at least 3). For each
    spike: whether and when the loss came back within ``recover_sigmas`` (3)
    sigmas of its baseline, and the gradient norm's ZClip-style z-score at the
    spike when a gradient norm is logged.

    ## Why it matters
    Spikes waste the steps it takes to recover, and repeated or unrecovered
    spikes are how large runs start to diverge (PaLM saw about 20 despite
    clipping; OLMo 2 and "Spike No More" see gradient-norm spikes first).

    ## Evidence
    The biggest spikes with their step, value, baseline and ``file:line``; the
    recovery step or "not recovered"; the grad-norm z at the spike.

    ## Likely causes
    A learning rate at the edge of stability, a bad or unusual batch, fp16
    overflow, attention logit growth.

    ## Fix
    Lower the LR or lengthen warmup; clip the gradient norm; restart from a
    checkpoint some steps before the spike and skip the batches around it.

    ## Known false positives
    Epoch-boundary drops are not spikes (only rises count); the first logged
    losses (warmup) are skipped; noisy small-batch losses have a wide MAD, so
    their ordinary noise stays under 6 sigmas. The 6-sigma robust z is the
    STYLE.md example's default; ZClip uses 2.5 on its EMA z for clipping, a
    much lower bar meant for gradients, not reports.
    """
    s = run.series["loss/train"]
    fin = s.finite_part()
    n = len(fin)
    if n < min_points or float(np.min(fin.values)) < 0:
        return []  # losses that go negative (reinforcement learning) have no ratio scale
    x = fin.values
    w = min(window, max(3, n // 6))
    base = causal_baseline(x, w)
    start = max(w, int(math.ceil(warmup_fraction * n)))
    with np.errstate(invalid="ignore", divide="ignore"):
        zs = (x - base.median) / np.where(base.sigma > 0, base.sigma, np.nan)
        rel = (x - base.median) / np.abs(base.median)
    cand = np.flatnonzero((np.arange(n) >= start) & (base.median > 0) & (zs >= z) & (rel >= min_rise))
    if cand.size == 0:
        return []
    events = []
    for a, b in group_runs(cand):
        peak = a + int(np.argmax(x[a : b + 1]))
        med, sig = float(base.median[a]), float(base.sigma[a])
        back = np.flatnonzero(x[b + 1 :] <= med + recover_sigmas * sig)
        rec = b + 1 + int(back[0]) if back.size else None
        events.append({"start": a, "peak": peak, "end": b, "base": med, "sigma": sig, "recovered_at": rec, "ratio": float(x[peak] / med) if med else math.inf})
    events.sort(key=lambda e: -e["ratio"])
    g = run.first("grad_norm", "grad_norm/pre_clip", "grad_norm/post_clip")
    gfin = g.finite_part() if g is not None and g.step_unit == fin.step_unit else None
    ev: list[Evidence] = []
    for e in events[:3]:
        p = e["peak"]
        rec = e["recovered_at"]
        rec_txt = (
            f"back to its level at {at(fin, rec)} ({fmt_num(float(fin.steps[rec] - fin.steps[p]))} later)"
            if rec is not None
            else "not back to its level by the end of the log"
        )
        text = (
            f"training loss {fmt_num(float(x[p]))} at {at(fin, p)}, {times(e['ratio'])} its median {fmt_num(e['base'])} "
            f"over the points before; {rec_txt}"
        )
        if gfin is not None and len(gfin) > 10:
            gi = nearest_index(gfin.steps, float(fin.steps[e["start"]]))
            zg = max((ema_z_at(gfin.values, j) for j in range(max(0, gi - 2), min(len(gfin), gi + 2))), default=math.nan, key=lambda v: -math.inf if math.isnan(v) else v)
            e["grad_z"] = zg
            if not math.isnan(zg):
                text += f"; grad norm z-score {zg:.1f} against its moving average there"
        ev.append(Evidence(text, fin.where(p), float(fin.steps[p])))
    first = min(events, key=lambda e: e["start"])
    biggest = events[0]
    unrecovered = [e for e in events if e["recovered_at"] is None]
    if biggest["ratio"] >= 2 and (unrecovered or len(events) >= 3):
        severity = "high"
    elif biggest["ratio"] >= 1.5 or len(events) >= 2:
        severity = "medium"
    else:
        severity = "low"
    summary = (
        f"{len(events)} loss spike{'s' if len(events) != 1 else ''}; the biggest {times(biggest['ratio'])} its running level at "
        f"{at(fin, biggest['peak'])}" + (f"; {len(unrecovered)} not recovered by the end of the log" if unrecovered else "; all recovered")
    )
    return [
        Symptom(
            id="loss_spike",
            code="TDX102",
            severity=severity,
            summary=summary,
            metric="loss/train",
            step=float(fin.steps[first["start"]]),
            step_unit=fin.step_unit,
            evidence=ev,
            data={
                "count": len(events),
                "first_step": float(fin.steps[first["start"]]),
                "biggest_step": float(fin.steps[biggest["peak"]]),
                "biggest_ratio": biggest["ratio"],
                "unrecovered": len(unrecovered),
                "grad_z": biggest.get("grad_z"),
                "steps": [float(fin.steps[e["start"]]) for e in sorted(events, key=lambda e: e["start"])],
            },
        )
    ]
