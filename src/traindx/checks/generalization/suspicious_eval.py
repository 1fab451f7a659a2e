"""TDX403 suspicious_eval: evaluation that is too good to be true, or identical to training."""

from __future__ import annotations

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, Series, fmt_num
from ..evidence import at
from ..registry import check


def _aligned(a: Series, b: Series) -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    """Values of ``a`` and ``b`` at the steps of ``b`` (nearest point of ``a``), vectorised."""
    if not len(a) or not len(b):
        return np.zeros(0), np.zeros(0), [], []
    pos = np.clip(np.searchsorted(a.steps, b.steps), 1, max(len(a) - 1, 1)) if len(a) > 1 else np.zeros(len(b), dtype=np.int64)
    if len(a) > 1:
        left = pos - 1
        take_left = np.abs(b.steps - a.steps[left]) <= np.abs(a.steps[pos] - b.steps)
        ia = np.where(take_left, left, pos)
    else:
        ia = pos
    tol = max(1.0, 0.01 * float(b.steps[-1]))
    ok = np.abs(a.steps[ia] - b.steps) <= tol
    ib = np.flatnonzero(ok)
    ia = ia[ok]
    return a.values[ia], b.values[ib], ia.tolist(), ib.tolist()


@check(code="TDX403", emits="suspicious_eval")
def suspicious_eval(run: Run, *, acc_margin: float = 0.05, share: float = 0.8, identical: float = 1e-6, min_evals: int = 3) -> list[Symptom]:
    """Evaluation looks too good: validation accuracy above training, or validation identical to training.

    ## Symptom
    Over at least ``min_evals`` (3) evaluations aligned with the training
    curve: validation accuracy exceeds training accuracy by more than
    ``acc_margin`` (5 points, UMLAUT's rule) at ``share`` (80%) or more of them;
    or the validation loss equals the training loss at every evaluation to
    within ``identical`` (1e-6 relative): the evaluation ran on the training
    data.

    ## Why it matters
    An evaluation that leaks training data, or is computed on it, says
    nothing about generalization; every decision based on it (early stopping,
    model selection) is wrong.

    ## Evidence
    The aligned training and validation values at the first and last
    evaluation, with ``file:line``.

    ## Likely causes
    Overlap between the splits (duplicates, leakage through preprocessing
    fitted on all data), the training loader passed as the validation loader,
    metrics computed in a different mode (dropout on for training only).

    ## Fix
    Deduplicate the splits, fit normalizers and tokenizers on the training
    split only, check which loader the evaluation uses.

    ## Known false positives
    Strong regularization (dropout, augmentation) makes training metrics worse
    than evaluation ones by a few points; the 5-point margin sits above that.
    """
    out: list[Symptom] = []
    ta, va = run.get("accuracy/train"), run.get("accuracy/val")
    if ta is not None and va is not None and ta.step_unit == va.step_unit:
        t, v, it, iv = _aligned(ta.finite_part(), va.finite_part())
        if v.size >= min_evals:
            scale = 100.0 if max(float(np.max(t)), float(np.max(v))) > 1.5 else 1.0
            better = (v - t) / scale > acc_margin
            if better.mean() >= share:
                vf, tf = va.finite_part(), ta.finite_part()
                out.append(
                    Symptom(
                        id="suspicious_eval",
                        code="TDX403",
                        severity="medium",
                        summary=f"validation accuracy is above training accuracy by more than {acc_margin * 100:.0f} points at {int(better.sum())} of {v.size} evaluations",
                        metric="accuracy/val",
                        step=float(vf.steps[iv[0]]),
                        step_unit=vf.step_unit,
                        evidence=[
                            Evidence(f"validation accuracy {fmt_num(float(v[k]))} vs training {fmt_num(float(t[k]))} at {at(vf, iv[k])}", vf.where(iv[k]), float(vf.steps[iv[k]]))
                            for k in (0, v.size - 1)
                        ]
                        + [Evidence(f"training accuracy {fmt_num(float(t[-1]))} at {at(tf, it[-1])}", tf.where(it[-1]), float(tf.steps[it[-1]]))],
                        data={"kind": "val_better", "share": float(better.mean())},
                    )
                )
    tl, vl = run.get("loss/train"), run.get("loss/val")
    if tl is not None and vl is not None and tl.step_unit == vl.step_unit:
        tf, vf = tl.finite_part(), vl.finite_part()
        t, v, it, iv = _aligned(tf, vf)
        if v.size >= min_evals and np.all(np.abs(v - t) <= identical * np.maximum(np.abs(t), 1e-12)):
            out.append(
                Symptom(
                    id="suspicious_eval",
                    code="TDX403",
                    severity="high",
                    summary=f"the validation loss equals the training loss at all {v.size} evaluations: the evaluation runs on the training data",
                    metric="loss/val",
                    step=float(vf.steps[iv[0]]),
                    step_unit=vf.step_unit,
                    evidence=[
                        Evidence(f"validation loss {fmt_num(float(v[0]))} = training loss {fmt_num(float(t[0]))} at {at(vf, iv[0])}", vf.where(iv[0]), float(vf.steps[iv[0]])),
                        Evidence(f"validation loss {fmt_num(float(v[-1]))} = training loss {fmt_num(float(t[-1]))} at {at(vf, iv[-1])}", vf.where(iv[-1]), float(vf.steps[iv[-1]])),
                    ],
                    data={"kind": "identical"},
                )
            )
    return out
