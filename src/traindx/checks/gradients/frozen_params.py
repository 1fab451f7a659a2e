"""TDX204 frozen_params: parameters that never receive a gradient (disconnected, or frozen inside the optimizer)."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..probe_events import event_evidence, names_text, probe_events, ranks_text
from ..registry import check


@check(code="TDX204", emits="frozen_params")
def frozen_params(run: Run, *, min_checks: int = 2) -> list[Symptom]:
    """Parameters that should train never receive a gradient: a layer disconnected from the loss, or frozen by mistake.

    ## Symptom
    A ``frozen_params`` event of the traindx probe after at least
    ``min_checks`` (2) of its periodic checks, listing parameter tensors whose
    gradient was None or all zero at every check: those that require a
    gradient (disconnected from the loss: a layer defined but not used in
    ``forward``, an output detached, a branch never taken) and those frozen
    (``requires_grad=False``) yet handed to the optimizer. Parameters frozen
    and left out of the optimizer are listed in the event but are by design,
    and do not make a symptom.

    ## Why it matters
    A layer that never gets a gradient never learns; the loss still falls
    through the other layers, so nothing in the curves shows it (a
    TrainCheck-style silent bug).

    ## Evidence
    The event with the parameter names per group and how many checks saw
    them, with ``file:line`` of the probe log.

    ## Likely causes
    A submodule created in ``__init__`` but not called in ``forward``; a
    ``.detach()`` or ``torch.no_grad()`` on the path; ``requires_grad_(False)``
    left on after a warm-up phase; a LoRA adapter never attached.

    ## Fix
    Call the layer in ``forward`` (or delete it), remove the detach, or unfreeze
    it; for frozen layers, leave them out of the optimizer.

    ## Known false positives
    A layer used only every few steps (a conditional branch, a mixture-of-experts
    expert that receives no tokens) can miss the periodic checks; the count of
    checks in the event says how sure it is.
    """
    evs = [e for e in probe_events(run, "frozen_params") if int(e.get("checks", 0) or 0) >= min_checks]
    if not evs:
        return []
    last = evs[-1]
    disconnected = list(last.get("disconnected") or [])
    frozen_opt = list(last.get("frozen_in_optimizer") or [])
    if not disconnected and not frozen_opt:
        return []
    counts = last.get("counts") or {}
    parts = []
    if disconnected:
        parts.append(f"{counts.get('disconnected', len(disconnected))} never received a gradient ({names_text(disconnected)})")
    if frozen_opt:
        parts.append(f"{counts.get('frozen_in_optimizer', len(frozen_opt))} are frozen inside the optimizer ({names_text(frozen_opt)})")
    return [
        Symptom(
            id="frozen_params",
            code="TDX204",
            severity="medium",
            summary=f"parameter tensors without gradients over {last.get('checks')} checks{ranks_text(evs)}: " + "; ".join(parts),
            step=last.step,
            evidence=[event_evidence(last)],
            data={"disconnected": disconnected, "frozen_in_optimizer": frozen_opt, "checks": last.get("checks")},
        )
    ]
