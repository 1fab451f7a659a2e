"""TDX807 undertrained_layers: layers whose weight spectrum looks random (alpha above 6)."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Run
from ..registry import check


@check(code="TDX807", emits="undertrained_layers")
def undertrained_layers(run: Run, *, alpha_high: float = 6.0, min_share: float = 0.5, min_layers: int = 3, max_evidence: int = 3) -> list[Symptom]:
    """Most layers have a power-law exponent alpha above 6: their weights still look random (under-trained).

    ## Symptom
    Of the weight matrices whose eigenvalue spectrum could be fitted (at least
    ``min_layers``, 3), a share of at least ``min_share`` (50%) has alpha above
    ``alpha_high`` (6.0). Low severity; medium when 90% of the layers or more.

    ## Why it matters
    A random matrix has a Marchenko-Pastur spectrum with no heavy tail, which
    a power-law fit reads as a large alpha; WeightWatcher calls layers above 6
    under-trained (and fits above 8 unreliable). A checkpoint whose layers all
    look random has learned little: training was short, the LR too low, or
    the weights were not updated at all.

    ## Evidence
    The ``max_evidence`` (3) layers with the highest alpha, as ``file#tensor``, with alpha and the fit.

    ## Likely causes
    A checkpoint saved at or near initialization, a learning rate too low,
    parameters frozen by mistake, an optimizer built over the wrong parameter list.

    ## Fix
    Check that the optimizer holds the model's parameters and that they
    require gradients, compare with a checkpoint from later in training, raise
    the LR or train longer.

    ## Known false positives
    A checkpoint taken at step 0 on purpose, and large pretrained models some
    of whose layers WeightWatcher also reports above 6. Thresholds are empirical.
    """
    m = run.model
    if m is None or not m.spectra or len(m.spectra) < min_layers:
        return []
    high = sorted((s for s in m.spectra if s.alpha > alpha_high), key=lambda s: -s.alpha)
    share = len(high) / len(m.spectra)
    if not high or share < min_share:
        return []
    return [
        Symptom(
            id="undertrained_layers",
            code="TDX807",
            severity="medium" if share >= 0.9 else "low",
            summary=f"{len(high)} of {len(m.spectra)} layers have a weight-spectrum exponent alpha above {alpha_high:g}: their weights still look random (under-trained)",
            metric="weights",
            step=float(m.step) if m.step is not None else None,
            evidence=[Evidence(f"{s.name}: alpha {s.alpha:.2f} over the top {s.n_tail} of {s.n_evals} eigenvalues (KS {s.ks:.3f}){' ' + s.sampled if s.sampled else ''}", m.where(s.name)) for s in high[:max_evidence]],
            data={"share": share, "layers": [s.name for s in high]},
        )
    ]
