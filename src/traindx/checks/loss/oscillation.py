"""TDX106 loss_oscillation: the loss swings up and down with a large amplitude instead of settling."""

from __future__ import annotations

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, fmt_num
from ..evidence import at
from ..registry import check
from ..stats import rolling_median


@check(code="TDX106", emits="loss_oscillation", requires=("loss/train",))
def loss_oscillation(
    run: Run,
    *,
    min_amplitude: float = 0.3,
    max_autocorr: float = -0.6,
    min_points: int = 20,
    max_points: int = 20000,
    burst_up: float = 2.0,
    burst_down: float = 1.5,
    min_bursts: int = 2,
    window_fraction: float = 0.04,
) -> list[Symptom]:
    """Training loss oscillates: large swings that alternate or come in bursts, not batch noise.

    ## Symptom
    One of two signatures. *Bursts*: the run is cut into windows of
    ``window_fraction`` (4%, at least 5 points) and each window's median is
    compared with the lowest window median so far; a burst is a window at
    ``burst_up`` (2x) that level or more, ended by a window back at
    ``burst_down`` (1.5x) or less. ``min_bursts`` (2) bursts or more is an
    oscillation: the loss is kicked up and pulled back again and again.
    Window medians average batch noise out, and a falling curve never rises
    above its own running minimum, so healthy noisy runs have none.
    *Alternation*:
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
    bursts = _bursts(fin, up=burst_up, down=burst_down, window_fraction=window_fraction)
    if len(bursts) >= min_bursts:
        return [_burst_symptom(fin, bursts, burst_up)]
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


def _bursts(fin, *, up: float, down: float, window_fraction: float) -> list[tuple[int, int, float]]:  # type: ignore[no-untyped-def]
    """(first window, last window, peak ratio) of each excursion of the window medians above their running minimum."""
    v = fin.values
    n = len(v)
    w = max(5, int(n * window_fraction))
    k = n // w
    if k < 4:
        return []
    med = np.array([float(np.median(v[i * w : (i + 1) * w])) for i in range(k)])
    runmin = np.minimum.accumulate(med)
    out: list[tuple[int, int, float]] = []
    start, peak = -1, 0.0
    for i in range(1, k):
        base = runmin[i - 1]
        if base <= 0:
            continue
        if start < 0 and med[i] >= up * base:
            start, peak = i, med[i] / base
        elif start >= 0:
            peak = max(peak, med[i] / base)
            if med[i] <= down * runmin[i]:
                out.append((start * w, i * w, peak))
                start = -1
    return out


def _burst_symptom(fin, bursts: list[tuple[int, int, float]], up: float) -> Symptom:  # type: ignore[no-untyped-def]
    v = fin.values
    biggest = max(bursts, key=lambda b: b[2])
    a, b, ratio = biggest
    p = a + int(np.argmax(v[a:b]))
    first = bursts[0][0]
    floor = float(np.percentile(v, 10))
    return Symptom(
        id="loss_oscillation",
        code="TDX106",
        severity="high" if ratio >= 5 else "medium",
        summary=f"training loss swings up and back down {len(bursts)} times without settling: its running level rises {up:.0f}x or more and returns, "
        f"the biggest swing {ratio:.0f}x (peak {fmt_num(float(v[p]))} at {at(fin, p)}, floor about {fmt_num(floor)})",
        metric="loss/train",
        step=float(fin.steps[first]),
        step_unit=fin.step_unit,
        evidence=[
            Evidence(f"training loss {fmt_num(float(v[first]))} at {at(fin, first)}, the start of the first swing", fin.where(first), float(fin.steps[first])),
            Evidence(f"training loss {fmt_num(float(v[p]))} at {at(fin, p)}, the top of the biggest swing ({ratio:.0f}x the level before it)", fin.where(p), float(fin.steps[p])),
            Evidence(f"training loss {fmt_num(float(v[-1]))} at {at(fin, len(fin) - 1)} (10th percentile {fmt_num(floor)})", fin.where(len(fin) - 1), float(fin.steps[-1])),
        ],
        data={"kind": "bursts", "bursts": len(bursts), "ratio": ratio, "onset_step": float(fin.steps[first])},
    )
