"""TDX205 grad_not_cleared: gradients carried over from one optimizer step to the next (no zero_grad)."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..probe_events import at_step, event_evidence, probe_events, ranks_text
from ..registry import check


@check(code="TDX205", emits="grad_not_cleared")
def grad_not_cleared(run: Run) -> list[Symptom]:
    """Gradients were not cleared between optimizer steps: each step adds the last one's gradient.

    ## Symptom
    A ``grad_not_cleared`` event of the traindx probe: at the first backward
    pass after an optimizer step, a parameter's ``.grad`` held more than that
    backward's gradient (the probe compares the gradient arriving at the
    smallest trainable parameter with its ``.grad`` once accumulated). Gradient
    accumulation inside a step is not flagged: only the first backward after a
    step is compared.

    ## Why it matters
    ``backward()`` adds to ``.grad``. Without ``zero_grad()`` every update
    applies the sum of all gradients so far: the effective step size grows with
    the step count and training oscillates or diverges, while the loop's
    output looks normal (TrainCheck's silent bugs include exactly this one).

    ## Evidence
    The event with the step and the parameter, and ``file:line`` of the probe
    log; on several ranks, the first event of each.

    ## Likely causes
    A ``zero_grad()`` removed or moved out of the loop; gradient accumulation
    that never resets; a custom optimizer wrapper whose ``zero_grad`` does
    nothing.

    ## Fix
    Call ``optimizer.zero_grad(set_to_none=True)`` once per optimizer step,
    before the backward pass or right after ``optimizer.step()``.

    ## Known false positives
    Deliberately keeping gradients across optimizer steps (a second optimizer
    stepping the same parameters in between) is reported too.
    """
    evs = probe_events(run, "grad_not_cleared")
    if not evs:
        return []
    first = evs[0]
    by_rank = {e.get("rank"): e for e in reversed(evs)}
    return [
        Symptom(
            id="grad_not_cleared",
            code="TDX205",
            severity="high",
            summary=f"gradients are not cleared between optimizer steps{ranks_text(evs)}: from {at_step(first)} on, {first.get('param')}.grad carried the previous step's gradient",
            step=first.step,
            evidence=[event_evidence(e) for e in sorted(by_rank.values(), key=lambda e: (e.step or 0, e.source))][:3],
            data={"param": first.get("param"), "step": first.step},
        )
    ]
