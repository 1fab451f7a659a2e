"""TDX816 code_train_mode_not_restored: model.eval() is called inside the training loop and model.train() never again."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX816", emits="code_train_mode_not_restored")
def code_train_mode_not_restored(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """model.eval() is called inside the training loop and model.train() never again.

    ## Symptom
    A loop that both trains (a backward pass, calls followed) and switches the model
    to eval mode (``model.eval()``, directly or in a called evaluation function),
    with no ``model.train()`` anywhere in the loop, in a file whose model has
    dropout or batch norm. The first ``max_evidence`` (3) are quoted with ``file:line``.

    ## Why it matters
    From the second epoch (or the first evaluation) on, the model trains in eval
    mode: dropout is off (it over-fits faster than configured) and batch norm
    uses frozen running statistics instead of batch statistics.

    ## Evidence
    The ``eval()`` call, the call through which it is reached, and the loop.

    ## Likely causes
    ``model.train()`` called once before the epoch loop instead of at the start of each epoch.

    ## Fix
    Call ``model.train()`` at the start of every training epoch (or at the end of the evaluation function).

    ## Known false positives
    A ``train()`` call made in a function of another file is not seen.
    """
    found = facts(run, "train_mode_not_restored")
    if not found:
        return []
    return code_symptom("code_train_mode_not_restored", "TDX816", "medium", f"after the first evaluation the model stays in eval mode for the rest of training ({where_list(found)})", found, max_evidence)
