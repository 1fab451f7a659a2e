"""Root-cause rules: one function per root-cause id, from symptoms and facts to a hypothesis.

A rule reads the symptoms and the run's facts (the LR it logged or configured,
the gradient norm, precision settings, events), and returns a
:class:`Hypothesis` that names the symptoms it explains, quotes its evidence,
lists what speaks against it, and gets its confidence from the tier of that
evidence (``confidence.py``). A rule that has nothing to say returns None.
"""

from __future__ import annotations

import math
from typing import Callable

from ..findings import Evidence, Hypothesis, Request, Symptom, severity_rank
from ..run import Run, fmt_num, fmt_step
from . import confidence as conf
from .facts import Facts
from .catalog import entry, fill


class Context:
    """What every rule sees: the run, its facts, and the symptoms by id."""

    def __init__(self, run: Run, symptoms: list[Symptom]) -> None:
        self.run = run
        self.facts = Facts(run)
        self.symptoms = symptoms
        self.by_id: dict[str, Symptom] = {}
        for s in symptoms:
            self.by_id.setdefault(s.id, s)
        self.requests: list[Request] = []

    def sym(self, sid: str) -> Symptom | None:
        return self.by_id.get(sid)

    def request(self, need: str, why: str, how: str) -> None:
        self.requests.append(Request(need, why, how))

    # -- shared readings -----------------------------------------------------------
    def divergence(self) -> Symptom | None:
        return self.sym("loss_divergence")

    def after_divergence(self, s: Symptom | None) -> bool:
        """True when symptom ``s`` starts at or after the divergence onset (the divergence explains it)."""
        d = self.divergence()
        if d is None or s is None or s.step is None or d.step is None or s.step_unit != d.step_unit:
            return False
        return s.step >= d.step

    def explained_by_divergence(self) -> list[str]:
        out = ["loss_divergence"]
        for sid in ("nan_inf", "loss_plateau", "train_val_gap", "val_loss_rising", "loss_at_zero", "metric_drop", "loss_spike", "gradient_explosion"):
            if self.after_divergence(self.sym(sid)):
                out.append(sid)
        crash = self.sym("run_crashed")
        if crash is not None and crash.data.get("kinds") == ["run_status"]:
            out.append("run_crashed")  # a tracking system marking the diverged run failed
        return out

    def severity(self, ids: list[str]) -> str:
        best = "info"
        for sid in ids:
            s = self.sym(sid)
            if s is not None and severity_rank(s.severity) > severity_rank(best):
                best = s.severity
        return best


Rule = Callable[[Context], "Hypothesis | None"]
RULES: dict[str, Rule] = {}


def rule(cause: str) -> Callable[[Rule], Rule]:
    def deco(f: Rule) -> Rule:
        RULES[cause] = f
        return f

    return deco


def make(
    ctx: Context,
    cause: str,
    *,
    tier: str,
    support: int = 0,
    against: int = 0,
    explains: list[str],
    evidence: list[Evidence],
    basis: str,
    values: dict | None = None,
    contradicts: list[Evidence] | None = None,
    confirm: str = "",
    fix: str | None = None,
    expected_impact: str | None = None,
    verify: str | None = None,
    if_not: str | None = None,
    issue: str | None = None,
) -> Hypothesis:
    e = entry(cause)
    vals = values or {}
    return Hypothesis(
        id=cause,
        issue=issue or e.title,
        severity=ctx.severity(explains),
        confidence=conf.score(tier, support=support, against=against),
        explains=explains,
        evidence=[x for x in evidence if x is not None],
        basis=f"{tier}: {basis}",
        fix=fix or fill(e.fix, vals),
        expected_impact=expected_impact or fill(e.expected_impact, vals),
        verify=verify or fill(e.verify, vals),
        if_not=if_not or fill(e.if_not, vals),
        contradicts=contradicts or [],
        confirm=confirm,
    )


