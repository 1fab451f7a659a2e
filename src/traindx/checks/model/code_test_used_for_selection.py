"""TDX818 code_test_used_for_selection: the test set is scored inside the training loop and picks the model."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX818", emits="code_test_used_for_selection")
def code_test_used_for_selection(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """The test set is scored inside the training loop and picks the model.

    ## Symptom
    Inside a loop that trains, a result computed on a ``test`` split decides
    something: it is compared in an ``if`` (best checkpoint) or passed to early
    stopping or an LR scheduler's ``step``. The first ``max_evidence`` (3) are
    quoted with ``file:line``.

    ## Why it matters
    A test set used for selection is part of training: the final test score is
    optimistic, and comparisons between models are biased towards the one tuned
    on the test data.

    ## Evidence
    The scoring call, the test split, and the decision that uses it.

    ## Likely causes
    No validation split; a validation split named "test".

    ## Fix
    Split off a validation set for selection and early stopping; evaluate on the test set once, at the end.

    ## Known false positives
    Scripts that call their validation split ``test`` (torchvision's references)
    are reported only when the result drives a decision.
    """
    found = facts(run, "test_used_for_selection")
    if not found:
        return []
    return code_symptom("code_test_used_for_selection", "TDX818", "medium", f"the test set is used inside the training loop to pick the model or stop: its score is no longer an unbiased estimate ({where_list(found)})", found, max_evidence)
