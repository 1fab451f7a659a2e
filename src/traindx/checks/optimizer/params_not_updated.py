"""TDX301 params_not_updated: parameters with gradients that optimizer.step() does not change."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..probe_events import at_step, event_evidence, names_text, probe_events, ranks_text
from ..registry import check


@check(code="TDX301", emits="params_not_updated")
def params_not_updated(run: Run) -> list[Symptom]:
    """Parameters received non-zero gradients but ``optimizer.step()`` left them unchanged.

    ## Symptom
    A ``params_not_updated`` event of the traindx probe: at consecutive
    periodic checks (two by default), parameter tensors whose gradient was
    finite and non-zero kept exactly the same values across
    ``optimizer.step()``, either because the optimizer does not hold them or
    although it does (with a learning rate above 0). Steps a GradScaler skipped
    and batches the probe dropped are not counted.

    ## Why it matters
    The model computes gradients it never uses: the weights do not learn and
    the loss stays flat, or only part of the model trains.

    ## Evidence
    The event with the parameter names and why (not in the optimizer; in it
    but unchanged), the step, and ``file:line`` of the probe log.

    ## Likely causes
    The optimizer was built before the model was replaced, re-created, moved or
    wrapped (it holds the old tensors); parameters added after the optimizer
    was created; a custom optimizer whose ``step`` skips parameters.

    ## Fix
    Create the optimizer from the final model (after ``.to(device)``, wrapping
    and any surgery): ``optimizer = AdamW(model.parameters(), ...)``; add late
    parameters with ``optimizer.add_param_group``.

    ## Known false positives
    An optimizer that skips some steps on purpose (lookahead, a schedule with
    updates every k steps) can leave parameters unchanged at a check; the
    probe requires two checks in a row.
    """
    evs = probe_events(run, "params_not_updated")
    if not evs:
        return []
    first = evs[0]
    params = list(first.get("params") or [])
    count = int(first.get("count") or len(params))
    return [
        Symptom(
            id="params_not_updated",
            code="TDX301",
            severity="critical" if params else "high",
            summary=f"{count} parameter tensor{'s' if count != 1 else ''} with gradients were not changed by the optimizer step{ranks_text(evs)} (from {at_step(first)}): {names_text(params)}",
            step=first.step,
            evidence=[event_evidence(first)],
            data={"params": params, "count": count, "reasons": first.get("reasons") or {}},
        )
    ]
