"""TDX815 code_eval_mode_missing: evaluation runs without model.eval(): dropout and batch norm stay in training mode."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX815", emits="code_eval_mode_missing")
def code_eval_mode_missing(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """Evaluation runs without model.eval(): dropout and batch norm stay in training mode.

    ## Symptom
    An evaluation region (see TDX814) with no ``model.eval()`` in it, before it in
    the same function, or before its call sites, in a file whose model has
    dropout, batch norm or is a pretrained network. The first ``max_evidence``
    (3) are quoted with ``file:line``.

    ## Why it matters
    In training mode dropout keeps dropping units (evaluation metrics are noisy
    and worse than the model is) and batch norm updates its running statistics
    with evaluation data (which leaks it into the model and shifts its
    predictions afterwards).

    ## Evidence
    The evaluation region and its line.

    ## Likely causes
    A missing ``model.eval()``; an evaluation helper copied without its mode switch.

    ## Fix
    Call ``model.eval()`` before evaluating and ``model.train()`` before training resumes.

    ## Known false positives
    A model without dropout or batch norm behaves the same in both modes (not
    reported); a mode switch done in a function of another file is not seen.
    """
    found = facts(run, "eval_mode_missing")
    if not found:
        return []
    return code_symptom("code_eval_mode_missing", "TDX815", "medium", f"the model is evaluated in training mode (no model.eval()) though it has dropout or batch norm ({where_list(found)})", found, max_evidence)
