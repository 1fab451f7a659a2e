"""TDX101 loss_divergence: the training loss climbs away from its best level and stays up."""

from __future__ import annotations

import math

import numpy as np

from ...findings import Evidence, Request, Symptom
from ...run import Run, fmt_num, fmt_step
from ..evidence import at, point, span
from ..registry import check
from ..stats import reduce, robust_sigma, rolling_median, smoothing_window


@check(
    code="TDX101",
    emits="loss_divergence",
    requires=("loss/train",),
    request=Request(
        need="the training loss per step",
        why="divergence is judged on the training loss; without it only evaluation curves can be read",
        how="log the loss every few steps (print it, or save the trainer's log history / metrics.csv)",
    ),
)
def loss_divergence(
    run: Run,
    *,
    min_points: int = 3,
    min_rise: float = 0.2,
    noise_k: float = 4.0,
    tail_fraction: float = 0.1,
    critical_ratio: float = 2.0,
    excursion_fraction: float = 0.15,
) -> list[Symptom]:
    """Training loss climbs away from its best level and does not come back.

    ## Symptom
    Over at least ``min_points`` (3) finite points, the training loss, smoothed
    with a rolling median, ends (median of the last ``tail_fraction``, 10%, of
    the points) at least ``min_rise`` (20%) above the lowest level it reached
    earlier, that rise is larger than
    ``noise_k`` (4) times the curve's own noise, and from the onset to the end
    the curve stays above halfway between its best and its final level. The
    onset is the first logged step of that final climb (a change point on the
    smoothed curve, refined on the raw points), so partial and late
    divergences are found, and a run that falls, climbs back most of the way
    and stays there counts.

    A run that climbs just as far and stays up for at least
    ``excursion_fraction`` (15%) of its points, then comes partly back down
    (the LR schedule decayed, say), is a divergence too, reported with how
    far it came back.

    ## Why it matters
    A diverging run wastes every step after the onset and usually ends in NaN;
    the onset step is where the cause is to be found (an LR peak, a schedule
    change, a bad batch, a precision overflow).

    ## Evidence
    The best point before the onset, the first point of the climb and the
    final level, each with its step and ``file:line``; the peak and the first
    non-finite value after the onset when there is one; how many steps the
    climb took.

    ## Likely causes
    Learning rate too high (often right when warmup ends), an LR schedule that
    restarts or jumps, exploding gradients without clipping, fp16 overflow.

    ## Fix
    Lower the peak learning rate or lengthen warmup, clip the gradient norm,
    and restart from the last checkpoint before the onset.

    ## Known false positives
    A short warmup bump that recovers is not divergence (the curve must end
    high). Thresholds: the 20% rise and the stay-up rule are our own choice,
    measured on the corpus (TheDeepChecker calls a loss at 2x its minimum
    diverging; ending at ``critical_ratio`` (2x) the best level, or in NaN,
    makes the finding critical). Reinforcement
    learning losses that legitimately rise are judged by their reward instead.
    """
    s = run.series["loss/train"]
    fin = s.finite_part()
    n = len(fin)
    if n < min_points:
        return []
    red = reduce(fin.steps, fin.values)
    m = len(red)
    w = smoothing_window(m)
    sm = rolling_median(red.values, w)
    tail_len = max(1, int(math.ceil(tail_fraction * m))) if m >= 6 else 1
    if m - tail_len < 1:
        return []
    tail_level = float(np.median(sm[-tail_len:]))
    b = int(np.argmin(sm[: m - tail_len]))
    best = float(sm[b])
    up = tail_level - best
    # noise: residuals around a rolling median of at least 3 points, so one jump does not count as noise
    resid = red.values - (sm if w >= 3 else rolling_median(red.values, 3))
    sigma = robust_sigma(resid)
    scale = max(abs(best), 1e-12)
    if up <= min_rise * scale or up <= noise_k * sigma:
        return _sustained_excursion(fin, red, sm, sigma, w, min_rise=min_rise, noise_k=noise_k, min_fraction=excursion_fraction)
    thr = best + up / 2
    below = np.flatnonzero(sm[b:] <= thr) + b
    k = int(below[-1])
    if k >= m - 1:
        return []
    # the climb starts where the curve last left the band around its best level
    # (the smoothed curve's own noise is about sigma / sqrt(window))
    tol = max(3 * sigma / math.sqrt(w), min(0.1 * up, 0.25 * scale))
    j = k
    while j > b and sm[j] > best + tol:
        j -= 1
    start_level = best + tol
    # back to raw points: the first raw point above that band that starts a stay-up
    lo = int(red.start[max(b, j + 1 - w // 2)])
    vals = fin.values
    onset = -1
    for i in range(lo, n):
        if vals[i] > start_level and float(np.median(vals[i : i + 3])) > start_level:
            onset = i
            break
    if onset < 0:
        onset = int(red.start[k + 1])
    # the best raw point around the best smoothed level, at or before the onset
    b_lo, b_hi = int(red.start[max(0, b - w // 2)]), int(red.stop[min(m - 1, b + w // 2)])
    b_hi = min(b_hi, onset)
    if b_hi <= b_lo:
        b_lo, b_hi = 0, max(onset, 1)
    best_i = b_lo + int(np.argmin(vals[b_lo:b_hi]))
    peak_i = onset + int(np.argmax(vals[onset:]))
    last_i = n - 1
    # how fast: first smoothed point at 90% of the final rise
    reach = np.flatnonzero(sm[k + 1 :] >= best + 0.9 * up)
    reach_i = int(red.start[k + 1 + int(reach[0])]) if reach.size else last_i
    rise_steps = float(fin.steps[reach_i] - fin.steps[onset])

    bad = ~np.isfinite(s.values)
    nan_after = bool(bad.any() and s.steps[bad][-1] >= fin.steps[onset])
    first_nan_step = float(s.steps[np.argmax(bad & (s.steps >= fin.steps[onset]))]) if nan_after else None

    ratio = tail_level / best if best > 0 else math.inf
    severity = "critical" if (ratio >= critical_ratio or nan_after) else "high"
    word = "epoch" if fin.step_unit == "epoch" else "step"
    rise_pct = (tail_level - best) / scale * 100
    summary = (
        f"training loss rose {rise_pct:.0f}% above its best ({fmt_num(float(vals[best_i]))} at {at(fin, best_i)}) "
        f"from {at(fin, onset)} and stayed up (final level {fmt_num(tail_level)})"
    )
    if nan_after and first_nan_step is not None:
        summary += f", then became non-finite at {word} {fmt_step(first_nan_step)}"
    evidence: list[Evidence] = [
        point(fin, best_i, "best training loss"),
        point(fin, onset, "training loss starts its climb:"),
    ]
    if peak_i != onset:
        evidence.append(point(fin, peak_i, "peak training loss"))
    # the sharpest single step of the climb, when it carries a large share of the rise
    if n - onset >= 3:
        jumps = np.diff(vals[onset:])
        jmax = int(np.argmax(jumps))
        if jumps[jmax] >= 0.25 * up and onset + jmax + 1 != peak_i:
            evidence.append(span(fin, onset + jmax, onset + jmax + 1, "sharpest jump: training loss"))
    evidence.append(
        Evidence(
            text=f"training loss at the end {fmt_num(float(vals[last_i]))} at {at(fin, last_i)} "
            f"(smoothed level {fmt_num(tail_level)}, {ratio:.1f}x the best)"
            if math.isfinite(ratio)
            else f"training loss at the end {fmt_num(float(vals[last_i]))} at {at(fin, last_i)}",
            source=fin.where(last_i),
            step=float(fin.steps[last_i]),
        )
    )
    if nan_after and first_nan_step is not None:
        j = int(np.argmax(bad & (s.steps >= fin.steps[onset])))
        evidence.append(Evidence(text=f"training loss is {s.values[j]} at {word} {fmt_step(first_nan_step)}", source=s.where(j), step=first_nan_step))
    return [
        Symptom(
            id="loss_divergence",
            code="TDX101",
            severity=severity,
            summary=summary,
            metric="loss/train",
            step=float(fin.steps[onset]),
            step_unit=fin.step_unit,
            evidence=evidence,
            data={
                "onset_step": float(fin.steps[onset]),
                "onset_index": onset,
                "best_step": float(fin.steps[best_i]),
                "best_value": float(vals[best_i]),
                "final_level": tail_level,
                "peak_step": float(fin.steps[peak_i]),
                "peak_value": float(vals[peak_i]),
                "ratio": ratio,
                "rise_steps": rise_steps,
                "nan_after": nan_after,
                "first_nan_step": first_nan_step,
                "points": n,
            },
        )
    ]


def _sustained_excursion(fin, red, sm, sigma, w, *, min_rise: float, noise_k: float, min_fraction: float) -> list[Symptom]:  # type: ignore[no-untyped-def]
    """A climb above the best level so far that lasts, even if the loss comes back part of the way later."""
    m = len(sm)
    if m < 8:
        return []
    prefmin = np.minimum.accumulate(sm)
    scale = np.maximum(np.abs(prefmin), 1e-12)
    over = (sm - prefmin > np.maximum(min_rise * scale, noise_k * sigma)) & (np.arange(m) > 0)
    best_run = (0, 0)
    i = 0
    while i < m:
        if over[i]:
            j = i
            while j + 1 < m and over[j + 1]:
                j += 1
            if j - i + 1 > best_run[1] - best_run[0]:
                best_run = (i, j + 1)
            i = j + 1
        else:
            i += 1
    a, b = best_run
    if b - a < max(5, int(min_fraction * m)):
        return []
    vals = fin.values
    n = len(fin)
    onset = int(red.start[a])
    best_i = int(np.argmin(vals[: max(onset, 1)]))
    peak_i = int(red.start[a]) + int(np.argmax(vals[int(red.start[a]) : int(red.stop[b - 1])]))
    end_i = n - 1
    best = float(vals[best_i])
    peak_level = float(np.max(sm[a:b]))
    final_level = float(np.median(sm[-max(1, m // 10) :]))
    back = (final_level - best) / abs(best) if best else 0.0
    rise = (peak_level - best) / abs(best) if best else 0.0
    last_up = int(red.stop[b - 1]) - 1
    summary = (
        f"training loss rose {rise * 100:.0f}% above its best ({fmt_num(best)} at {at(fin, best_i)}) from {at(fin, onset)} "
        f"and stayed up until {at(fin, last_up)}, then came back to {fmt_num(final_level)} ({back * 100:+.0f}% from the best)"
    )
    ev = [
        point(fin, best_i, "best training loss"),
        point(fin, onset, "training loss starts its climb:"),
        point(fin, peak_i, "peak training loss"),
        Evidence(f"training loss {fmt_num(float(vals[end_i]))} at {at(fin, end_i)} (smoothed level {fmt_num(final_level)})", fin.where(end_i), float(fin.steps[end_i])),
    ]
    return [
        Symptom(
            id="loss_divergence",
            code="TDX101",
            severity="high",
            summary=summary,
            metric="loss/train",
            step=float(fin.steps[onset]),
            step_unit=fin.step_unit,
            evidence=ev,
            data={
                "kind": "partial",
                "onset_step": float(fin.steps[onset]),
                "onset_index": onset,
                "best_step": float(fin.steps[best_i]),
                "best_value": best,
                "final_level": final_level,
                "peak_step": float(fin.steps[peak_i]),
                "peak_value": float(vals[peak_i]),
                "ratio": peak_level / best if best > 0 else math.inf,
                "rise_steps": float(fin.steps[peak_i] - fin.steps[onset]),
                "nan_after": False,
                "first_nan_step": None,
                "points": n,
                "recovered_to": back,
                "stayed_up_until": float(fin.steps[last_up]),
            },
        )
    ]
