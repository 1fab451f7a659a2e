"""TDX812 code_step_before_backward: optimizer.step() comes before backward(), and the gradients are cleared before any step uses them."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX812", emits="code_step_before_backward")
def code_step_before_backward(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """optimizer.step() comes before backward(), and the gradients are cleared before any step uses them.

    ## Symptom
    Reading the loop body as a cycle, the next step after each backward is
    reached only by wrapping into the next iteration, and a ``zero_grad()`` on the
    way clears that backward's gradients (order ``zero_grad(); step(); backward()``).
    Each place is quoted with its ``file:line`` (the first ``max_evidence``, 3).

    ## Why it matters
    Every step applies gradients that were already cleared: the model does not
    learn, whatever the LR. (A step at the top of the loop with the clear after it
    only delays each update by one iteration and is not reported.)

    ## Evidence
    The step, the backward and the clearing call with their lines.

    ## Likely causes
    Calls written in the wrong order; a copy of a loop whose backward was moved below the step.

    ## Fix
    Use the order ``optimizer.zero_grad(); loss.backward(); optimizer.step()``.

    ## Known false positives
    Frameworks that call the step themselves are not judged; a loop calling
    unknown step-like helpers is left alone.
    """
    found = facts(run, "step_before_backward")
    if not found:
        return []
    return code_symptom("code_step_before_backward", "TDX812", "high", f"optimizer.step() runs before backward() and the gradients are cleared before the next step: no update applies a gradient ({where_list(found)})", found, max_evidence)
