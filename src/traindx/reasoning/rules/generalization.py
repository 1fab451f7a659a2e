"""Generalization causes: overfitting, too little data, forgetting, leakage, shifted evaluation data."""

from __future__ import annotations

from ...findings import Evidence, Hypothesis
from ...run import fmt_num, fmt_step
from .. import confidence as conf
from .base import Context, make, rule

HIGHER_BETTER = ("accuracy", "f1", "bleu", "auc", "map", "precision", "recall", "rouge", "exact_match", "reward")


def _task_metric_note(ctx: Context, best_step: float, unit: str) -> tuple[Evidence, str, float] | None:
    """A held-out task metric that kept improving after the validation loss's best step."""
    from ...checks.evidence import at

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
        from .learning import held_out_at_chance

        if held_out_at_chance(ctx) is not None:
            against += 2  # never better than chance on held-out data: nothing generalizable to lose
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
    from .learning import held_out_near_zero

    if z is not None and ctx.sym("nan_inf") is None and held_out_near_zero(ctx) is None:
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


@rule("catastrophic_forgetting")
def catastrophic_forgetting(ctx: Context) -> Hypothesis | None:
    d = ctx.sym("metric_drop")
    if d is None or ctx.after_divergence(d):
        return None
    import re

    names = d.data.get("metrics", [])
    per_task = [n for n in names if re.search(r"task|domain|_[ab]\b|old|prev|first", n, re.I)]
    improving = []
    for name, s in sorted(ctx.run.series.items()):
        if name in names or not re.search(r"task|domain", s.source_name + name, re.I):
            continue
        fin = s.finite_part()
        if len(fin) >= 3 and float(fin.values[-1]) > float(fin.values[0]) and re.search(r"acc|f1|score|match", s.source_name + name, re.I):
            improving.append(fin)
    if not per_task and not improving:
        return None
    ev = list(d.evidence)
    if improving:
        from ...checks.evidence import span

        ev.append(span(improving[0], 0, len(improving[0]) - 1, improving[0].source_name, suffix=" meanwhile"))
    return make(
        ctx,
        "catastrophic_forgetting",
        tier=conf.DIRECT if improving else conf.CIRCUMSTANTIAL,
        explains=["metric_drop"],
        evidence=ev,
        basis=f"{d.metric} fell {d.data['drop'] * 100:.0f}% from its best" + (f" while {improving[0].source_name} improved: the model learns the new task at the cost of the old one" if improving else ""),
    )


@rule("data_leakage")
def data_leakage(ctx: Context) -> Hypothesis | None:
    s = ctx.sym("suspicious_eval")
    if s is None:
        return None
    identical = s.data.get("kind") == "identical"
    return make(
        ctx,
        "data_leakage",
        tier=conf.DIRECT if identical else conf.CIRCUMSTANTIAL,
        explains=["suspicious_eval"],
        evidence=list(s.evidence),
        basis="the validation loss is the training loss at every evaluation: the evaluation runs on training data"
        if identical
        else "validation is better than training by more than 5 points at nearly every evaluation",
        fix="Check which loader the evaluation uses (it must be the held-out split), deduplicate examples across the splits, and fit normalizers/tokenizers on the training split only."
        if identical
        else None,
    )


@rule("distribution_shift")
def distribution_shift(ctx: Context) -> Hypothesis | None:
    g = ctx.sym("train_val_gap")
    if g is None or g.data.get("widened") or g.data.get("gap_first", 0) < 0.5 or ctx.after_divergence(g):
        return None
    return make(
        ctx,
        "distribution_shift",
        tier=conf.HYPOTHESIS,
        explains=["train_val_gap"],
        evidence=list(g.evidence),
        basis=f"the held-out loss is {g.data['gap_first'] * 100:.0f}% above the training loss from the first evaluation and the gap does not widen: the held-out data differs, rather than the model overfitting",
        confirm="compare a few examples and the preprocessing of both splits",
    )


@rule("class_imbalance")
def class_imbalance(ctx: Context) -> Hypothesis | None:
    m = ctx.sym("minority_class_failure")
    if m is None:
        return None
    ratio, small = m.data["imbalance"], m.data["minority"]
    tier = conf.CIRCUMSTANTIAL if (ratio >= 10 and small) else conf.HYPOTHESIS
    return make(
        ctx,
        "class_imbalance",
        tier=tier,
        support=1 if ratio >= 50 else 0,
        explains=["minority_class_failure"],
        evidence=list(m.evidence),
        basis=f"the classes the model fails are {'the rare ones' if small else 'not only the rare ones'}; class counts differ {ratio:.0f}x",
        confirm="the training set's class counts: confirmed if they are as skewed as the evaluation's",
    )
