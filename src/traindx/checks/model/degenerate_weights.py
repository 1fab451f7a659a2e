"""TDX803 degenerate_weights: weight matrices that are all zero, constant, or whose units are copies of each other."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Run
from ..registry import check

SKIP_NAMES = ("lora_b", "lora_B", "lora_up")


@check(code="TDX803", emits="degenerate_weights")
def degenerate_weights(run: Run, *, min_numel: int = 64, max_duplicate_share: float = 0.5, max_evidence: int = 3) -> list[Symptom]:
    """Weight matrices are all zero, constant, or made of identical rows (units that never became different).

    ## Symptom
    A weight matrix (2-D or more, not a norm, not a bias, at least
    ``min_numel`` (64) values) whose values are all zero or all equal, or in
    which more than ``max_duplicate_share`` (50%) of the rows (output units)
    equal another row. The first ``max_evidence`` (3) tensors are quoted.

    ## Why it matters
    Units that start equal get equal gradients and stay equal forever: a layer
    whose rows are identical computes one feature however wide it is, and a
    layer of zeros passes no signal (and, behind a ReLU, no gradient). The
    model trains as if it were a fraction of its size, or not at all.

    ## Evidence
    Each tensor as ``file#tensor``: all zero, the constant value, or how many
    of its rows duplicate another.

    ## Likely causes
    Constant initialization (``nn.init.constant_``, ``zeros_``, a custom init
    that fills a matrix with one value), weights loaded from a checkpoint with
    the wrong keys and left at a placeholder, a layer frozen at its zero init.

    ## Fix
    Initialize weight matrices randomly (the framework default, Xavier or He);
    keep constant init for biases and norm scales only; check that every key
    of the checkpoint was loaded (``load_state_dict(strict=True)``).

    ## Known false positives
    LoRA ``B`` matrices start at zero by design and are skipped; zero-initialized
    residual output projections (some recipes zero the last layer of each block
    at step 0) read as all zero in a step-0 checkpoint.
    """
    m = run.model
    if m is None or not m.health:
        return []
    tensors = {t.name: t for t in m.tensors}
    hits = []
    for h in m.health:
        t = tensors.get(h.name)
        if t is None or len(t.shape) < 2 or t.group in ("norm", "embedding") or t.numel < min_numel or h.name.endswith("bias"):
            continue
        if any(s in h.name for s in SKIP_NAMES) or h.nan or h.inf:
            continue
        if h.all_zero:
            hits.append((h, "all zero", 1.0))
        elif h.constant:
            hits.append((h, f"every value equals {h.value:.6g}", 1.0))
        elif h.rows >= 2 and h.duplicate_rows / h.rows > max_duplicate_share:
            hits.append((h, f"{h.duplicate_rows:,} of its {h.rows:,} rows repeat another row", h.duplicate_rows / h.rows))
    if not hits:
        return []
    full = [x for x in hits if x[2] >= 1.0 or x[0].duplicate_rows >= x[0].rows - 1]
    sym = [x for x in hits if x[0].duplicate_rows]
    kinds = sorted({"zero" if h.all_zero else "constant" if h.constant else "duplicate_rows" for h, _w, _s in hits})
    summary = f"{len(hits)} weight matri{'ces are' if len(hits) != 1 else 'x is'} degenerate ({'; '.join(f'{h.name}: {w}' for h, w, _s in hits[:2])}{'...' if len(hits) > 2 else ''})"
    return [
        Symptom(
            id="degenerate_weights",
            code="TDX803",
            severity="high" if full else "medium",
            summary=summary,
            metric="weights",
            evidence=[Evidence(f"{h.name} {'x'.join(str(d) for d in tensors[h.name].shape)}: {w}", m.where(h.name)) for h, w, _s in hits[:max_evidence]],
            data={"tensors": [h.name for h, _w, _s in hits], "kinds": kinds, "symmetric": bool(sym) or any(h.constant for h, _w, _s in hits), "share_of_matrices": len(hits) / max(1, sum(1 for t in m.params if len(t.shape) >= 2))},
        )
    ]
