"""TDX202 gradient_vanishing: gradients reaching the first layers are orders of magnitude too small."""

from __future__ import annotations

import numpy as np

from ...findings import Evidence, Request, Symptom
from ...run import Run, fmt_num
from ..evidence import at
from ..registry import check
from .layers import GLOBAL_GRAD, global_grad, per_layer


@check(
    code="TDX202",
    emits="gradient_vanishing",
    requires=(GLOBAL_GRAD,),
    request=Request(
        need="the gradient norm (global, and per layer)",
        why="vanishing or exploding gradients can only be told from gradient norms; per-layer norms show where they vanish",
        how="log torch.nn.utils.clip_grad_norm_'s return value each step, and per-parameter p.grad.norm() every N steps (or attach traindx.watch(model, optimizer))",
    ),
)
def gradient_vanishing(
    run: Run,
    *,
    layer_ratio: float = 1e-3,
    first_layer_norm: float = 1e-4,
    global_norm: float = 1e-7,
    min_points: int = 5,
) -> list[Symptom]:
    """Gradients vanish: the first layers get almost nothing, or the global norm is practically zero.

    ## Symptom
    With per-layer norms (``grad_norm/<layer>``, input side first in natural
    order): over the second half of the run, the first layer's median norm is
    below ``layer_ratio`` (1e-3) of the last layer's and below
    ``first_layer_norm`` (1e-4) in absolute terms (AUTOTRAINER's rule). Without
    them: the global norm's mean over the second half is below ``global_norm``
    (1e-7, DeepDiagnosis and SageMaker Debugger's VanishingGradient). At least
    ``min_points`` (5) points are needed.

    ## Why it matters
    Layers that get no gradient do not learn: the loss stalls even though the
    optimizer runs.

    ## Evidence
    The first and last layers' norms (or the global norm) with steps and
    ``file:line``.

    ## Likely causes
    Saturating activations (sigmoid/tanh) in a deep stack, bad initialization,
    missing normalization or residual connections, dead ReLUs.

    ## Fix
    ReLU-family activations, He/Xavier initialization, normalization layers or
    residual connections; check the first layers are not frozen by mistake.

    ## Known false positives
    Frozen layers (fine-tuning a head only) have no gradient on purpose; a
    reinforcement-learning step with no advantage signal has a zero norm for a
    step (corpus case 03), which the second-half mean ignores.
    """
    layers = per_layer(run, "grad_norm", exclude=GLOBAL_GRAD)
    if len(layers) >= 2:
        first, last = layers[0].finite_part(), layers[-1].finite_part()
        if len(first) >= min_points and len(last) >= min_points:
            h1, h2 = first.values[len(first) // 2 :], last.values[len(last) // 2 :]
            a, b = float(np.median(h1)), float(np.median(h2))
            if b > 0 and a / b < layer_ratio and a < first_layer_norm:
                i, j = len(first) - 1, len(last) - 1
                return [
                    Symptom(
                        id="gradient_vanishing",
                        code="TDX202",
                        severity="high",
                        summary=f"the first layer's gradient norm ({fmt_num(a)}) is {a / b:.1e} of the last layer's ({fmt_num(b)}) over the second half of the run",
                        metric=first.name,
                        step=float(first.steps[len(first) // 2]),
                        step_unit=first.step_unit,
                        evidence=[
                            Evidence(f"{first.source_name} {fmt_num(float(first.values[i]))} at {at(first, i)} (median {fmt_num(a)} over the second half)", first.where(i), float(first.steps[i])),
                            Evidence(f"{last.source_name} {fmt_num(float(last.values[j]))} at {at(last, j)} (median {fmt_num(b)} over the second half)", last.where(j), float(last.steps[j])),
                        ],
                        data={"kind": "layers", "ratio": a / b, "first_layer": first.name, "last_layer": last.name, "onset_step": float(first.steps[0])},
                    )
                ]
    g = global_grad(run)
    assert g is not None
    fin = g.finite_part()
    if len(fin) < min_points:
        return []
    half = fin.values[len(fin) // 2 :]
    mean = float(np.mean(np.abs(half)))
    if mean < global_norm:
        i = len(fin) - 1
        return [
            Symptom(
                id="gradient_vanishing",
                code="TDX202",
                severity="high",
                summary=f"the gradient norm averages {fmt_num(mean)} over the second half of the run: practically no gradient reaches the weights",
                metric=g.name,
                step=float(fin.steps[len(fin) // 2]),
                step_unit=fin.step_unit,
                evidence=[Evidence(f"{fin.source_name} {fmt_num(float(fin.values[i]))} at {at(fin, i)}", fin.where(i), float(fin.steps[i]))],
                data={"kind": "global", "mean": mean, "onset_step": float(fin.steps[0])},
            )
        ]
    return []
