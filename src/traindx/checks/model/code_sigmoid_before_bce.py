"""TDX820 code_sigmoid_before_bce: a sigmoid is applied before BCEWithLogitsLoss, which applies one itself."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX820", emits="code_sigmoid_before_bce")
def code_sigmoid_before_bce(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """A sigmoid is applied before BCEWithLogitsLoss, which applies one itself.

    ## Symptom
    What reaches a ``BCEWithLogitsLoss`` / ``binary_cross_entropy_with_logits`` is a
    sigmoid (or softmax) output: directly, through a variable, or as the model's
    output. The first ``max_evidence`` (3) are quoted with ``file:line``.

    ## Why it matters
    The loss squashes its input again: it only sees values in [0.5, 0.73], its
    gradients are small and learning is slow or stalls.

    ## Evidence
    The sigmoid, the loss call, and their lines.

    ## Likely causes
    A model with a final ``nn.Sigmoid`` (written for ``BCELoss``) trained with the logits loss.

    ## Fix
    Remove the final sigmoid (keep it for inference) and keep ``BCEWithLogitsLoss``, or keep the sigmoid and use ``BCELoss``.

    ## Known false positives
    A ``forward`` that returns differently in training and evaluation is not judged.
    """
    found = facts(run, "sigmoid_before_bce")
    if not found:
        return []
    return code_symptom("code_sigmoid_before_bce", "TDX820", "medium", f"a sigmoid (or softmax) output feeds BCEWithLogitsLoss, which applies a sigmoid itself ({where_list(found)})", found, max_evidence)
