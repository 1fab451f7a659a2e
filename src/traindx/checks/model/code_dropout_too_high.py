"""TDX825 code_dropout_too_high: a dropout probability above the threshold (most units dropped)."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, fact_value, facts, where_list


@check(code="TDX825", emits="code_dropout_too_high")
def code_dropout_too_high(run: Run, *, max_dropout: float = 0.5, max_evidence: int = 3) -> list[Symptom]:
    """A dropout probability above the threshold (most units dropped).

    ## Symptom
    A literal dropout probability above ``max_dropout`` (0.5, UMLAUT's threshold) in
    ``nn.Dropout``, ``F.dropout``, a ``dropout=`` argument, a ``dropout`` config
    variable or an argparse default. The lint reports values above 0.5; a larger
    ``max_dropout`` drops some of them. The first ``max_evidence`` (3) are quoted
    with ``file:line``.

    ## Why it matters
    Dropping most units leaves too little signal per step: the model under-fits
    and training is slow and noisy.

    ## Evidence
    The setting and its value.

    ## Likely causes
    A keep probability written as a drop probability (TensorFlow 1's ``keep_prob``); a typo.

    ## Fix
    Use 0.1-0.3 for most layers (0.5 at most, on large fully connected layers).

    ## Known false positives
    Deliberately heavy dropout on an input layer or a huge fully connected layer.
    """
    found = facts(run, "dropout_too_high")
    found = [f for f in found if (fact_value(f) or 0.0) > max_dropout]
    if not found:
        return []
    return code_symptom("code_dropout_too_high", "TDX825", "medium", f"dropout probability above {max_dropout:g} ({where_list(found)})", found, max_evidence)
