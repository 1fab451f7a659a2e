"""TDX108 nan_origin: the probe traced the first non-finite value to a module and an operation."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..probe_events import at_step, event_evidence, probe_events, ranks_text
from ..registry import check

PHASE_WORDS = {
    "forward": "in the forward of",
    "backward": "in the backward of",
    "input": "in the input batch",
    "weights": "in the weights",
    "outside": "outside the model (the loss computation)",
    "not_reproduced": "not reproduced by replaying the batch",
}


@check(code="TDX108", emits="nan_origin")
def nan_origin(run: Run) -> list[Symptom]:
    """The first non-finite value of the run, traced to the module and operation that produced it.

    ## Symptom
    A ``nan_origin`` event of the traindx probe: at the first step whose
    gradients were not finite, the probe replayed the batch with hooks on every
    module and autograd node and found where a finite input first became NaN or
    inf: the forward of a module (``torch.log`` in module ``head``), the
    backward of one (``SqrtBackward0`` of ``torch.sqrt`` in ``norm``), the
    input batch itself, the weights (already corrupted), or the loss outside
    the model. The batch is saved next to the log for replay.

    ## Why it matters
    The step and the operation are what anomaly detection would give, at the
    cost of one replay instead of a 2-10x slowdown of every step; they separate
    an unsafe operation (needs an eps or a clamp) from a bad batch (the data)
    and from an overflow that followed a divergence (the optimizer).

    ## Evidence
    The event with the module, its type, the operation, its inputs' range, the
    step, the saved batch file and ``file:line`` of the probe log (one per rank).

    ## Likely causes
    A log, sqrt, division or pow at the edge of its domain (log of 0 or a
    negative, the derivative of sqrt at 0, a norm of a zero vector), an
    exp/softmax overflow, a corrupted example in the batch, fp16 overflow.

    ## Fix
    Guard the named operation (add an eps inside log/sqrt/division, clamp its
    input, compute it in fp32), or drop/repair the example in the saved batch;
    then restart from a checkpoint before the step.

    ## Known false positives
    A non-deterministic kernel can make the replay finite (phase
    ``not_reproduced``): the step is then right but the place is unknown. The
    replay of a ``torch.compile``d model runs eagerly, so a NaN that only the
    compiled kernels produce is not placed.
    """
    evs = probe_events(run, "nan_origin")
    if not evs:
        return []
    first = evs[0]
    phase = str(first.get("phase") or "unknown")
    module = str(first.get("module") or "")
    mtype = str(first.get("module_type") or "")
    op = str(first.get("op") or "")
    where = PHASE_WORDS.get(phase, "at an untraced place")
    if phase in ("forward", "backward"):
        target = f"module '{module}' ({mtype})" if module else f"the model's own forward code ({mtype})"
        what = f"{where} {target}" + (f", by {op}" if op else "")
    else:
        what = where
    severity = "critical" if phase in ("forward", "backward", "input", "weights", "outside") else "high"
    others = [e for e in evs[1:] if e.get("rank") != first.get("rank")]
    return [
        Symptom(
            id="nan_origin",
            code="TDX108",
            severity=severity,
            summary=f"first non-finite value at {at_step(first)}{ranks_text(evs)}: {what}",
            metric=None,
            step=first.step,
            evidence=[event_evidence(first)] + [event_evidence(e) for e in others[:2]],
            data={
                "phase": phase,
                "module": module,
                "module_type": mtype,
                "op": op,
                "node": str(first.get("node") or ""),
                "batch_file": first.get("batch_file"),
                "step": first.step,
                "action": first.get("action"),
            },
        )
    ]
