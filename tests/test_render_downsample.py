"""Downsampling for drawing keeps what a reader must see: every bucket's extremes and its non-finite points."""

from __future__ import annotations

import numpy as np

from traindx.render.downsample import bucket_count, downsample, keep_indices


def _buckets(n: int, max_points: int) -> list[tuple[int, int]]:
    nb = bucket_count(max_points)
    k = -(-n // nb)
    return [(a, min(n, a + k)) for a in range(0, n, k)]


def test_short_series_is_returned_whole() -> None:
    v = np.array([3.0, np.nan, 1.0, np.inf])
    assert keep_indices(v, 10).tolist() == [0, 1, 2, 3]
    s, y = downsample(np.arange(4.0), v, 10)
    assert s.tolist() == [0, 1, 2, 3] and np.array_equal(y, v, equal_nan=True)


def test_every_bucket_keeps_its_extremes_and_the_output_is_bounded() -> None:
    rng = np.random.default_rng(1)
    n, mp = 1_000_003, 2000
    v = rng.standard_normal(n)
    spikes = rng.choice(n, 25, replace=False)
    v[spikes] = 1e6
    idx = keep_indices(v, mp)
    assert np.all(np.diff(idx) > 0) and idx[0] == 0 and idx[-1] == n - 1
    assert idx.size <= 2 * bucket_count(mp) + 2
    kept = set(idx.tolist())
    for a, b in _buckets(n, mp)[:: 97]:
        seg = v[a:b]
        assert a + int(np.argmin(seg)) in kept and a + int(np.argmax(seg)) in kept
    # a spike is the maximum of its bucket, so every one of them survives
    assert set(spikes.tolist()) <= kept


def test_non_finite_points_survive_in_every_bucket_that_has_them() -> None:
    rng = np.random.default_rng(2)
    n, mp = 500_000, 1000
    v = rng.random(n) + 1.0
    nan_at = np.sort(rng.choice(n, 40, replace=False))
    v[nan_at] = np.nan
    v[123_456] = np.inf
    v[400_001] = -np.inf
    v[450_000:] = np.nan  # a non-finite tail
    steps = np.arange(n, dtype=np.float64) * 10
    s, y = downsample(steps, v, mp)
    assert np.isposinf(y).sum() == 1 and s[np.isposinf(y)][0] == 1_234_560
    assert np.isneginf(y).sum() == 1 and s[np.isneginf(y)][0] == 4_000_010
    for a, b in _buckets(n, mp):
        seg_nan = np.isnan(v[a:b])
        if seg_nan.any():
            first = a + int(np.argmax(seg_nan))
            assert first * 10 in set(s[np.isnan(y)].tolist()), (a, b)
    assert s[np.isnan(y)][0] == nan_at[0] * 10  # the first NaN of the run, at its exact step
    # the kept points are real points of the series
    assert np.array_equal(y, v[(s / 10).astype(int)], equal_nan=True)


def test_all_nan_series_stays_bounded() -> None:
    v = np.full(2_000_000, np.nan)
    idx = keep_indices(v, 4000)
    assert 2 <= idx.size <= bucket_count(4000) + 2
    assert np.isnan(v[idx]).all()
