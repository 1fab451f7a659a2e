"""Per-layer spectral metrics of weight matrices: the power-law exponent alpha of the eigenvalue spectrum.

For a weight matrix W (M x N, M >= N after transposing), the empirical spectral
density is that of the eigenvalues of W^T W. WeightWatcher (Martin & Mahoney,
"Implicit Self-Regularization in Deep Neural Networks", JMLR 2021) fits a power
law p(x) ~ x^-alpha to its tail: well-trained layers have alpha between about 2
and 6, alpha < 2 reads as over-trained (over-fit to the training data), alpha
> 6 as under-trained (close to random), and above about 8 the fit itself is
not trustworthy (see REFERENCES.md).

The fit is the maximum-likelihood estimator of Clauset, Shalizi and Newman
(SIAM Review 2009): for each candidate lower bound xmin, alpha = 1 + n /
sum(ln(x_i / xmin)) over the n eigenvalues >= xmin, and the xmin whose fit has the
smallest Kolmogorov-Smirnov distance to the data wins.

Speed: the eigenvalues come from ``eigvalsh`` of the N x N Gram matrix (N the
smaller side), not from an SVD of W. A matrix whose smaller side exceeds
``max_dim`` is sampled down to ``max_dim`` random columns, and one with more than
``max_rows`` rows to ``max_rows`` random rows (a fixed seed, so the result is
reproducible); the entry says so in ``sampled``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .dtypes import FLOAT_DTYPES, to_float32
from .summary import LayerSpectrum, ParamTensor

MIN_DIM = 50  # fewer eigenvalues than this give no usable tail fit
MAX_DIM = 1024
MAX_ROWS = 8192
MIN_TAIL = 10
SPECTRAL_GROUPS = frozenset({"attention", "mlp", "head", "recurrent", "other"})

ValuesFn = Callable[[str], "np.ndarray | None"]


def eligible(t: ParamTensor, *, min_dim: int = MIN_DIM) -> bool:
    """A counted 2-D float weight matrix of a layer group the metric applies to."""
    return (
        t.counted
        and t.dtype in FLOAT_DTYPES
        and len(t.shape) == 2
        and min(t.shape) >= min_dim
        and t.group in SPECTRAL_GROUPS
        and t.name.endswith(("weight", "kernel"))
    )


def eigenvalues(w: np.ndarray, *, max_dim: int = MAX_DIM, max_rows: int = MAX_ROWS, seed: int = 0) -> tuple[np.ndarray, str]:
    """Eigenvalues of W^T W (ascending), and how W was sampled ('' when it was not)."""
    if w.shape[0] < w.shape[1]:
        w = w.T
    m, n = w.shape
    rng = np.random.default_rng(seed)
    notes = []
    if n > max_dim:
        cols = np.sort(rng.choice(n, size=max_dim, replace=False))
        w = w[:, cols]
        notes.append(f"{max_dim} of {n} columns")
    if m > max_rows:
        rows = np.sort(rng.choice(m, size=max_rows, replace=False))
        w = w[rows]
        notes.append(f"{max_rows} of {m} rows")
    a = np.asarray(w, dtype=np.float64)
    gram = a.T @ a
    ev = np.linalg.eigvalsh(gram)
    ev = np.clip(ev, 0.0, None) / a.shape[0]
    return ev, ", ".join(notes)


def fit_power_law(ev: np.ndarray, *, min_tail: int = MIN_TAIL) -> tuple[float, float, int, float]:
    """(alpha, xmin, tail size, KS distance) of the best power-law tail fit of ``ev`` (ascending)."""
    x = np.sort(ev[ev > ev.max() * 1e-12]) if ev.size else ev
    n = x.size
    if n < min_tail + 1:
        return math.nan, math.nan, 0, math.nan
    logx = np.log(x)
    suffix = np.cumsum(logx[::-1])[::-1]  # sum of log x[i:] for each i
    best = (math.inf, math.nan, math.nan, 0)
    for k in range(0, n - min_tail + 1):
        nk = n - k
        denom = suffix[k] - nk * logx[k]
        if denom <= 0:
            continue
        alpha = 1.0 + nk / denom
        tail = x[k:]
        model = 1.0 - (tail / x[k]) ** (1.0 - alpha)
        emp_hi = np.arange(1, nk + 1) / nk
        emp_lo = np.arange(0, nk) / nk
        d = float(max(np.abs(emp_hi - model).max(), np.abs(emp_lo - model).max()))
        if d < best[0]:
            best = (d, alpha, float(x[k]), nk)
    d, alpha, xmin, nk = best
    return alpha, xmin, nk, d


def layer_spectrum(t: ParamTensor, raw: np.ndarray, *, max_dim: int = MAX_DIM, max_rows: int = MAX_ROWS) -> LayerSpectrum | None:
    w = to_float32(np.asarray(raw) if not isinstance(raw, np.memmap) else raw, t.dtype)
    if w is None or w.ndim != 2 or not np.isfinite(w).all():
        return None
    ev, sampled = eigenvalues(w, max_dim=max_dim, max_rows=max_rows)
    alpha, xmin, nk, ks = fit_power_law(ev)
    if not math.isfinite(alpha):
        return None
    return LayerSpectrum(name=t.name, shape=t.shape, n_evals=int(ev.size), alpha=float(alpha), xmin=float(xmin), n_tail=int(nk), ks=float(ks), lambda_max=float(ev.max()), sampled=sampled)


def analyze(tensors: list[ParamTensor], values: ValuesFn, *, max_dim: int = MAX_DIM, max_rows: int = MAX_ROWS, min_dim: int = MIN_DIM) -> tuple[list[LayerSpectrum], list[str]]:
    """The spectrum fit of every eligible matrix, and notes on what was sampled or left out."""
    out: list[LayerSpectrum] = []
    sampled = 0
    for t in tensors:
        if not eligible(t, min_dim=min_dim):
            continue
        raw = values(t.name)
        if raw is None:
            continue
        s = layer_spectrum(t, raw, max_dim=max_dim, max_rows=max_rows)
        if s is not None:
            out.append(s)
            sampled += bool(s.sampled)
    notes = []
    if sampled:
        notes.append(f"spectra: {sampled} of {len(out)} matrices were sampled (smaller side capped at {max_dim}, rows at {max_rows}); their alpha is an estimate")
    return out, notes
