"""TDX804 weight_norm_explosion: weights whose magnitude is far beyond what training keeps them at."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Run, fmt_num
from ..registry import check


@check(code="TDX804", emits="weight_norm_explosion")
def weight_norm_explosion(run: Run, *, rms_limit: float = 10.0, max_abs_limit: float = 1e4, max_evidence: int = 3) -> list[Symptom]:
    """Weights have grown huge: a root-mean-square above the limit or single values in the thousands.

    ## Symptom
    A weight matrix (not a norm scale, not a bias) whose root-mean-square
    value exceeds ``rms_limit`` (10), or any parameter with an absolute value
    above ``max_abs_limit`` (1e4). The largest ``max_evidence`` (3) are quoted.

    ## Why it matters
    Trained networks keep weights of order 0.01-1 (initializations scale them
    to 1/sqrt(fan-in)); weights a thousand times larger saturate activations,
    overflow fp16 (max 65,504) and give exploding activations and gradients.
    TheDeepChecker flags growth of the mean absolute weight; this check looks
    at the level the weights reached.

    ## Evidence
    Each tensor as ``file#tensor`` with its RMS and largest absolute value.

    ## Likely causes
    A learning rate too high, no weight decay on a long run, exploding
    gradients applied without clipping, a loss scale that was not unscaled
    before the optimizer step.

    ## Fix
    Lower the learning rate, clip the gradient norm, add weight decay, and
    resume from a checkpoint taken before the weights grew.

    ## Known false positives
    Layers that are large on purpose: unnormalized output scales, some
    embedding tables scaled by sqrt(d_model), quantization scales stored as
    parameters.
    """
    m = run.model
    if m is None or not m.health:
        return []
    tensors = {t.name: t for t in m.tensors}
    hits = []
    for h in m.health:
        t = tensors.get(h.name)
        if t is None:
            continue
        big_rms = len(t.shape) >= 2 and t.group != "norm" and not h.name.endswith("bias") and h.rms > rms_limit
        if big_rms or h.max_abs > max_abs_limit:
            hits.append(h)
    if not hits:
        return []
    hits.sort(key=lambda h: (-h.max_abs, h.name))
    worst = hits[0]
    return [
        Symptom(
            id="weight_norm_explosion",
            code="TDX804",
            severity="high",
            summary=f"{len(hits)} tensor(s) hold huge weights: {worst.name} has RMS {fmt_num(worst.rms)} and values up to {fmt_num(worst.max_abs)}",
            metric="weights",
            step=float(m.step) if m.step is not None else None,
            evidence=[Evidence(f"{h.name}: RMS {fmt_num(h.rms)}, max |w| {fmt_num(h.max_abs)}", m.where(h.name)) for h in hits[:max_evidence]],
            data={"tensors": [h.name for h in hits], "max_abs": worst.max_abs},
        )
    ]
