"""TDX824 code_fit_before_split: a scaler, vectorizer or tokenizer is fitted on the whole dataset before it is split."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX824", emits="code_fit_before_split")
def code_fit_before_split(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """A scaler, vectorizer or tokenizer is fitted on the whole dataset before it is split.

    ## Symptom
    A fitted preprocessor (``StandardScaler``, ``MinMaxScaler``, ``PCA``,
    ``TfidfVectorizer``, ``SelectKBest``, a Keras ``Tokenizer``...) is fitted on data
    that is split afterwards (``train_test_split``, ``random_split``, ``KFold.split``,
    slicing into ``*train*``), or the data is normalized with its own mean and
    standard deviation before the split. The first ``max_evidence`` (3) are quoted
    with ``file:line``.

    ## Why it matters
    Statistics of the held-out data reach the training inputs: validation
    scores are optimistic and do not hold on new data.

    ## Evidence
    The fit, the split that follows, and their lines.

    ## Likely causes
    Preprocessing written before the split for convenience.

    ## Fix
    Split first; fit preprocessors on the training split only and ``transform`` the others (a scikit-learn ``Pipeline`` does this).

    ## Known false positives
    Stateless transforms are not listed; a fit on data whose name contains
    ``train`` is taken as fitted on the training split.
    """
    found = facts(run, "fit_before_split")
    if not found:
        return []
    return code_symptom("code_fit_before_split", "TDX824", "medium", f"preprocessing learns from the whole dataset before the train/held-out split: the held-out data leaks into training ({where_list(found)})", found, max_evidence)
