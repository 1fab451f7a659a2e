"""Causal baselines for point events (spikes): what a series looked like just before each point.

A spike is judged against the points before it, never after (the future may be
the divergence the spike started). Baselines are piecewise constant over blocks
of ``window`` points: block ``b`` is compared with the median and MAD of the
points in blocks ``b-2`` and ``b-1``. That is linear in the number of points and
robust: one spike cannot move its own baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Baseline:
    median: np.ndarray  # per point: the median of the points before it
    sigma: np.ndarray  # per point: 1.4826 x MAD of the points before it (NaN where unknown)


def causal_baseline(x: np.ndarray, window: int) -> Baseline:
    n = x.shape[0]
    med = np.full(n, np.nan)
    sig = np.full(n, np.nan)
    if n == 0:
        return Baseline(med, sig)
    window = max(2, window)
    nb = (n + window - 1) // window
    for b in range(1, nb):
        lo = max(0, (b - 2) * window)
        ref = x[lo : b * window]
        ref = ref[np.isfinite(ref)]
        if ref.size < 3:
            continue
        m = float(np.median(ref))
        dev = np.abs(ref - m)
        s = float(np.median(dev)) * 1.4826
        if s == 0:
            s = float(np.mean(dev)) * 1.2533
        med[b * window : (b + 1) * window] = m
        sig[b * window : (b + 1) * window] = s
    return Baseline(med, sig)


def group_runs(idx: np.ndarray, gap: int = 2) -> list[tuple[int, int]]:
    """Consecutive indices (allowing ``gap`` missing ones) as (first, last) pairs."""
    if idx.size == 0:
        return []
    out = []
    start = prev = int(idx[0])
    for i in idx[1:]:
        i = int(i)
        if i - prev > gap + 1:
            out.append((start, prev))
            start = i
        prev = i
    out.append((start, prev))
    return out


def ema_z_at(x: np.ndarray, i: int, *, alpha: float = 0.97, span: int = 300, warmup: int = 10) -> float:
    """ZClip-style z-score of point ``i`` against an exponential moving mean and variance
    (``alpha`` 0.97, as ZClip uses) of the ``span`` points before it; NaN when too few."""
    lo = max(0, i - span)
    mean = var = None
    seen = 0
    for v in x[lo:i]:
        if not np.isfinite(v):
            continue
        v = float(v)
        if mean is None or var is None:
            mean, var = v, 0.0
        else:
            d = v - mean
            mean = alpha * mean + (1 - alpha) * v
            var = alpha * var + (1 - alpha) * d * d
        seen += 1
    if mean is None or var is None or seen < warmup or var <= 0 or not np.isfinite(x[i]):
        return float("nan")
    return (float(x[i]) - mean) / float(np.sqrt(var))
