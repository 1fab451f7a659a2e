"""The power-law fit of weight spectra recovers a known exponent, reads random matrices as
under-trained, and samples large matrices (saying so)."""

from __future__ import annotations

import numpy as np
import pytest

from traindx.model.spectral import eigenvalues, fit_power_law, layer_spectrum
from traindx.model.summary import ParamTensor


def power_law_matrix(n: int, m: int, alpha: float, seed: int) -> np.ndarray:
    """W = U diag(sqrt(lambda)) V^T with eigenvalues lambda of W^T W drawn from p(x) ~ x^-alpha, x >= 1."""
    rng = np.random.default_rng(seed)
    lam = (1 - rng.random(n)) ** (-1 / (alpha - 1))
    u, _ = np.linalg.qr(rng.standard_normal((m, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return ((u * np.sqrt(lam)) @ v.T).astype(np.float32)


@pytest.mark.parametrize("alpha", [1.6, 2.5, 4.0, 5.5])
def test_recovers_a_known_exponent(alpha: float) -> None:
    w = power_law_matrix(400, 800, alpha, seed=int(alpha * 10))
    ev, sampled = eigenvalues(w)
    got, xmin, n_tail, ks = fit_power_law(ev)
    assert sampled == ""
    assert got == pytest.approx(alpha, abs=0.35)
    assert n_tail >= 10 and ks < 0.1


def test_random_gaussian_layer_reads_as_under_trained() -> None:
    w = np.random.default_rng(0).standard_normal((768, 768)).astype(np.float32)
    t = ParamTensor("h.0.mlp.c_fc.weight", (768, 768), "F32", "mlp", "h.0")
    s = layer_spectrum(t, w)
    assert s is not None and s.alpha > 6


def test_large_matrix_is_sampled_and_says_so() -> None:
    w = power_law_matrix(300, 2000, 3.0, seed=3)
    ev, sampled = eigenvalues(w, max_dim=128, max_rows=512)
    assert ev.size == 128
    assert sampled == "128 of 300 columns, 512 of 2000 rows"


def test_nonfinite_matrix_gives_no_fit() -> None:
    w = np.ones((64, 64), dtype=np.float32)
    w[3, 3] = np.nan
    assert layer_spectrum(ParamTensor("a.weight", (64, 64), "F32", "mlp", "a"), w) is None
