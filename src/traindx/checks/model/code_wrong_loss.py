"""TDX821 code_wrong_loss: the loss does not fit the model's output: cross-entropy over one unit, NLLLoss on raw scores, BCELoss on logits."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX821", emits="code_wrong_loss")
def code_wrong_loss(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """The loss does not fit the model's output: cross-entropy over one unit, NLLLoss on raw scores, BCELoss on logits.

    ## Symptom
    ``CrossEntropyLoss`` over a single output unit (``nn.Linear(h, 1)``), ``NLLLoss``
    on outputs that are not log-probabilities (a linear layer, a softmax),
    ``BCELoss`` on raw scores. Traced as for TDX819. The first ``max_evidence``
    (3) are quoted with ``file:line``.

    ## Why it matters
    Cross-entropy over one logit is identically 0 (softmax of one value is 1):
    nothing is learned. NLLLoss on raw scores is unbounded below: the loss goes
    to minus infinity by growing one output. BCELoss needs probabilities in [0, 1]
    and fails or misbehaves on logits.

    ## Evidence
    The loss call, the output layer and their lines.

    ## Likely causes
    A binary task coded with one output unit and the multi-class loss; a model whose
    log-softmax was removed while keeping NLLLoss.

    ## Fix
    Binary with one unit: ``BCEWithLogitsLoss``; multi-class: ``CrossEntropyLoss`` on
    logits of ``num_classes`` units; keep ``NLLLoss`` only after ``log_softmax``.

    ## Known false positives
    Outputs traced through code of another file are not seen; a model whose
    ``forward`` returns differently per mode is not judged.
    """
    found = facts(run, "wrong_loss_for_output")
    if not found:
        return []
    return code_symptom("code_wrong_loss", "TDX821", "high", f"the loss does not fit what the model outputs ({where_list(found)})", found, max_evidence)