def round_down(v: float) -> float:
    """Two significant digits, rounded down: 3.77e-3 -> 3.7e-3."""
    if v <= 0 or not math.isfinite(v):
        return v
    e = math.floor(math.log10(v)) - 1
    return math.floor(v / 10**e + 1e-9) * 10**e


def lr_text(v: float) -> str:
    return fmt_num(v, 2) if v >= 1e-3 else f"{v:.0e}"


# -- learning rate ---------------------------------------------------------------------


def _lr_onset(ctx: Context) -> dict | None:
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
        info["near_peak"] = b >= 0.8 * peak[0]
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


@rule("lr_schedule")
def lr_schedule(ctx: Context) -> Hypothesis | None:
    info = _lr_onset(ctx)
    if info is None or not info.get("logged") or not info.get("rising"):
        return None
    f, d = ctx.facts, info["d"]
    lr = f.lr
    assert lr is not None
    from ..checks.evidence import at

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
            "the loss turned up while the schedule was still raising the LR"
        ),
        values=vals,
        fix=fix,
        issue=f"LR schedule ramps the learning rate past the stable range: the loss turns up at {info['unit']} {fmt_step(info['onset'])} as the LR climbs to {fmt_num(info['lr_onset'])}",
    )


@rule("lr_too_high")
def lr_too_high(ctx: Context) -> Hypothesis | None:
    f = ctx.facts
    info = _lr_onset(ctx)
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
            if info.get("rising"):
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
            support = (2 if extreme else 0) + (2 if grad is not None and grad[0] >= 3 else 0) + (1 if info["near_peak"] else 0)
            against = 0 if (info["near_peak"] or extreme) else 1
            tier = conf.DIRECT if (info["near_peak"] or extreme) else conf.CIRCUMSTANTIAL
            suggested = round_down(lr / 10) if extreme else round_down(lr / 3)
            basis = (
                f"the logged LR was {fmt_num(lr)} at the onset"
                + (" (its highest value in the run)" if info["near_peak"] else " (below its peak)")
                + ("; that is far above the usual range for this optimizer" if extreme else "")
            )
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
                contradicts=[] if info["near_peak"] else [Evidence(f"the LR at the onset was below its peak {fmt_num(info['peak'])}", f.lr.where(info["i_peak"]) if f.lr is not None else "", None)],
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
        lr_info = _lr_onset(ctx) if sid == "loss_divergence" else None
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


# -- generalization ------------------------------------------------------------------------

HIGHER_BETTER = ("accuracy", "f1", "bleu", "auc", "map", "precision", "recall", "rouge", "exact_match", "reward")


def _task_metric_note(ctx: Context, best_step: float, unit: str) -> tuple[Evidence, str, float] | None:
    """A held-out task metric that kept improving after the validation loss's best step."""
    from ..checks.evidence import at

    for name in sorted(ctx.run.series):
        if not name.endswith(("/val", "/test")) or name.startswith("loss/"):
            continue
        s = ctx.run.series[name].finite_part()
        if len(s) < 3 or s.step_unit != unit:
            continue
        q = name.split("/")[0]
        higher = q.startswith(HIGHER_BETTER)
        i = int(s.values.argmax() if higher else s.values.argmin())
        if float(s.steps[i]) > best_step:
            return (
                Evidence(
                    f"{s.source_name} best {fmt_num(float(s.values[i]))} at {at(s, i)}, after the validation loss's best",
                    s.where(i),
                    float(s.steps[i]),
                ),
                s.source_name,
                float(s.steps[i]),
            )
    return None


