"""TDX819 code_softmax_before_ce: softmax (or log-softmax) is applied before CrossEntropyLoss, which applies log-softmax itself."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX819", emits="code_softmax_before_ce")
def code_softmax_before_ce(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """Softmax (or log-softmax) is applied before CrossEntropyLoss, which applies log-softmax itself.

    ## Symptom
    What reaches a ``CrossEntropyLoss`` / ``F.cross_entropy`` is a softmax (or
    log-softmax) output: directly, through a variable, or as the model's output
    (its ``forward`` returns it, or its ``nn.Sequential`` ends with ``nn.Softmax``).
    Medium severity for softmax; low for log-softmax. The first ``max_evidence``
    (3) are quoted with ``file:line``.

    ## Why it matters
    Cross-entropy applies log-softmax to its input. On probabilities the loss is
    bounded and its gradients shrink as they saturate: training is slow and
    stalls short of where logits would take it (UMLAUT's "softmax before the
    loss"). Log-softmax twice is mathematically the same as once (it is
    idempotent), so that case only wastes work; it usually means NLLLoss was meant.

    ## Evidence
    The softmax, the loss call, and their lines.

    ## Likely causes
    A model that returns probabilities for inference, reused for training.

    ## Fix
    Return logits from ``forward`` and pass them to ``CrossEntropyLoss``; apply softmax only when you need probabilities.

    ## Known false positives
    A ``forward`` that returns differently in training and evaluation (``if self.training``) is not judged.
    """
    found = facts(run, "softmax_before_ce", "log_softmax_before_ce")
    if not found:
        return []
    return code_symptom("code_softmax_before_ce", "TDX819", "medium" if any(f.kind == "softmax_before_ce" for f in found) else "low", (f"a softmax is applied before CrossEntropyLoss: the loss sees probabilities ({where_list(found)})" if any(f.kind == "softmax_before_ce" for f in found) else f"a log-softmax is applied before CrossEntropyLoss (redundant, harmless) ({where_list(found)})"), found, max_evidence)
