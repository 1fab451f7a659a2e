"""Learning-rate causes: too high, too low, and a schedule that drives the run unstable.

A divergence whose onset coincides with a switch of a logged schedule series (sequence
length, batch size, curriculum stage, mixture weight: ``Facts.schedule_switch``) is read as an
LR too high for the new stage, and one that coincides with a jump of the logged LR
(``Facts.lr_step_up``) as a schedule problem; either switch is cited with its lines.
"""

from __future__ import annotations

import math

from ...findings import Evidence, Hypothesis, severity_rank
from ...run import fmt_num, fmt_step
from .. import confidence as conf
from ..facts import StepChange
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
    info["switch"] = f.schedule_switch(d)
    info["lr_jump"] = f.lr_step_up(d)
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


def _ratio(a: float, b: float) -> str:
    return f"{b / a:.1f}x" if a > 0 else "up from 0"


def ramp_steps(ctx: Context, sw: StepChange) -> int:
    """How many steps (or epochs) to spread a switch over: a tenth of the run, two significant
    digits, at least one logging interval of the switched series (a starting point to tune)."""
    s = sw.series
    span = float(s.steps[-1] - s.steps[0])
    loss = ctx.run.get("loss/train")
    if loss is not None and loss.step_unit == s.step_unit and len(loss) > 1:
        span = max(span, float(loss.steps[-1] - loss.steps[0]))
    n = span / 10
    if n <= 0:
        return 1
    e = max(0, math.floor(math.log10(n)) - 1)
    n = round(n / 10**e) * 10**e
    gap = float(s.steps[sw.index] - s.steps[sw.index - 1])
    return int(max(n, gap, 1))


