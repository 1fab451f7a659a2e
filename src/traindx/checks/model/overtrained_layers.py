"""TDX806 overtrained_layers: layers whose weight spectrum is heavy-tailed beyond alpha 2 (WeightWatcher's over-trained)."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Run
from ..registry import check


@check(code="TDX806", emits="overtrained_layers")
def overtrained_layers(run: Run, *, alpha_low: float = 2.0, min_share: float = 0.25, min_layers: int = 3, max_evidence: int = 3) -> list[Symptom]:
    """Many layers have a power-law exponent alpha below 2: the signature WeightWatcher reads as over-trained.

    ## Symptom
    Of the weight matrices whose eigenvalue spectrum could be fitted (at least
    ``min_layers``, 3), a share of at least ``min_share`` (25%) has a fitted
    power-law exponent alpha below ``alpha_low`` (2.0). Low severity; medium
    when half of the layers or more.

    ## Why it matters
    Martin and Mahoney (JMLR 2021) find alpha between 2 and 6 in well-trained
    layers; below 2 the spectrum is dominated by a few very large directions,
    which they associate with layers over-fit to their training data.

    ## Evidence
    The ``max_evidence`` (3) layers with the lowest alpha, as ``file#tensor``, with alpha, the
    number of eigenvalues in the fitted tail and the fit's KS distance.

    ## Likely causes
    Training far past the point of best held-out loss, a tiny dataset seen for
    many epochs, too high a learning rate late in training.

    ## Fix
    Select an earlier checkpoint (the one with the best held-out metric), add
    regularization (weight decay, dropout, data augmentation), or train on more data.

    ## Known false positives
    The thresholds are empirical and disputed (WeightWatcher issues 235, 248
    and 307: alpha can move while benchmark scores improve). A spectrum
    sampled from a large matrix gives an estimate. Read this with a held-out
    curve, not instead of one.
    """
    m = run.model
    if m is None or not m.spectra or len(m.spectra) < min_layers:
        return []
    low = sorted((s for s in m.spectra if s.alpha < alpha_low), key=lambda s: s.alpha)
    share = len(low) / len(m.spectra)
    if not low or share < min_share:
        return []
    return [
        Symptom(
            id="overtrained_layers",
            code="TDX806",
            severity="medium" if share >= 0.5 else "low",
            summary=f"{len(low)} of {len(m.spectra)} layers have a weight-spectrum exponent alpha below {alpha_low:g} (lowest {low[0].alpha:.2f} in {low[0].name}): heavy-tailed, the over-trained signature",
            metric="weights",
            step=float(m.step) if m.step is not None else None,
            evidence=[Evidence(f"{s.name}: alpha {s.alpha:.2f} over the top {s.n_tail} of {s.n_evals} eigenvalues (KS {s.ks:.3f}){' ' + s.sampled if s.sampled else ''}", m.where(s.name)) for s in low[:max_evidence]],
            data={"share": share, "layers": [s.name for s in low], "min_alpha": low[0].alpha},
        )
    ]