@rule("overfitting")
def overfitting(ctx: Context) -> Hypothesis | None:
    v = ctx.sym("val_loss_rising")
    g = ctx.sym("train_val_gap")
    z = ctx.sym("loss_at_zero")
    if v is not None:
        data = v.data
        tc = data.get("train_change")
        support, against = 0, 0
        if data["evals_after"] >= 3:
            support += 1
        if tc is not None and tc <= -0.05:
            support += 1
        if g is not None and g.data.get("widened"):
            support += 1
        if data["rise"] >= 0.2:
            support += 1
        direct = data["evals_after"] >= 3 and tc is not None and tc <= 0.02
        tier = conf.DIRECT if direct else conf.CIRCUMSTANTIAL
        ev = list(v.evidence)
        if g is not None:
            ev.append(g.evidence[-1])
        explains = ["val_loss_rising"] + (["train_val_gap"] if g is not None else []) + (["loss_at_zero"] if z is not None else [])
        run_end = ctx.run.step_range[1] if ctx.run.step_range else data["best_step"]
        share = data["best_step"] / run_end if run_end else 1.0
        vals = {
            "best_step": fmt_step(data["best_step"]),
            "metric": "the validation loss",
            "best_value": fmt_num(data["best_value"]),
            "compute_share": f"{share * 100:.0f}%",
        }
        fix = None
        impact = None
        note = _task_metric_note(ctx, data["best_step"], v.step_unit)
        if note is not None:
            nev, mname, mstep = note
            ev.append(nev)
            fix = (
                f"Select the checkpoint on {mname}, which kept improving until step {fmt_step(mstep)} after the validation loss turned up; "
                f"stop around step {fmt_step(mstep)} (early stopping on {mname}, patience 1-2 evaluations) and add regularization to train longer."
            )
            impact = f"The same best {mname} at {mstep / run_end * 100:.0f}% of the compute; with regularization the validation loss should flatten instead of rising."
        basis = (
            f"the validation loss rose {data['rise'] * 100:.0f}% over {data['evals_after']} evaluations after its best"
            + (f" while the training loss changed {tc * 100:+.0f}%" if tc is not None else "")
        )
        if not direct:
            ctx.request(
                "more frequent evaluation",
                "with few evaluations after the best one, the rise could still be noise",
                "evaluate at least 5 times over the run (eval_steps / val_check_interval)",
            )
        return make(
            ctx,
            "overfitting",
            tier=tier,
            support=support,
            against=against,
            explains=explains,
            evidence=ev,
            basis=basis,
            values=vals,
            fix=fix,
            expected_impact=impact,
        )
    if g is not None and g.data.get("widened") and g.severity != "low" and not ctx.after_divergence(g):
        return make(
            ctx,
            "overfitting",
            tier=conf.HYPOTHESIS,
            support=1 if g.severity == "high" else 0,
            explains=["train_val_gap"],
            evidence=list(g.evidence),
            basis="the gap between held-out and training loss widened, but the held-out loss has not turned up (yet)",
            fix="Evaluate more often and keep the checkpoint with the best held-out loss; add regularization (dropout, weight decay, augmentation) if the gap keeps widening.",
            expected_impact="The held-out loss stops falling behind the training loss.",
            confirm="more evaluations: confirmed if the held-out loss turns up while the training loss keeps falling",
        )
    if z is not None and ctx.sym("nan_inf") is None:
        epochs = z.data.get("epochs_at_end")
        ctx.request(
            "a held-out evaluation",
            "a training loss of exactly 0 is memorization or a masked loss; a held-out loss tells them apart",
            "evaluate on a held-out split (eval_strategy='steps', or a validation DataLoader) and log its loss",
        )
        return make(
            ctx,
            "overfitting",
            tier=conf.HYPOTHESIS,
            support=2 if epochs is not None and epochs >= 10 else 0,
            explains=["loss_at_zero"],
            evidence=list(z.evidence),
            basis="the training loss reached exactly 0"
            + (f" after {fmt_num(epochs)} epochs over the same data: memorization" if epochs is not None else "")
            + "; without a held-out loss this cannot be confirmed",
            values={"best_step": "an early checkpoint", "metric": "a held-out loss", "best_value": "its minimum", "compute_share": "a fraction"},
            issue="Overfitting: the model memorized its training data (training loss exactly 0)",
            confirm="a held-out loss: confirmed if it is far above 0 and rising",
        )
    return None


