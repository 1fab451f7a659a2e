"""TDX827 eval_mode_in_training: training steps ran with the model, or some of its layers, in eval mode."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..probe_events import at_step, event_evidence, names_text, probe_events, ranks_text
from ..registry import check


@check(code="TDX827", emits="eval_mode_in_training")
def eval_mode_in_training(run: Run) -> list[Symptom]:
    """Training steps ran in eval mode: dropout off, batch norm frozen on its running statistics.

    ## Symptom
    An ``eval_mode_in_training`` event of the traindx probe: the forward passes
    of a training step (the ones before ``optimizer.step()``) ran with
    ``model.training`` False, or, at a periodic check, dropout and
    normalization layers were in eval mode while the model trained.

    ## Why it matters
    In eval mode dropout does nothing and batch norm uses running statistics
    instead of the batch's: the model overfits sooner, batch-norm statistics
    stop adapting, and the training differs from what the code seems to do.
    The loss curve does not show why.

    ## Evidence
    The event with the step and, for layers, their names, with ``file:line``
    of the probe log.

    ## Likely causes
    An evaluation function that calls ``model.eval()`` and never
    ``model.train()`` again; ``model.train()`` called once before the loop
    instead of after each evaluation; a submodule set to eval by hand.

    ## Fix
    Call ``model.train()`` at the start of each training epoch (or at the end
    of the evaluation function).

    ## Known false positives
    Freezing batch-norm layers on purpose (``bn.eval()`` when fine-tuning with
    small batches, as detection models do) is reported at layer level, at
    medium severity.
    """
    evs = probe_events(run, "eval_mode_in_training")
    if not evs:
        return []
    whole = [e for e in evs if e.get("scope") == "model"]
    first = whole[0] if whole else evs[0]
    modules = list(first.get("modules") or [])
    if whole:
        summary = f"the model was in eval mode during training steps{ranks_text(evs)} (first at {at_step(first)})"
    else:
        summary = f"{len(modules)} dropout or normalization layer{'s' if len(modules) != 1 else ''} in eval mode while the model trains{ranks_text(evs)} (at {at_step(first)}): {names_text(modules)}"
    return [
        Symptom(
            id="eval_mode_in_training",
            code="TDX827",
            severity="high" if whole else "medium",
            summary=summary,
            step=first.step,
            evidence=[event_evidence(first)],
            data={"scope": "model" if whole else "modules", "modules": modules},
        )
    ]