def switch_story(ctx: Context, info: dict, sw: StepChange, lr: float | None) -> dict:
    """Basis, issue, fix, impact, verify and next step for a divergence that starts at schedule switch ``sw``."""
    f = ctx.facts
    key = f.schedule_key(sw)
    word = "epoch" if sw.series.step_unit == "epoch" else "step"
    at_s = f"{word} {fmt_step(sw.step)}"
    a, b = fmt_num(sw.before), fmt_num(sw.after)
    ramp = ramp_steps(ctx, sw)
    if lr is not None:
        if sw.series.name == "batch_size" and 0 < sw.after < sw.before:
            # a smaller batch takes a proportionally smaller LR (linear scaling rule, Goyal et al. 2017)
            new_lr, why = round_down(lr * sw.after / sw.before), f", the LR scaled with the batch ({b}/{a}, linear scaling rule)"
        else:
            new_lr, why = round_down(lr / 3), ""
        lower = f"lower {f.lr_key} from {lr_text(lr)} to {lr_text(new_lr)} at the switch{why}"
    else:
        lower = "lower the learning rate to a third of its value at the switch"
    return {
        "basis": f"the onset coincides with {sw.name} switching {a} -> {b} at {at_s} ({sw.series.where(sw.index)}): an LR that suited the earlier stage is too high for the new one",
        "issue": f"Learning rate too high for the {sw.name} switch at {at_s} ({a} -> {b}): the loss turns up at {info['unit']} {fmt_step(info['onset'])}",
        "fix": (
            (
                f"Blend the {key} {b} data in over {ramp} {word}{'s' if ramp != 1 else ''} (mixed with {key} {a}) instead of switching at {at_s}"
                if sw.series.name == "curriculum_stage"
                else f"Ramp {key} from {a} to {b} over {ramp} {word}{'s' if ramp != 1 else ''} instead of switching at {at_s}"
            )
            + f", or {lower}; restart from the last checkpoint before {at_s}."
        ),
        "expected_impact": f"The loss keeps falling through the {sw.name} change instead of climbing from {info['unit']} {fmt_step(info['onset'])}.",
        "verify": (
            f"Rerun from a checkpoint before {at_s}: the training loss should stay at or below {fmt_num(info['d'].data['best_value'])} "
            f"once {sw.name} reaches {b} (a short bump while it grows is expected), with {sw.name} and the LR logged every step."
        ),
        "if_not": (
            f"If the loss still climbs once {sw.name} reaches {b} at the lower LR, look at the new stage itself: its data "
            f"(lengths, padding, masks, position range) and whether the model supports {sw.name} = {b}; add gradient clipping (max_norm=1.0)."
        ),
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


def scheduler_order_warning(ctx: Context) -> Evidence | None:
    """PyTorch's "Detected call of `lr_scheduler.step()` before `optimizer.step()`" warning, quoted."""
    w = ctx.sym("log_warning")
    kinds = list(w.data.get("kinds", {})) if w is not None else []
    if w is None or "scheduler_before_optimizer" not in kinds:
        return None
    i = kinds.index("scheduler_before_optimizer")  # TDX902 quotes its kinds in this order, one evidence line each
    return w.evidence[i] if i < len(w.evidence) else None


def _amp_in_use(ctx: Context) -> bool:
    """An AMP GradScaler may skip the first optimizer step, which raises the same warning harmlessly."""
    f = ctx.facts
    if f.fp16() is not None or f.loss_scale is not None or f.overflow_events_before(None):
        return True
    return any("GradScaler" in e.text for e in ctx.run.events)


def scheduler_order(ctx: Context) -> Hypothesis | None:
    """The schedule runs one step early: a low-confidence lr_schedule from PyTorch's own warning."""
    ev = scheduler_order_warning(ctx)
    if ev is None or _amp_in_use(ctx):
        return None
    if not any(severity_rank(s.severity) >= severity_rank("medium") for s in ctx.symptoms):
        return None  # a run with nothing wrong but the warning stays healthy; the warning itself says what to change
    return make(
        ctx,
        "lr_schedule",
        tier=conf.HYPOTHESIS,
        against=1,  # one step of schedule shift rarely harms a run by itself
        explains=["log_warning"],
        evidence=[ev],
        basis="PyTorch warned that lr_scheduler.step() ran before optimizer.step(): the schedule skips its first value and every LR comes one step early, which matters only where the schedule moves fast (a short warmup)",
        issue="LR schedule one step early: lr_scheduler.step() is called before optimizer.step()",
        fix="Call optimizer.step() before lr_scheduler.step() in the training loop (the order PyTorch expects since 1.1).",
        expected_impact="The LR follows its schedule from its first value; the warning disappears.",
        verify="The warning no longer appears, and the LR logged at the first step is the schedule's starting value.",
        if_not="If the warning remains with the calls in that order, an AMP GradScaler is skipping the first optimizer step on an overflow, which is harmless.",
        confirm="read the loop: confirmed if scheduler.step() comes before optimizer.step()",
    )


@rule("lr_schedule")
def lr_schedule(ctx: Context) -> Hypothesis | None:
    info = lr_onset(ctx)
    jump: StepChange | None = info.get("lr_jump") if info is not None else None
    if info is None or not info.get("logged") or not (info.get("rising") or warmup_peak(ctx, info) or jump is not None):
        return scheduler_order(ctx)
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
            f"learning rate {fmt_num(info['lr_onset'])} at {at(lr, info['i_onset'])} ({_ratio(info['lr_best'], info['lr_onset'])} higher) when the loss turned up",
            lr.where(info["i_onset"]),
            float(lr.steps[info["i_onset"]]),
        ),
        d.evidence[1],
    ]
    if jump is not None:
        ev.insert(0, jump.evidence)
    sw: StepChange | None = info.get("switch")
    if sw is not None:
        ev.append(sw.evidence)
    order = scheduler_order_warning(ctx)
    if order is not None:
        ev.append(order)
    support = 1 + (1 if jump is not None else 0)
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
    word = "epoch" if lr.step_unit == "epoch" else "step"
    if jump is not None:
        fix = (
            f"Keep {vals['lr_key']} at {lr_text(jump.before)} past {word} {fmt_step(jump.step)} instead of jumping to {lr_text(jump.after)}, "
            f"the LR at which the loss was still falling; restart from a checkpoint before {word} {fmt_step(jump.step)}."
        )
    elif planned_peak > info["lr_onset"]:
        fix = (
            f"Cap the schedule's peak ({vals['lr_key']}) at {vals['lr_suggested']}, the LR at the loss's best step, instead of {vals['lr_value']}: "
            f"the loss turned up once the LR passed {lr_text(info['lr_onset'])}, and any schedule that still climbs to {vals['lr_value']} crosses that value, "
            f"so a longer warmup alone only delays the divergence. Restart from a checkpoint before step {vals['onset']}."
        )
    if jump is not None:
        how = f"the LR jumped {fmt_num(jump.before)} -> {fmt_num(jump.after)} at {at(lr, jump.index)} ({lr.where(jump.index)}), where the loss turned up"
        issue = (
            f"LR schedule jumps the learning rate {fmt_num(jump.before)} -> {fmt_num(jump.after)} at {at(lr, jump.index)}, "
            f"and the loss turns up at {info['unit']} {fmt_step(info['onset'])}"
        )
    elif info.get("rising"):
        how = "the loss turned up while the schedule was still raising the LR"
        issue = f"LR schedule ramps the learning rate past the stable range: the loss turns up at {info['unit']} {fmt_step(info['onset'])} as the LR climbs to {fmt_num(info['lr_onset'])}"
    else:
        how = f"the loss turned up as the warmup reached its peak {fmt_num(info['peak'])}"
        issue = f"LR schedule warms up to a peak the model cannot take: the loss turns up at {info['unit']} {fmt_step(info['onset'])}, when the LR reached {fmt_num(info['lr_onset'])} (peak {fmt_num(info['peak'])})"
    basis = f"the logged LR rose {_ratio(info['lr_best'], info['lr_onset'])} between the loss's best step and the divergence onset; {how}"
    if sw is not None:
        basis += f"; {sw.text} at the same time"
    return make(
        ctx,
        "lr_schedule",
        tier=conf.DIRECT,
        support=support,
        explains=ctx.explained_by_divergence(),
        evidence=ev,
        basis=basis,
        values=vals,
        fix=fix,
        issue=issue,
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
        # a schedule series switching at the onset: the transition is what the LR could not take;
        # it adds support only when no gradient blow-up at the onset tells a story of its own
        sw: StepChange | None = info.get("switch")
        jumped = grad is not None and grad[0] >= 10
        sw_support = 2 if sw is not None and not jumped else 0
        if sw is not None:
            ev.insert(0, sw.evidence)
        story = switch_story(ctx, info, sw, at_onset.value if at_onset is not None else None) if sw is not None else None

        def told(basis: str) -> dict:
            if story is None:
                return {"basis": basis}
            return {"basis": basis + "; " + story["basis"], **{k: story[k] for k in ("issue", "fix", "expected_impact", "verify", "if_not")}}

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
                support=(1 if grad is not None and grad[0] >= 3 else 0) + sw_support,
                explains=explains,
                evidence=ev,
                values=_divergence_values(ctx, info, None),
                confirm="log the learning rate; the cause is confirmed if the onset lines up with its highest values",
                **told("divergence is the typical picture of a too-high LR, but the run's LR is neither logged nor configured"),
            )
        ev.insert(0, at_onset.evidence)  # the LR first, then the switch when there is one
        lr = at_onset.value
        extreme = f.lr_is_extreme_high(lr)
        if info["logged"]:
            if info.get("rising") or warmup_peak(ctx, info) or info.get("lr_jump") is not None:
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
            support = (2 if extreme else 0) + (2 if grad is not None and 3 <= grad[0] < 10 else 0) + (1 if info["near_peak"] else 0) + sw_support
            # an LR below its peak speaks against the LR, unless a switch made that LR too high
            below_peak = not (info["near_peak"] or extreme or constant) and sw is None
            against = 1 if below_peak else 0
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
                values=_divergence_values(ctx, info, suggested),
                contradicts=[Evidence(f"the LR at the onset was below its peak {fmt_num(info['peak'])}", f.lr.where(info["i_peak"]) if f.lr is not None else "", None)] if below_peak else [],
                **told(basis),
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
            support=(1 if grad is not None and grad[0] >= 3 else 0) + sw_support,
            explains=explains,
            evidence=ev,
            values=_divergence_values(ctx, info, suggested),
            confirm="log the LR per step: confirmed if the onset lines up with its highest values",
            **told(f"the configured LR {fmt_num(lr)} " + ("is far above the usual range for this optimizer" if extreme else "is in a normal range; the LR schedule is not logged")),
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
