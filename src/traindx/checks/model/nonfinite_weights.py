"""TDX802 nonfinite_weights: the checkpoint holds NaN or infinite weights."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Run
from ..registry import check


@check(code="TDX802", emits="nonfinite_weights")
def nonfinite_weights(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """Some weights of the checkpoint are NaN or infinite.

    ## Symptom
    A tensor of the checkpoint holds NaN or +/-inf values (every value of every
    floating-point tensor is read, memory-mapped; a checkpoint above 4 GiB is
    sampled by rows, and the entry says so). The first ``max_evidence`` (3)
    tensors are quoted with their counts.

    ## Why it matters
    One non-finite weight makes every output that depends on it NaN: the
    checkpoint is unusable, and a run resumed from it produces NaN losses.

    ## Evidence
    Each affected tensor as ``file#tensor`` with its NaN and inf counts.

    ## Likely causes
    A divergence or an fp16 overflow that reached the weights before the
    checkpoint was saved (an optimizer step taken on a NaN gradient), a
    corrupted or partially written file.

    ## Fix
    Resume from the last checkpoint whose weights are finite; find the step
    where the loss or gradient norm first went non-finite and fix that cause
    (lower LR, clipping, bf16 instead of fp16, skip steps whose gradients are
    not finite).

    ## Known false positives
    Buffers that hold infinities on purpose (attention masks filled with
    -inf) are not parameters and are not checked; a custom parameter that is
    -inf by design would be reported.
    """
    m = run.model
    if m is None or not m.health:
        return []
    bad = [h for h in m.health if h.nan or h.inf]
    if not bad:
        return []
    nan = sum(h.nan for h in bad)
    inf = sum(h.inf for h in bad)
    parts = []
    if nan:
        parts.append(f"{nan:,} NaN")
    if inf:
        parts.append(f"{inf:,} infinite")
    return [
        Symptom(
            id="nonfinite_weights",
            code="TDX802",
            severity="critical",
            summary=f"{' and '.join(parts)} values in {len(bad)} of the checkpoint's {len(m.health)} tensors",
            metric="weights",
            step=float(m.step) if m.step is not None else None,
            evidence=[Evidence(f"{h.name}: {h.nan:,} NaN, {h.inf:,} inf of {h.numel:,} values" + (f" ({h.sampled})" if h.sampled else ""), m.where(h.name)) for h in bad[:max_evidence]],
            data={"tensors": [h.name for h in bad], "nan": nan, "inf": inf},
        )
    ]
