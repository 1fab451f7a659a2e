"""TDX826 code_lr_out_of_range: a learning rate outside the range its optimizer family is used with."""

from __future__ import annotations

from ...findings import Symptom
from ...run import CodeFact, Run
from ..registry import check
from .common import code_symptom, fact_value, facts, where_list


@check(code="TDX826", emits="code_lr_out_of_range")
def code_lr_out_of_range(run: Run, *, adaptive_range: tuple[float, float] = (1e-7, 1e-2), sgd_range: tuple[float, float] = (1e-5, 10.0), max_evidence: int = 3) -> list[Symptom]:
    """A learning rate outside the range its optimizer family is used with.

    ## Symptom
    A literal learning rate outside ``adaptive_range`` ([1e-7, 0.01], UMLAUT's range)
    for Adam-family optimizers or ``sgd_range`` ([1e-5, 10]) for SGD, in the
    optimizer's constructor, HF ``TrainingArguments(learning_rate=)``, or (when no
    constructor has a literal LR) a ``lr``/``learning_rate`` variable, parameter
    default or argparse default. The lint reports values outside these default
    ranges; wider ranges drop some of them. The first ``max_evidence`` (3) are
    quoted with ``file:line``.

    ## Why it matters
    Adam at 0.1 diverges or oscillates on almost any network; a learning rate of
    1e-9 does not train in any reasonable time.

    ## Evidence
    The setting, its value and the range for its family.

    ## Likely causes
    An SGD learning rate kept when switching to Adam; a unit slip (1e-2 for 1e-4).

    ## Fix
    Adam family: start at 1e-4 to 3e-4 (1e-5 to 5e-5 to fine-tune); SGD: 0.01 to 0.1 with momentum, scaled with the batch size.

    ## Known false positives
    Optimizers outside the two families (Adadelta uses lr 1.0, LBFGS 1.0, LARS/LAMB
    large-batch recipes) are not judged; a very large batch can justify a large SGD LR.
    """
    found = facts(run, "lr_out_of_range")
    def outside(f: CodeFact) -> bool:
        v = fact_value(f)
        if v is None:
            return True
        lo, hi = sgd_range if "used with SGD" in f.text else adaptive_range
        return not (lo <= v <= hi)

    found = [f for f in found if outside(f)]
    if not found:
        return []
    return code_symptom("code_lr_out_of_range", "TDX826", "medium", f"a learning rate outside the usual range for its optimizer ({where_list(found)})", found, max_evidence)
