"""Gradient and numerical causes: exploding gradients, fp16 overflow, numerical instability."""

from __future__ import annotations


from ...findings import Evidence, Hypothesis
from ...run import fmt_num, fmt_step
from .. import confidence as conf
from .base import Context, make, rule
from .lr import lr_onset


# -- gradients and precision ---------------------------------------------------------------


@rule("exploding_gradients")
def exploding_gradients(ctx: Context) -> Hypothesis | None:
    f = ctx.facts
    for sid in ("loss_divergence", "nan_inf"):
        s = ctx.sym(sid)
        if s is None or s.step is None:
            continue
        if sid == "nan_inf" and ctx.after_divergence(s):
            continue
        step = s.data.get("onset_step", s.step)
        jump = f.grad_jump(step, s.step_unit)
        if jump is None or jump[0] < 10:
            continue
        lr_info = lr_onset(ctx) if sid == "loss_divergence" else None
        lr_explains = bool(lr_info and lr_info.get("logged") and (lr_info.get("rising") or lr_info.get("near_peak")))
        explains = ctx.explained_by_divergence() if sid == "loss_divergence" else ["nan_inf"]
        return make(
            ctx,
            "exploding_gradients",
            tier=conf.HYPOTHESIS if lr_explains else conf.DIRECT,
            support=1 if jump[0] >= 100 else 0,
            explains=explains,
            evidence=[jump[1]] + s.evidence[:1],
            basis=(
                f"the grad norm jumped {jump[0]:.0f}x at the {'onset' if sid == 'loss_divergence' else 'first NaN'}"
                + ("; the LR reaching its high values explains that jump, so clipping treats the symptom more than the cause" if lr_explains else "")
            ),
            values={"onset": fmt_step(step)},
        )
    return None


@rule("mixed_precision_overflow")
def mixed_precision_overflow(ctx: Context) -> Hypothesis | None:
    f = ctx.facts
    crash = ctx.sym("run_crashed")
    floor = ctx.run.events_of("loss_scale_min")
    if crash is not None and floor:
        overflow = f.overflow_events_before(None)
        scales = [e.get("to") for e in overflow if e.get("to") is not None]
        ev = [Evidence(e.text[:300], e.where, e.step) for e in floor[-1:]]
        ev += [Evidence(e.text[:300], e.where, e.step) for e in overflow[-3:]]
        basis = "the loss scaler reached its minimum and training stopped"
        if scales:
            basis += f", after {len(overflow)} overflow messages with the scale falling to {fmt_num(min(scales))}"
        explains = ["run_crashed"] + [sid for sid in ("nan_inf", "loss_divergence") if ctx.sym(sid) is not None and not ctx.after_divergence(ctx.sym(sid))]
        return make(
            ctx,
            "mixed_precision_overflow",
            tier=conf.DIRECT,
            support=1 + (1 if len(overflow) >= 5 else 0),
            explains=explains,
            evidence=ev,
            basis=basis,
            values={"onset": fmt_step(overflow[0].step) if overflow and overflow[0].step is not None else "the first overflow"},
        )
    n = ctx.sym("nan_inf")
    if n is None or ctx.after_divergence(n):
        return None
    overflow = f.overflow_events_before(n.step)
    fp16 = f.fp16()
    if len(overflow) >= 3:
        ev = [Evidence(e.text, e.where, e.step) for e in overflow[-3:]] + n.evidence[:1]
        return make(
            ctx,
            "mixed_precision_overflow",
            tier=conf.DIRECT,
            support=min(3, len(overflow) // 5),
            explains=["nan_inf"],
            evidence=ev,
            basis=f"{len(overflow)} fp16 overflow messages precede the first non-finite value",
            values={"onset": fmt_step(n.step or 0)},
        )
    if fp16 is not None:
        return make(
            ctx,
            "mixed_precision_overflow",
            tier=conf.HYPOTHESIS,
            explains=["nan_inf"],
            evidence=[fp16] + n.evidence[:1],
            basis="the run trains in fp16, where a NaN without a visible precursor is often an overflow",
            values={"onset": fmt_step(n.step or 0)},
            confirm="log the loss scale (GradScaler.get_scale()) every step: confirmed if it keeps halving before the NaN",
        )
    return None


@rule("numerical_instability")
def numerical_instability(ctx: Context) -> Hypothesis | None:
    n = ctx.sym("nan_inf")
    if n is None or ctx.after_divergence(n):
        return None
    f = ctx.facts
    vals = {"onset": fmt_step(n.step or 0)}
    anomalies = ctx.run.events_of("nan_anomaly")
    if anomalies:
        fn = anomalies[0].get("function") or "a backward function"
        return make(
            ctx,
            "numerical_instability",
            tier=conf.DIRECT,
            support=1,
            explains=["nan_inf"],
            evidence=[Evidence(a.text, a.where, a.step) for a in anomalies[:2]],
            basis=f"anomaly detection names {fn} as the first operation that produced NaN",
            values=vals,
            fix=f"Guard the operation behind {fn} (add an eps inside log/sqrt/division, clamp its input) and restart from before step {vals['onset']}.",
        )
    series = n.data.get("series") or []
    lead = series[0].get("lead_change") if series else None
    grad = f.grad_jump(n.step or 0, n.step_unit) if n.step is not None else None
    overflow = f.overflow_events_before(n.step)
    if (lead is not None and lead > 0.5) or (grad is not None and grad[0] >= 10) or len(overflow) >= 3:
        return None  # a precursor points elsewhere
    ev = list(n.evidence[:2])
    if n.data.get("saturated"):
        return make(
            ctx,
            "numerical_instability",
            tier=conf.CIRCUMSTANTIAL,
            explains=["nan_inf"] + (["loss_divergence"] if ctx.sym("loss_divergence") else []),
            evidence=ev,
            basis="a loss of 87.3365 means a predicted probability underflowed to 0: the logits saturated",
            values=vals,
            fix="Compute the loss from logits with a log-softmax (not a softmax then log), check the labels' range, and lower the LR; then restart.",
        )
    basis = "non-finite values appear with no precursor in the logged curves (no loss climb, no grad-norm jump, no loss-scale halving)"
    if n.data.get("zero_loss_with_nan_grad"):
        basis = "the gradient norm is NaN while the loss reads exactly 0: the backward pass produces NaN on a loss that carries no signal"
    ctx.request(
        "the batch and the operation at the first NaN",
        "to tell a numerically unsafe operation from a corrupted example",
        "rerun to that step with torch.autograd.set_detect_anomaly(True), or with traindx.watch(model, optimizer) which saves the offending batch",
    )
    if f.grad is None:
        ctx.request(
            "the gradient norm at every step",
            "a grad-norm jump before the NaN would point to exploding gradients instead",
            "log the value returned by torch.nn.utils.clip_grad_norm_ (use max_norm=float('inf') to log without clipping)",
        )
    return make(
        ctx,
        "numerical_instability",
        tier=conf.HYPOTHESIS,
        support=1,
        explains=["nan_inf"] + (["loss_at_zero"] if ctx.sym("loss_at_zero") else []),
        evidence=ev,
        basis=basis,
        values=vals,
        confirm="anomaly detection or the traindx probe naming the operation",
    )
