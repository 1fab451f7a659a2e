"""Downsampling for drawing that keeps what a reader must see: extremes and non-finite points.

A curve of millions of points is drawn from a few thousand. Averaging or
striding would erase exactly what a diagnosis points at (a one-step spike, the
first NaN), so the points are cut into equal-count buckets and each bucket
keeps its lowest and its highest finite point and its first point of each
non-finite kind (NaN, +inf, -inf), in step order. The first and the last point
of the series are always kept. A series with at most ``max_points`` points is
returned unchanged.

The result is at most ``5 * buckets + 2`` points, so the cost of drawing is
bounded whatever the length of the run; the cost of this function is a few
vectorized passes over the arrays (linear in the number of points).
"""

from __future__ import annotations

import numpy as np


def bucket_count(max_points: int) -> int:
    """Buckets such that a bucket's two extremes fill ``max_points``."""
    return max(1, max_points // 2)


def keep_indices(values: np.ndarray, max_points: int = 4000) -> np.ndarray:
    """Sorted indices of the points to draw (all of them when the series is short)."""
    v = np.asarray(values, dtype=np.float64)
    n = int(v.shape[0])
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    nb = bucket_count(max_points)
    k = -(-n // nb)  # points per bucket, rounded up
    nb = -(-n // k)  # buckets actually needed at that size
    pad = nb * k - n
    finite = np.isfinite(v)
    lo = np.where(finite, v, np.inf)
    hi = np.where(finite, v, -np.inf)
    if pad:
        lo = np.concatenate([lo, np.full(pad, np.inf)])
        hi = np.concatenate([hi, np.full(pad, -np.inf)])
    base = np.arange(nb, dtype=np.int64) * k
    keep: list[np.ndarray] = [np.array([0, n - 1], dtype=np.int64)]
    lo2 = lo.reshape(nb, k)
    hi2 = hi.reshape(nb, k)
    imin = base + np.argmin(lo2, axis=1)
    imax = base + np.argmax(hi2, axis=1)
    has_finite = np.isfinite(lo2).any(axis=1)
    keep.append(imin[has_finite])
    keep.append(imax[has_finite])
    if not finite.all():
        for mask in (np.isnan(v), np.isposinf(v), np.isneginf(v)):
            if not mask.any():
                continue
            m = np.concatenate([mask, np.zeros(pad, dtype=bool)]) if pad else mask
            m2 = m.reshape(nb, k)
            present = m2.any(axis=1)
            first = base + np.argmax(m2, axis=1)
            keep.append(first[present])
    idx = np.unique(np.concatenate(keep))
    return idx[idx < n]


def downsample(steps: np.ndarray, values: np.ndarray, max_points: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` reduced for drawing; extremes and non-finite points survive."""
    idx = keep_indices(values, max_points)
    if idx.shape[0] == np.asarray(values).shape[0]:
        return np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)
    return np.asarray(steps, dtype=np.float64)[idx], np.asarray(values, dtype=np.float64)[idx]
