"""Robust statistics shared by the checks: smoothing, noise levels, levels of a curve.

All functions are linear (or ``n * window`` on a reduced curve) in the number
of points, so a million-point series costs milliseconds. Long series are first
reduced to bucket medians (``reduce``), which keeps the shape of the curve and
its level while noise averages out; checks then go back to the raw points to
quote exact values and lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..run import Series

MAX_POINTS = 4000


@dataclass(frozen=True)
class Reduced:
    """A curve reduced to at most ``MAX_POINTS`` buckets of consecutive raw points."""

    steps: np.ndarray  # step of each bucket (its median point's step)
    values: np.ndarray  # median of each bucket
    start: np.ndarray  # first raw index of each bucket
    stop: np.ndarray  # one past the last raw index

    def __len__(self) -> int:
        return int(self.values.shape[0])


def reduce(steps: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS) -> Reduced:
    n = values.shape[0]
    if n <= max_points:
        idx = np.arange(n)
        return Reduced(steps.copy(), values.copy(), idx, idx + 1)
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    start, stop = edges[:-1], edges[1:]
    width = int((stop - start).max())
    # pad each bucket to the same width with NaN, then a vectorised nanmedian
    cols = start[:, None] + np.arange(width)[None, :]
    valid = cols < stop[:, None]
    cols = np.minimum(cols, n - 1)
    block = np.where(valid, values[cols], np.nan)
    med = np.nanmedian(block, axis=1)
    mid = (start + stop - 1) // 2
    return Reduced(steps[mid], med, start, stop)


def rolling_median(x: np.ndarray, window: int) -> np.ndarray:
    """Centered rolling median; the window shrinks at both ends instead of padding."""
    n = x.shape[0]
    if window <= 1 or n < 3:
        return x.copy()
    window = min(window, n if n % 2 else n - 1)
    if window % 2 == 0:
        window -= 1
    if window <= 1:
        return x.copy()
    half = window // 2
    out = np.empty(n)
    view = np.lib.stride_tricks.sliding_window_view(x, window)
    out[half : n - half] = np.median(view, axis=1)
    for i in range(half):
        out[i] = np.median(x[: 2 * i + 1])
        out[n - 1 - i] = np.median(x[n - 1 - 2 * i :])
    return out


def smoothing_window(n: int, *, fraction: float = 1 / 15, cap: int = 51) -> int:
    """An odd window that grows with the number of points (1 for very short curves)."""
    w = int(n * fraction)
    w = max(1, min(cap, w))
    return w if w % 2 else w - 1 if w > 1 else 1


def robust_sigma(x: np.ndarray) -> float:
    """Noise scale: 1.4826 x median absolute deviation; when more than half the
    deviations are 0, 1.2533 x the mean absolute deviation (both equal the
    standard deviation for Gaussian noise, and neither is dominated by one jump)."""
    if x.size == 0:
        return 0.0
    med = float(np.median(x))
    dev = np.abs(x - med)
    mad = float(np.median(dev)) * 1.4826
    if mad > 0:
        return mad
    return float(np.mean(dev)) * 1.2533


def segment_medians(x: np.ndarray, k: int) -> np.ndarray:
    """Medians of ``k`` consecutive, nearly equal segments of ``x``."""
    parts = np.array_split(x, k)
    return np.array([float(np.median(p)) if p.size else math.nan for p in parts])


def nearest_index(steps: np.ndarray, step: float) -> int:
    """Index of the point whose step is closest to ``step`` (earlier one on ties)."""
    if steps.size == 0:
        return -1
    i = int(np.searchsorted(steps, step))
    if i <= 0:
        return 0
    if i >= steps.size:
        return int(steps.size - 1)
    return i - 1 if (step - steps[i - 1]) <= (steps[i] - step) else i


def level_near(series: Series, step: float, *, window: int = 5) -> float:
    """The median of the finite values of ``series`` around ``step`` (``window`` points)."""
    fin = series.finite_part()
    if not len(fin):
        return math.nan
    i = nearest_index(fin.steps, step)
    lo, hi = max(0, i - window // 2), min(len(fin), i + window // 2 + 1)
    return float(np.median(fin.values[lo:hi]))


def first_index_at_or_after(steps: np.ndarray, step: float) -> int:
    return int(np.searchsorted(steps, step, side="left"))


def same_unit(a: Series, b: Series) -> bool:
    return a.step_unit == b.step_unit
