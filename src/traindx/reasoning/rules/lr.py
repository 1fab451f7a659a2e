"""Learning-rate causes: too high, too low, and a schedule that drives the run unstable."""

from __future__ import annotations

from ...findings import Evidence, Hypothesis
from ...run import fmt_num, fmt_step
from .. import confidence as conf
from .base import Context, lr_text, make, round_down, rule


def lr_onset(ctx: Context) -> dict | None:
    """The LR picture around the divergence onset, shared by lr_too_high and lr_schedule."""
    d = ctx.divergence()
    if d is None:
        return None
    f = ctx.facts
    unit = d.step_unit
    onset, best_step = d.data["onset_step"], d.data["best_step"]
    at_onset = f.lr_at(onset, unit)
    info: dict = {"d": d, "onset": onset, "best_step": best_step, "unit": unit, "at_onset": at_onset, "logged": False}
    grad = f.grad_jump(onset, unit)
    info["grad"] = grad
    if f.lr is not None and f.lr.step_unit == unit:
        info["logged"] = True
        rise = f.lr_rise(best_step, onset, unit)
        peak = f.lr_peak()
        assert rise is not None and peak is not None
        a, b, i, j = rise
        info.update(lr_best=a, lr_onset=b, i_best=i, i_onset=j, peak=peak[0], i_peak=peak[1])
        # still ramping: higher than at the best step, and still going up around the onset
        lr_vals = f.lr.values
        later = float(lr_vals[min(len(lr_vals) - 1, j + max(1, len(lr_vals) // 50))])
        earlier = float(lr_vals[max(0, j - max(1, len(lr_vals) // 50))])
        info["rising"] = a > 0 and b > 1.1 * a and later > earlier
        info["near_peak"] = b >= 0.8 * peak[0] and not f.lr_constant
        info["constant"] = f.lr_constant
    return info


def _divergence_values(ctx: Context, info: dict, suggested: float | None) -> dict:
    d = info["d"]
    val = info["at_onset"].value if info["at_onset"] is not None else None
    return {
        "lr_key": ctx.facts.lr_key,
        "lr_value": lr_text(val) if val is not None else "its current value",
        "lr_suggested": lr_text(suggested) if suggested else "a third of it",
        "onset": fmt_step(info["onset"]),
        "best_value": fmt_num(d.data["best_value"]),
    }


def warmup_peak(ctx: Context, info: dict) -> bool:
    """The LR ramps up to a peak (at least 2x its first value) and the divergence starts on the
    ramp or within a tenth of the run after the peak: the schedule carried the LR to where it broke."""
    lr = ctx.facts.lr
    if lr is None or len(lr) < 3 or "i_peak" not in info:
        return False
    first, peak = float(lr.values[0]), info["peak"]
    if not (first > 0 and peak >= 2 * first) and not (first == 0 and peak > 0):
        return False
    span = float(lr.steps[-1] - lr.steps[0]) or 1.0
    return info["onset"] <= float(lr.steps[info["i_peak"]]) + 0.1 * span


@rule("lr_schedule")
def lr_schedule(ctx: Context) -> Hypothesis | None:
    info = lr_onset(ctx)
    if info is None or not info.get("logged") or not (info.get("rising") or warmup_peak(ctx, info)):
        return None
    f, d = ctx.facts, info["d"]
    lr = f.lr
    assert lr is not None
    from ...checks.evidence import at

    suggested = round_down(info["lr_best"])
    ev = [
        Evidence(
            f"learning rate {fmt_num(info['lr_best'])} at {at(lr, info['i_best'])}, when the training loss was at its best",
            lr.where(info["i_best"]),
            float(lr.steps[info["i_best"]]),
        ),
        Evidence(
            f"learning rate {fmt_num(info['lr_onset'])} at {at(lr, info['i_onset'])} ({info['lr_onset'] / info['lr_best']:.1f}x higher) when the loss turned up",
            lr.where(info["i_onset"]),
            float(lr.steps[info["i_onset"]]),
        ),
        d.evidence[1],
    ]
    support = 1
    if info["grad"] is not None and info["grad"][0] >= 3:
        ev.append(info["grad"][1])
        support += 2
    if info["near_peak"]:
        support += 1
    ev.append(
        Evidence(
            f"the schedule peaks at {fmt_num(info['peak'])} at {at(lr, info['i_peak'])}",
            lr.where(info["i_peak"]),
            float(lr.steps[info["i_peak"]]),
        )
    )
    warm = None
    for key in ("warmup_steps", "warmup_iters", "warmup_ratio", "warmup_updates", "num_warmup_steps"):
        warm = ctx.run.config_value(key)
        if warm is not None:
            ev.append(Evidence(f"{warm.key} = {warm.value} in the config", warm.where, None))
            break
    vals = _divergence_values(ctx, info, suggested)
    cfg = f.lr_config
    planned_peak = cfg[0] if cfg is not None and cfg[0] >= info["peak"] else info["peak"]
    vals["lr_value"] = lr_text(planned_peak)
    fix = None
    if planned_peak > info["lr_onset"]:
        fix = (
            f"Cap the schedule's peak ({vals['lr_key']}) at {vals['lr_suggested']}, the LR at the loss's best step, instead of {vals['lr_value']}: "
            f"the loss turned up once the LR passed {lr_text(info['lr_onset'])}, and any schedule that still climbs to {vals['lr_value']} crosses that value, "
            f"so a longer warmup alone only delays the divergence. Restart from a checkpoint before step {vals['onset']}."
        )
    return make(
        ctx,
        "lr_schedule",
        tier=conf.DIRECT,
        support=support,
        explains=ctx.explained_by_divergence(),
        evidence=ev,
        basis=(
            f"the logged LR rose {info['lr_onset'] / info['lr_best']:.1f}x between the loss's best step and the divergence onset; "
            + ("the loss turned up while the schedule was still raising the LR" if info.get("rising") else f"the loss turned up as the warmup reached its peak {fmt_num(info['peak'])}")
        ),
        values=vals,
        fix=fix,
        issue=(
            f"LR schedule ramps the learning rate past the stable range: the loss turns up at {info['unit']} {fmt_step(info['onset'])} as the LR climbs to {fmt_num(info['lr_onset'])}"
            if info.get("rising")
            else f"LR schedule warms up to a peak the model cannot take: the loss turns up at {info['unit']} {fmt_step(info['onset'])}, when the LR reached {fmt_num(info['lr_onset'])} (peak {fmt_num(info['peak'])})"
        ),
    )


@rule("lr_too_high")
def lr_too_high(ctx: Context) -> Hypothesis | None:
    f = ctx.facts
    info = lr_onset(ctx)
    if info is not None:
        d = info["d"]
        at_onset = info["at_onset"]
        explains = ctx.explained_by_divergence()
        ev: list[Evidence] = [d.evidence[0], d.evidence[1]]
        grad = info["grad"]
        if grad is not None and grad[0] >= 3:
            ev.append(grad[1])
        if at_onset is None:
            ctx.request(
                "the learning rate at every step",
                "to tell a too-high LR or a schedule jump from a bad batch at the divergence onset",
                "log the LR each step (scheduler.get_last_lr()[0], or the trainer's learning_rate field)",
            )
            return make(
                ctx,
                "lr_too_high",
                tier=conf.HYPOTHESIS,
                support=1 if grad is not None and grad[0] >= 3 else 0,
                explains=explains,
                evidence=ev,
                basis="divergence is the typical picture of a too-high LR, but the run's LR is neither logged nor configured",
                values=_divergence_values(ctx, info, None),
                confirm="log the learning rate; the cause is confirmed if the onset lines up with its highest values",
            )
        ev.insert(0, at_onset.evidence)
        lr = at_onset.value
        extreme = f.lr_is_extreme_high(lr)
        if info["logged"]:
            if info.get("rising") or warmup_peak(ctx, info):
                # the schedule rule carries this case; here the peak value itself is the alternative
                suggested = round_down(info["lr_best"])
                vals = _divergence_values(ctx, info, suggested)
                cfg = f.lr_config
                if cfg is not None and cfg[0] >= lr:
                    vals["lr_value"] = lr_text(cfg[0])
                return make(
                    ctx,
                    "lr_too_high",
                    tier=conf.CIRCUMSTANTIAL,
                    support=2 if extreme else 0,
                    explains=explains,
                    evidence=ev,
                    basis="the loss turned up while the LR was rising; a lower peak would avoid the range where it turned up",
                    values=vals,
                )
            constant = info.get("constant", False)
            jumped = grad is not None and grad[0] >= 10
            support = (2 if extreme else 0) + (2 if grad is not None and 3 <= grad[0] < 10 else 0) + (1 if info["near_peak"] else 0)
            against = 0 if (info["near_peak"] or extreme or constant) else 1
            if info["near_peak"] or extreme:
                tier = conf.DIRECT
            elif constant:
                # a gradual climb at a constant LR, with no gradient blow-up to start it, is the
                # known picture of a step size the model cannot take (the pattern, not the proof)
                tier = conf.HYPOTHESIS if jumped else conf.CIRCUMSTANTIAL
            else:
                tier = conf.CIRCUMSTANTIAL
            suggested = round_down(lr / 10) if extreme else round_down(lr / 3)
            growth = ctx.sym("gradient_explosion")
            if growth is not None and growth.data.get("kind") == "growth":
                against += 1  # gradients growing from the first step point at accumulation, not the LR
            where = " (constant through the run)" if constant else (" (its highest value in the run)" if info["near_peak"] else " (below its peak)")
            basis = f"the logged LR was {fmt_num(lr)} at the onset{where}" + ("; that is far above the usual range for this optimizer" if extreme else "")
            if constant and not extreme and not jumped:
                basis += "; the loss climbed with no gradient blow-up to start it, the usual picture of a step size the model cannot take"
            return make(
                ctx,
                "lr_too_high",
                tier=tier,
                support=support,
                against=against,
                explains=explains,
                evidence=ev,
                basis=basis,
                values=_divergence_values(ctx, info, suggested),
                contradicts=[] if (info["near_peak"] or constant) else [Evidence(f"the LR at the onset was below its peak {fmt_num(info['peak'])}", f.lr.where(info["i_peak"]) if f.lr is not None else "", None)],
            )
        # configured, not logged
        suggested = round_down(lr / 10) if extreme else round_down(lr / 3)
        ctx.request(
            "the learning rate at every step",
            "to see whether the divergence onset lines up with the LR schedule's peak",
            "log the LR each step (scheduler.get_last_lr()[0], or the trainer's learning_rate field)",
        )
        return make(
            ctx,
            "lr_too_high",
            tier=conf.CIRCUMSTANTIAL if extreme else conf.HYPOTHESIS,
            support=1 if grad is not None and grad[0] >= 3 else 0,
            explains=explains,
            evidence=ev,
            basis=f"the configured LR {fmt_num(lr)} " + ("is far above the usual range for this optimizer" if extreme else "is in a normal range; the LR schedule is not logged"),
            values=_divergence_values(ctx, info, suggested),
            confirm="log the LR per step: confirmed if the onset lines up with its highest values",
        )
    # a loss that swings up and back without settling: an LR at the edge of stability
    o = ctx.sym("loss_oscillation")
    if o is not None and not ctx.after_divergence(o):
        at_o = f.lr_at(o.step or 0, o.step_unit)
        g = ctx.sym("gradient_explosion")
        growth = g is not None and g.data.get("kind") == "growth"
        lr_val = at_o.value if at_o is not None else None
        return make(
            ctx,
            "lr_too_high",
            tier=conf.CIRCUMSTANTIAL,
            support=(1 if at_o is not None else 0) + (1 if lr_val is not None and f.lr_is_extreme_high(lr_val) else 0),
            against=1 if growth else 0,
            explains=["loss_oscillation"] + [sid for sid in ("loss_spike", "gradient_explosion") if ctx.sym(sid) is not None and not growth],
            evidence=list(o.evidence) + ([at_o.evidence] if at_o is not None else []),
            basis="the loss is kicked up and pulled back again and again without settling: the step size sits at the edge of what the curvature allows",
            values={
                "lr_key": f.lr_key,
                "lr_value": lr_text(lr_val) if lr_val is not None else "its current value",
                "lr_suggested": lr_text(round_down(lr_val / 2)) if lr_val is not None else "half of it",
                "onset": fmt_step(o.step or 0),
                "best_value": "its floor",
            },
            confirm="a run at half the LR: confirmed if the swings stop",
        )
    # a NaN right after a loss climb too short to be called a divergence
    n = ctx.sym("nan_inf")
    if n is not None and n.metric == "loss/train":
        lead = n.data["series"][0].get("lead_change") if n.data.get("series") else None
        if lead is not None and lead > 0.5:
            at_nan = f.lr_at(n.step or 0, n.step_unit)
            ev = [n.evidence[1]] + ([at_nan.evidence] if at_nan is not None else [])
            return make(
                ctx,
                "lr_too_high",
                tier=conf.CIRCUMSTANTIAL,
                explains=["nan_inf"],
                evidence=ev,
                basis="the loss climbed steeply in the steps before the first NaN, the usual lead-up of a too-high LR",
                values={"lr_key": f.lr_key, "lr_value": lr_text(at_nan.value) if at_nan else "its current value", "lr_suggested": lr_text(round_down(at_nan.value / 3)) if at_nan else "a third of it", "onset": fmt_step(n.step or 0), "best_value": "its level before the climb"},
            )
    # chance-level plateau with an absurd LR: the model was destroyed
    p = ctx.sym("loss_plateau")
    if p is not None and p.data.get("kind") in ("chance", "constant") and not ctx.after_divergence(p):
        at_p = f.lr_at(p.step or 0, p.step_unit)
        if at_p is not None and f.lr_is_extreme_high(at_p.value):
            return make(
                ctx,
                "lr_too_high",
                tier=conf.CIRCUMSTANTIAL,
                explains=["loss_plateau"],
                evidence=[at_p.evidence, p.evidence[0]],
                basis=f"an LR of {fmt_num(at_p.value)} is far above the usual range; such steps push the model to a uniform output",
                values={"lr_key": f.lr_key, "lr_value": lr_text(at_p.value), "lr_suggested": lr_text(round_down(at_p.value / 100)), "onset": fmt_step(p.step or 0), "best_value": "the first logged loss"},
            )
    return None


@rule("lr_too_low")
def lr_too_low(ctx: Context) -> Hypothesis | None:
    p = ctx.sym("loss_plateau")
    if p is None or ctx.after_divergence(p) or p.data.get("kind") not in ("no_improvement", "chance"):
        return None
    f = ctx.facts
    at_p = f.lr_at(p.step or 0, p.step_unit)
    if at_p is None:
        return None
    if f.lr_is_extreme_low(at_p.value):
        tier, basis, support = conf.CIRCUMSTANTIAL, f"the LR {fmt_num(at_p.value)} is below the range any optimizer of this family trains at", 1
    elif p.data.get("kind") == "no_improvement":
        tier, basis, support = conf.HYPOTHESIS, f"the loss barely moves at LR {fmt_num(at_p.value)}; a too-small LR is one way to get there", 0
    else:
        return None
    return make(
        ctx,
        "lr_too_low",
        tier=tier,
        support=support,
        explains=["loss_plateau"],
        evidence=[at_p.evidence] + p.evidence[:2],
        basis=basis,
        values={"lr_key": f.lr_key, "lr_value": lr_text(at_p.value), "lr_suggested": lr_text(at_p.value * 10)},
        confirm="a short run at 3-10x the LR: confirmed if the loss then falls clearly",
    )
