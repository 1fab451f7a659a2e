"""Gradient and numerical causes: exploding gradients, fp16 overflow, numerical instability."""

from __future__ import annotations

from ...findings import Evidence, Hypothesis
from ...run import fmt_num, fmt_step, times
from .. import confidence as conf
from .base import Context, make, rule
from .lr import lr_onset


def _lr_explains(ctx: Context) -> bool:
    """The LR was at its high values or still rising at the divergence onset."""
    info = lr_onset(ctx)
    if not (info and info.get("logged")):
        return False
    extreme = info.get("at_onset") is not None and ctx.facts.lr_is_extreme_high(info["at_onset"].value)
    return bool(info.get("rising") or info.get("near_peak") or extreme)


@rule("exploding_gradients")
def exploding_gradients(ctx: Context) -> Hypothesis | None:
    f = ctx.facts
    g = ctx.sym("gradient_explosion")
    spike = ctx.sym("loss_spike")
    # a grad-norm jump at the divergence onset or the first NaN
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
        lr_explains = sid == "loss_divergence" and _lr_explains(ctx)
        explains = ctx.explained_by_divergence() if sid == "loss_divergence" else ["nan_inf"]
        if g is not None and g.data.get("kind") == "spike":
            explains = explains + ["gradient_explosion"]
        # what set the jump off, when a schedule switched at the onset (a longer sequence, a new curriculum stage)
        switch = f.schedule_switch(s) if sid == "loss_divergence" else None
        trigger = ""
        if switch is not None:
            trigger = f"; it came as {switch.text}, which set it off"
        return make(
            ctx,
            "exploding_gradients",
            tier=conf.HYPOTHESIS if lr_explains else conf.DIRECT,
            support=1 if jump[0] >= 100 else 0,
            explains=explains,
            evidence=[jump[1]] + ([switch.evidence] if switch is not None else []) + s.evidence[:1],
            basis=(
                f"the grad norm jumped {times(jump[0])} at the {'onset' if sid == 'loss_divergence' else 'first NaN'}"
                + trigger
                + ("; the LR reaching its high values explains that jump, so clipping treats the symptom more than the cause" if lr_explains else "")
            ),
            values={"onset": fmt_step(step)},
        )
    # gradient-norm spikes the loss reacted to, or first layers far above the last
    if g is not None and not ctx.after_divergence(g) and (g.data.get("kind") == "layers" or (g.data.get("kind") == "spike" and g.data.get("loss_reacted"))):
        explains = ["gradient_explosion"] + (["loss_spike"] if spike is not None else [])
        ev = list(g.evidence) + (spike.evidence[:1] if spike is not None else [])
        basis = (
            f"the first layer's gradient norm is {times(g.data['ratio'])} the last layer's"
            if g.data.get("kind") == "layers"
            else f"{g.data['count']} grad-norm spike(s) up to {times(g.data['ratio'])} the running median, and the loss jumped with {g.data['loss_reacted']} of them"
        )
        osc = ctx.sym("loss_oscillation")
        return make(
            ctx,
            "exploding_gradients",
            tier=conf.CIRCUMSTANTIAL if osc is not None else conf.DIRECT,
            support=1 if g.data["ratio"] >= 100 else 0,
            against=1 if osc is not None else 0,
            explains=explains,
            evidence=ev,
            basis=basis + ("; the loss oscillates too, and gradients spike with its swings" if osc is not None else ""),
            values={"onset": fmt_step(g.data.get("onset_step") or 0)},
        )
    # loss spikes with the gradient norm far above its moving average at the same steps (ZClip's signal)
    if spike is not None and not ctx.after_divergence(spike) and spike.data.get("grad_z") is not None and spike.data["grad_z"] >= 2.5:
        return make(
            ctx,
            "exploding_gradients",
            tier=conf.CIRCUMSTANTIAL,
            support=1 if spike.data["grad_z"] >= 6 else 0,
            explains=["loss_spike"],
            evidence=list(spike.evidence),
            basis=f"the grad norm's EMA z-score is {spike.data['grad_z']:.1f} at the biggest loss spike (ZClip flags 2.5)",
            values={"onset": fmt_step(spike.data["first_step"])},
        )
    return None


@rule("missing_zero_grad")
def missing_zero_grad(ctx: Context) -> Hypothesis | None:
    g = ctx.sym("gradient_explosion")
    if g is None or g.data.get("kind") != "growth":
        return None
    code = [c for c in ctx.run.code_facts if c.kind in ("no_zero_grad", "zero_grad_after_backward")]
    ev = list(g.evidence) + [Evidence(c.text, c.where, None) for c in code[:2]]
    if not code:
        ctx.request(
            "the training loop's code",
            "a gradient norm that grows from the first step is the picture of gradients never cleared; the code shows whether zero_grad is called",
            "pass the training script (train.py) to traindx with the logs",
        )
    return make(
        ctx,
        "missing_zero_grad",
        tier=conf.DIRECT if code else conf.CIRCUMSTANTIAL,
        support=1,
        explains=["gradient_explosion"] + [sid for sid in ("loss_divergence", "loss_oscillation", "loss_spike") if ctx.sym(sid) is not None],
        evidence=ev,
        basis=f"the gradient norm grows {times(g.data['ratio'])} from the first fifth of the run to the last, rising in every fifth: gradients add up across steps"
        + ("; the training code never clears them" if code else ""),
        confirm="" if code else "the training code: confirmed if optimizer.zero_grad() (or model.zero_grad()) is missing from the loop",
    )


