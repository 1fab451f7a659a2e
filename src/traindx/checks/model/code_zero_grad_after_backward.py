"""TDX811 code_zero_grad_after_backward: gradients are cleared between backward() and step(): the optimizer steps on zeros."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX811", emits="code_zero_grad_after_backward")
def code_zero_grad_after_backward(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """Gradients are cleared between backward() and step(): the optimizer steps on zeros.

    ## Symptom
    In a training loop, a ``zero_grad()`` of the optimizer that steps (or of the
    model, when there is one optimizer) comes after a ``backward()`` and before
    the ``step()`` that should use it, with no other backward in between. Each
    place is quoted with its ``file:line`` (the first ``max_evidence``, 3).

    ## Why it matters
    The step sees zero (or ``None``) gradients: with ``set_to_none=True`` the
    optimizer skips every parameter and nothing is ever learned; weight decay
    alone shrinks the weights. The loss stays flat from the first step.

    ## Evidence
    The clearing call, the backward and the step, each with its line.

    ## Likely causes
    Calls reordered in a refactor; ``zero_grad()`` moved "to the end" of a block
    that ends before the step.

    ## Fix
    Clear before the backward pass (or right after the step): ``zero_grad(); loss.backward(); step()``.

    ## Known false positives
    Two optimizers whose clears and steps interleave (GANs) are read per optimizer;
    a model-level ``zero_grad()`` with several optimizers is not attributed to any
    of them.
    """
    found = facts(run, "zero_grad_after_backward")
    if not found:
        return []
    return code_symptom("code_zero_grad_after_backward", "TDX811", "high", f"zero_grad() runs after backward() and before step(): the optimizer never sees a gradient ({where_list(found)})", found, max_evidence)
