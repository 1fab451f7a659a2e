"""Causes seen in what the model produces and in what the logs warn: mode collapse, activation variance collapse."""

from __future__ import annotations

from ...findings import Hypothesis
from ...run import fmt_step
from .. import confidence as conf
from .base import Context, make, rule


@rule("mode_collapse")
def mode_collapse(ctx: Context) -> Hypothesis | None:
    d = ctx.sym("degenerate_outputs")
    if d is None:
        return None
    ev = list(d.evidence)
    at_step = ctx.facts.lr_at(d.step or 0, "step") if d.step is not None else None
    if at_step is not None:
        ev.append(at_step.evidence)
    from .learning import held_out_near_zero

    leak = ctx.sym("loss_at_zero") is not None and held_out_near_zero(ctx) is not None
    # an embedding-heavy generative model collapses onto frequent tokens by its shape: that cause (architecture_imbalance)
    # explains the same samples, and the fixes here (LR, entropy bonus) would not touch it
    shape = ctx.sym("param_imbalance")
    basis = f"{d.data['bad']} of the {d.data['samples']} latest samples are degenerate: the outputs themselves show the collapse"
    if shape is not None:
        basis += "; but the model's own parameter balance explains them as well (see architecture_imbalance)"
    return make(
        ctx,
        "mode_collapse",
        tier=conf.CIRCUMSTANTIAL if leak or shape is not None else conf.DIRECT,
        against=int(leak) + int(shape is not None),
        explains=["degenerate_outputs"],
        evidence=ev,
        contradicts=list(shape.evidence[:1]) if shape is not None else None,
        basis=basis,
    )


@rule("act_variance_collapse")
def act_variance_collapse(ctx: Context) -> Hypothesis | None:
    z = ctx.sym("zero_variance_warning")
    if z is None:
        return None
    basis = f"the log warns {z.data['count']} time(s) that a variance was taken over a single element; the statistic it feeds is NaN or constant"
    # direct when a logged series turns non-finite after the warning and never before: the NaN the warning announces
    nan = ctx.sym("nan_inf")
    follows = nan is not None and z.step is not None and nan.step is not None and nan.step_unit == z.step_unit and nan.step >= z.step
    if follows:
        assert nan is not None
        basis = (
            f"the log warns that a variance was taken over a single element at step {fmt_step(z.step)}, and {nan.metric or 'a logged series'} "
            f"turns non-finite from step {fmt_step(nan.step)}, never before: the NaN the warning announces"
        )
    return make(
        ctx,
        "act_variance_collapse",
        tier=conf.DIRECT if follows else conf.CIRCUMSTANTIAL,
        support=1 if z.data.get("count", 0) >= 3 else 0,
        explains=["zero_variance_warning"] + [sid for sid in ("nan_inf", "loss_plateau") if ctx.sym(sid) is not None],
        evidence=list(z.evidence) + (list(nan.evidence[:1]) if follows and nan is not None else []),
        basis=basis,
        confirm="the traindx probe's activation statistics, or the code of the layer that calls var/std",
    )

