"""TDX817 code_eval_on_train_data: the held-out evaluation runs on the training data."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX817", emits="code_eval_on_train_data")
def code_eval_on_train_data(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """The held-out evaluation runs on the training data.

    ## Symptom
    A held-out result computed on a training split: ``val_loss =
    evaluate(model, train_loader)``, an HF ``Trainer(eval_dataset=<train...>)``, a
    Lightning ``fit(model, train_dl, <train...>)``, Keras ``validation_data=(x_train,
    y_train)``. The first ``max_evidence`` (3) are quoted with ``file:line``.

    ## Why it matters
    The "validation" curve then tracks the training loss: over-fitting cannot be
    seen, early stopping and checkpoint selection pick the most over-fit model.

    ## Evidence
    The call and the training-split argument it receives.

    ## Likely causes
    A copy-paste of the training loader; a variable named for the wrong split.

    ## Fix
    Evaluate on the validation split (and keep the test split for the end).

    ## Known false positives
    Names are read, not data: a variable named ``train_...`` that holds held-out
    data would be reported.
    """
    found = facts(run, "eval_on_train_data")
    if not found:
        return []
    return code_symptom("code_eval_on_train_data", "TDX817", "high", f"the evaluation that should be held out uses the training data ({where_list(found)})", found, max_evidence)