@rule("vanishing_gradients")
def vanishing_gradients(ctx: Context) -> Hypothesis | None:
    v = ctx.sym("gradient_vanishing")
    p = ctx.sym("loss_plateau")
    if v is not None:
        explains = ["gradient_vanishing"] + (["loss_plateau"] if p is not None and not ctx.after_divergence(p) else [])
        direct = v.data.get("kind") == "layers"
        return make(
            ctx,
            "vanishing_gradients",
            tier=conf.DIRECT if direct else conf.CIRCUMSTANTIAL,
            support=1 if p is not None else 0,
            explains=explains,
            evidence=list(v.evidence) + (p.evidence[:1] if p is not None else []),
            basis=(
                f"the first layer gets {v.data['ratio']:.1e} of the last layer's gradient"
                if direct
                else "the global gradient norm is practically zero"
            )
            + ("; the loss does not move" if p is not None else ""),
            confirm="" if direct else "per-layer gradient norms: confirmed if the first layers' norms are below 1e-3 of the last layers'",
        )
    g = ctx.facts.grad
    if p is None or g is None or ctx.after_divergence(p) or p.data.get("kind") not in ("chance", "constant", "no_improvement"):
        return None
    import numpy as np

    med = float(np.mean(g.values[len(g) // 2 :])) if len(g) else float("nan")
    if not (med < 1e-4):
        return None
    from ...checks.evidence import at

    return make(
        ctx,
        "vanishing_gradients",
        tier=conf.CIRCUMSTANTIAL,
        explains=["loss_plateau"],
        evidence=[Evidence(f"grad norm {fmt_num(float(g.values[-1]))} at {at(g, len(g) - 1)} (mean {fmt_num(med)} over the second half)", g.where(len(g) - 1), float(g.steps[-1]))] + p.evidence[:1],
        basis=f"the global gradient norm is tiny ({fmt_num(med)}) while the loss does not move",
        confirm="per-layer gradient norms: confirmed if the first layers' norms are below 1e-3 of the last layers'",
    )


@rule("dead_relu")
def dead_relu(ctx: Context) -> Hypothesis | None:
    d = ctx.sym("dead_units")
    if d is None:
        return None
    p = ctx.sym("loss_plateau")
    explains = ["dead_units"] + (["loss_plateau"] if p is not None and not ctx.after_divergence(p) else [])
    at_onset = ctx.facts.lr_at(d.step or 0, d.step_unit)
    ev = list(d.evidence) + ([at_onset.evidence] if at_onset is not None else [])
    return make(
        ctx,
        "dead_relu",
        tier=conf.DIRECT,
        support=1 if p is not None else 0,
        explains=explains,
        evidence=ev,
        basis=f"{d.data['share']:.0%} of the units of {d.metric} output zero for every input",
    )


def _scale_fell_at(ctx: Context, spike) -> bool:  # type: ignore[no-untyped-def]
    """Whether the loss scale was lower right after a loss spike than right before it."""
    s = ctx.run.get("loss_scale")
    if s is None or s.step_unit != spike.step_unit:
        return False
    for step in spike.data.get("steps", []):
        before = s.values[s.steps < step]
        after = s.values[(s.steps >= step) & (s.steps <= step + max(1.0, 0.01 * float(s.steps[-1])))]
        if before.size and after.size and float(after.min()) < float(before[-1]):
            return True
    return False


@rule("mixed_precision_overflow")
def mixed_precision_overflow(ctx: Context) -> Hypothesis | None:
    f = ctx.facts
    crash = ctx.sym("run_crashed")
    floor = ctx.run.events_of("loss_scale_min")
    collapse = ctx.sym("loss_scale_collapse")
    if collapse is not None and collapse.severity in ("high", "critical") and not (crash is not None and floor):
        explains = ["loss_scale_collapse"] + [sid for sid in ("nan_inf", "loss_spike", "loss_divergence") if ctx.sym(sid) is not None and not ctx.after_divergence(ctx.sym(sid))]
        return make(
            ctx,
            "mixed_precision_overflow",
            tier=conf.DIRECT,
            support=1 if collapse.data.get("overflows", 0) >= 5 else 0,
            explains=explains,
            evidence=list(collapse.evidence),
            basis=collapse.summary,
            values={"onset": fmt_step(collapse.step) if collapse.step is not None else "the first overflow"},
        )
    if crash is not None and floor:
        overflow = f.overflow_events_before(None)
        scales = [e.get("to") for e in overflow if e.get("to") is not None]
        ev = [Evidence(e.text[:300], e.where, e.step) for e in floor[-1:]]
        ev += [Evidence(e.text[:300], e.where, e.step) for e in overflow[-3:]]
        basis = "the loss scaler reached its minimum and training stopped"
        if scales:
            basis += f", after {len(overflow)} overflow messages with the scale falling to {fmt_num(min(scales))}"
        explains = ["run_crashed"] + [sid for sid in ("loss_scale_collapse", "nan_inf", "loss_divergence") if ctx.sym(sid) is not None and not ctx.after_divergence(ctx.sym(sid))]
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
    spike = ctx.sym("loss_spike")
    if collapse is not None and spike is not None and _scale_fell_at(ctx, spike):
        return make(
            ctx,
            "mixed_precision_overflow",
            tier=conf.CIRCUMSTANTIAL,
            support=1,
            explains=["loss_spike", "loss_scale_collapse"],
            evidence=list(spike.evidence[:1]) + list(collapse.evidence),
            basis="the fp16 loss scale was cut at the loss spike: the scaler met overflowing values in those steps",
            values={"onset": fmt_step(spike.data["first_step"])},
            confirm="the per-step loss scale and skipped-step count around the spike: confirmed if overflows precede the loss jump",
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