@rule("insufficient_data")
def insufficient_data(ctx: Context) -> Hypothesis | None:
    z = ctx.sym("loss_at_zero")
    if z is None or ctx.sym("nan_inf") is not None:
        return None
    epochs = z.data.get("epochs_at_end")
    if epochs is None or epochs < 50:
        return None
    return make(
        ctx,
        "insufficient_data",
        tier=conf.HYPOTHESIS,
        explains=["loss_at_zero"],
        evidence=list(z.evidence[-1:]),
        basis=f"{fmt_num(epochs)} epochs went by in this run: the data set is tiny for the number of steps",
        confirm="the number of training examples",
    )


# -- not learning ----------------------------------------------------------------------------


@rule("no_parameter_update")
def no_parameter_update(ctx: Context) -> Hypothesis | None:
    p = ctx.sym("loss_plateau")
    if p is None or ctx.after_divergence(p):
        return None
    kind = p.data.get("kind")
    if kind == "repeating":
        return make(
            ctx,
            "no_parameter_update",
            tier=conf.DIRECT,
            support=1,
            explains=["loss_plateau"],
            evidence=list(p.evidence),
            basis=f"the loss sequence repeats exactly every {p.data['period']} steps: the same batches give the same losses, so the weights did not change",
        )
    if kind == "constant" and p.data.get("from_start"):
        return make(
            ctx,
            "no_parameter_update",
            tier=conf.CIRCUMSTANTIAL,
            explains=["loss_plateau"],
            evidence=list(p.evidence),
            basis="the loss is identical to the printed precision at every step from the start",
            confirm="check the count of trainable parameters and the LR at step 1",
        )
    return None


@rule("data_pipeline_bug")
def data_pipeline_bug(ctx: Context) -> Hypothesis | None:
    p = ctx.sym("loss_plateau")
    if p is None or ctx.after_divergence(p) or p.data.get("kind") not in ("chance", "constant"):
        return None
    k = p.data.get("chance_k")
    ctx.request(
        "the result of overfitting a single batch",
        "a model that cannot learn one repeated batch has a broken data or model wiring; one that can, has an optimization problem",
        "train 200 steps on one fixed batch and log the loss (it should approach 0)",
    )
    if ctx.facts.grad is None:
        ctx.request(
            "per-layer gradient norms",
            "near-zero gradients in the first layers would point to vanishing gradients or dead units instead of the data",
            "log per-parameter gradient norms every N steps, or attach traindx.watch(model, optimizer)",
        )
    return make(
        ctx,
        "data_pipeline_bug",
        tier=conf.HYPOTHESIS,
        support=1 if p.data.get("from_start") else 0,
        explains=["loss_plateau"],
        evidence=list(p.evidence),
        basis=(
            f"the loss sits at ln({k}): the model predicts the uniform distribution, the picture of labels that carry no signal"
            if k
            else "the loss does not move at all, the picture of inputs or labels that carry no signal"
        ),
        values={"chance_level": fmt_num(math.log(k)) if k else "chance"},
        confirm="overfit one batch, and print decoded (input, label) pairs at the model's input",
    )


