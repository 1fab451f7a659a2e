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
    window = max(2, window)
    nb = (n + window - 1) // window
    if nb < 2:
        return Baseline(med, sig)
    padded = np.full(nb * window, np.nan)
    padded[:n] = np.where(np.isfinite(x), x, np.nan)
    blocks = padded.reshape(nb, window)
    # the reference of block b (b >= 1): blocks b-2 and b-1, side by side
    prev2 = np.vstack([np.full((1, window), np.nan), blocks[:-2]]) if nb > 2 else np.full((1, window), np.nan)
    ref = np.hstack([prev2[: nb - 1], blocks[: nb - 1]])
    enough = np.sum(np.isfinite(ref), axis=1) >= 3
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows are masked by ``enough``
            # np.median is several times faster than np.nanmedian; use it on the rows without NaN
            clean = ~np.isnan(ref).any(axis=1)
            m = np.empty(ref.shape[0])
            s = np.empty(ref.shape[0])
            mean_dev = np.empty(ref.shape[0])
            for rows, median, mean in ((clean, np.median, np.mean), (~clean, np.nanmedian, np.nanmean)):
                if rows.any():
                    r = ref[rows]
                    mr = median(r, axis=1)
                    dev = np.abs(r - mr[:, None])
                    m[rows] = mr
                    s[rows] = median(dev, axis=1) * 1.4826
                    mean_dev[rows] = mean(dev, axis=1) * 1.2533
    s = np.where(s > 0, s, mean_dev)
    m = np.where(enough, m, np.nan)
    s = np.where(enough, s, np.nan)
    med_full = np.repeat(m, window)
    sig_full = np.repeat(s, window)
    med[window:] = med_full[: n - window]
    sig[window:] = sig_full[: n - window]
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
