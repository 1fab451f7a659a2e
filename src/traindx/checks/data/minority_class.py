"""TDX501 minority_class_failure: some classes are almost never predicted right."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Run
from ..registry import check


@check(code="TDX501", emits="minority_class_failure")
def minority_class_failure(run: Run, *, max_recall: float = 0.3, imbalance: float = 10.0, min_examples: int = 5) -> list[Symptom]:
    """Some classes are almost never predicted right, usually the rare ones.

    ## Symptom
    From a predictions file or a logged confusion matrix: a class with at
    least ``min_examples`` (5) examples whose recall is at most ``max_recall``
    (30%, i.e. mispredicted more than 70% of the time: SageMaker Debugger's
    ClassImbalance rule). The largest-to-smallest class ratio is reported, and
    a ratio of ``imbalance`` (10) or more (the same rule's threshold) makes
    the finding high severity when the failing classes are the small ones.

    ## Why it matters
    Overall accuracy hides it: a model can score well by ignoring the rare
    classes, which are often the ones that matter.

    ## Evidence
    Each failing class with its count and recall, the class counts, and the
    file the predictions came from.

    ## Likely causes
    Class imbalance in the training data, a loss that does not weight the
    rare classes, a decision threshold tuned for accuracy, labels of the rare
    class that are noisy.

    ## Fix
    Reweight the loss by inverse class frequency or resample; track per-class
    recall; collect more examples of the rare classes.

    ## Known false positives
    Classes too rare in the evaluation set to measure (under 5 examples) are
    left out.
    """
    out: list[Symptom] = []
    for p in run.predictions:
        totals = [sum(r) for r in p.counts]
        if not totals or sum(totals) == 0:
            continue
        failing = []
        for i, lab in enumerate(p.labels):
            n = totals[i]
            if n < min_examples:
                continue
            rec = p.counts[i][i] / n
            if rec <= max_recall:
                failing.append((rec, lab, n))
        if not failing:
            continue
        present = [t for t in totals if t > 0]
        ratio = max(present) / min(present) if present else 1.0
        median_n = sorted(present)[len(present) // 2]
        small = all(n < median_n for _, _, n in failing)
        acc = sum(p.counts[i][i] for i in range(len(p.labels))) / sum(totals)
        failing.sort()
        ev = [Evidence(f"class {lab}: recall {rec:.0%} over {n} examples", p.where, None) for rec, lab, n in failing[:4]]
        ev.append(Evidence(f"class counts: {', '.join(f'{lab}={t}' for lab, t in zip(p.labels, totals))} (largest/smallest {ratio:.0f}x); overall accuracy {acc:.0%}", p.where, None))
        out.append(
            Symptom(
                id="minority_class_failure",
                code="TDX501",
                severity="high" if (ratio >= imbalance and small) else "medium",
                summary=f"{len(failing)} class{'es' if len(failing) != 1 else ''} with recall at most {max_recall:.0%} ({', '.join(lab for _, lab, _ in failing[:4])}) while overall accuracy is {acc:.0%}; class counts differ {ratio:.0f}x",
                metric=None,
                step=None,
                evidence=ev,
                data={"failing": [lab for _, lab, _ in failing], "imbalance": ratio, "minority": small, "accuracy": acc, "source": p.source},
            )
        )
    return out[:1]
