"""TDX606 rank_drift: data-parallel ranks hold different weights."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..probe_events import at_step, event_evidence, probe_events
from ..registry import check


@check(code="TDX606", emits="rank_drift")
def rank_drift(run: Run) -> list[Symptom]:
    """Ranks that should hold identical weights hold different ones.

    ## Symptom
    A ``rank_drift`` event of the traindx probe: every N steps each rank of a
    DistributedDataParallel run (or any run with ``compare_ranks=True``) shares
    a fingerprint of its weights (every parameter's norm, and the global
    gradient norm) with the others, and some differ by more than the
    tolerance (1e-6 relative).

    ## Why it matters
    Data parallelism assumes one model replicated; ranks that drift apart train
    different models and average gradients that do not belong together. The
    loss curve of rank 0 shows nothing: BLOOM-176B's tensor-parallel layer-norm
    weights drifted apart for days before anyone noticed.

    ## Evidence
    The first event (and a later one when the gap grew tenfold): how many
    fingerprints differ, the largest relative difference, the parameter and
    the rank furthest from the others, with ``file:line`` of the probe log.

    ## Likely causes
    A parameter updated outside the synchronised path (a rank-local
    ``torch.no_grad()`` edit, a buffer or parameter excluded from the
    all-reduce, ``find_unused_parameters`` misuse), different random
    initialisation per rank without a broadcast, a non-deterministic or
    rank-dependent kernel (bf16 reductions that differ per rank), a layer
    replicated across tensor-parallel ranks but not kept in sync.

    ## Fix
    Broadcast the weights from rank 0 after building the model, keep every
    update inside the DDP-wrapped forward/backward/step, make replicated
    layers' gradients all-reduced, and seed every rank the same.

    ## Known false positives
    Sharded models (FSDP, tensor parallelism) hold different shards by design
    and are not compared unless asked with ``compare_ranks=True``.
    """
    evs = probe_events(run, "rank_drift")
    if not evs:
        return []
    first = evs[0]
    worst = max(evs, key=lambda e: float(e.get("max_rel_diff") or 0))
    ev = [event_evidence(first)]
    if worst is not first:
        ev.append(event_evidence(worst))
    return [
        Symptom(
            id="rank_drift",
            code="TDX606",
            severity="high",
            summary=f"ranks hold different weights from {at_step(first)}: {first.get('count')} fingerprints differ, up to {float(worst.get('max_rel_diff') or 0):.3g} relative ({worst.get('worst')}, rank {worst.get('worst_rank')})",
            step=first.step,
            evidence=ev,
            data={"params": list(first.get("params") or []), "ranks": list(first.get("ranks") or []), "max_rel_diff": worst.get("max_rel_diff"), "worst_rank": worst.get("worst_rank")},
        )
    ]