@rule("underfitting")
def underfitting(ctx: Context) -> Hypothesis | None:
    p = ctx.sym("loss_plateau")
    if p is None or ctx.after_divergence(p) or p.data.get("kind") != "no_improvement":
        return None
    ev = list(p.evidence)
    basis = f"the training loss improved only {p.data['improvement'] * 100:.1f}% over the logged range"
    if p.data.get("resumed"):
        basis += "; the log starts from a checkpoint, so the model may already be near its floor"
    if ctx.facts.grad is not None:
        g = ctx.facts.grad
        from ..checks.evidence import at

        ev.append(Evidence(f"grad norm between {fmt_num(float(g.values.min()))} and {fmt_num(float(g.values.max()))} over {at(g, 0)}-{at(g, len(g) - 1)}", g.where(len(g) - 1), float(g.steps[-1])))
    ctx.request(
        "a held-out loss and a longer or higher-LR trial",
        "a flat training loss is underfitting, a too-low LR, or a model already at its floor; these separate them",
        "evaluate on held-out data, and run 200 steps at 3x the LR",
    )
    return make(
        ctx,
        "underfitting",
        tier=conf.HYPOTHESIS,
        explains=["loss_plateau"],
        evidence=ev,
        basis=basis,
        confirm="overfit one batch; then try a higher LR or a larger model",
    )


@rule("vanishing_gradients")
def vanishing_gradients(ctx: Context) -> Hypothesis | None:
    p = ctx.sym("loss_plateau")
    g = ctx.facts.grad
    if p is None or g is None or ctx.after_divergence(p) or p.data.get("kind") not in ("chance", "constant", "no_improvement"):
        return None
    med = float(g.values[len(g) // 2 :].mean()) if len(g) else math.nan
    if not (med < 1e-4):
        return None
    from ..checks.evidence import at

    return make(
        ctx,
        "vanishing_gradients",
        tier=conf.CIRCUMSTANTIAL,
        explains=["loss_plateau"],
        evidence=[Evidence(f"grad norm {fmt_num(float(g.values[-1]))} at {at(g, len(g) - 1)} (mean {fmt_num(med)} over the second half)", g.where(len(g) - 1), float(g.steps[-1]))] + p.evidence[:1],
        basis=f"the global gradient norm is tiny ({fmt_num(med)}) while the loss does not move",
        confirm="per-layer gradient norms: confirmed if the first layers' norms are below 1e-3 of the last layers'",
    )


# -- resources ----------------------------------------------------------------------------------


@rule("out_of_memory")
def out_of_memory(ctx: Context) -> Hypothesis | None:
    o = ctx.sym("oom_error")
    if o is None:
        return None
    from ..checks.system.oom import human_bytes

    d = o.data
    fix = None
    bs = None
    for key in ("per_device_train_batch_size", "train_batch_size", "batch_size", "micro_batch_size", "train_micro_batch_size_per_gpu"):
        bs = ctx.run.config_value(key)
        if bs is not None:
            break
    if d.get("fragmented"):
        fix = (
            f"The failed request ({human_bytes(d.get('tried_to_allocate'))}) was smaller than the memory PyTorch held reserved but unused "
            f"({human_bytes(d.get('reserved_unallocated'))}): set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True, and if it still fails, halve the per-device batch size."
        )
    elif bs is not None:
        fix = (
            f"Halve {bs.key} (now {bs.value}, {bs.where}) and double gradient accumulation to keep the global batch; "
            "enable gradient checkpointing and bf16/fp16 if not on yet."
        )
    over = ""
    if d.get("tried_to_allocate") and d.get("free") is not None:
        over = f"; it asked for {human_bytes(d['tried_to_allocate'])} with {human_bytes(d['free'])} free"
    return make(
        ctx,
        "out_of_memory",
        # the message with its sizes is the allocator's own report; a bare "out of memory" may be a side effect
        tier=conf.DIRECT if d.get("tried_to_allocate") else conf.CIRCUMSTANTIAL,
        support=2 if d.get("tried_to_allocate") else 0,
        explains=["oom_error"] + (["run_crashed"] if ctx.sym("run_crashed") is not None and ctx.sym("run_crashed").data.get("last_kind") == "exception" and "OutOfMemory" in str(ctx.sym("run_crashed").data.get("exc_type")) else []),
        evidence=list(o.evidence),
        basis="the out-of-memory error is in the log" + over,
        fix=fix,
    )
