"""TDX814 code_eval_without_no_grad: evaluation runs the model with autograd on (no torch.no_grad() or inference_mode())."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX814", emits="code_eval_without_no_grad")
def code_eval_without_no_grad(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """Evaluation runs the model with autograd on (no torch.no_grad() or inference_mode()).

    ## Symptom
    An evaluation function (``evaluate``, ``validate``, ``test``, ``estimate_loss``...)
    or a loop over a ``val``/``test`` loader that calls the model and runs no
    backward pass, with no ``torch.no_grad()``/``inference_mode()`` around the
    call, no such decorator, and no caller that wraps it. The first
    ``max_evidence`` (3) are quoted with ``file:line``.

    ## Why it matters
    Every forward pass stores activations for a backward that never comes:
    evaluation uses several times the memory it needs (an out-of-memory during
    validation is the common consequence) and runs slower.

    ## Evidence
    The model call inside the evaluation and its line.

    ## Likely causes
    A forgotten ``with torch.no_grad():``.

    ## Fix
    Wrap evaluation in ``with torch.inference_mode():`` (or decorate the function with ``@torch.no_grad()``).

    ## Known false positives
    Evaluation that needs gradients (saliency maps, adversarial examples) runs
    no backward in the region only if it calls ``torch.autograd.grad``; such code
    is reported. HF ``generate()`` disables gradients itself and is not reported.
    """
    found = facts(run, "eval_without_no_grad")
    if not found:
        return []
    return code_symptom("code_eval_without_no_grad", "TDX814", "low", f"evaluation runs the model with autograd on, building graphs it never uses ({where_list(found)})", found, max_evidence)
