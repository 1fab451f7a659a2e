"""Causes of a model that does not learn: no update, a broken data pipeline, underfitting, vanishing gradients."""

from __future__ import annotations

import math

from ...findings import Evidence, Hypothesis
from ...run import fmt_num
from .. import confidence as conf
from .base import Context, make, rule


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


def held_out_at_chance(ctx: Context) -> tuple[Evidence, int] | None:
    """The held-out loss never improved on its first evaluation and sits at ln(k): nothing
    generalizable was learned (a level that merely equals ln(k) after improving is not chance)."""
    from ...checks.chance import match_chance
    from ...checks.evidence import point
    from ...checks.generalization.common import held_out

    v = held_out(ctx.run)
    if v is None or len(v) < 3:
        return None
    i = int(v.values.argmin())
    best = float(v.values[i])
    first = float(v.values[0])
    if first <= 0 or (first - best) / first > 0.03:
        return None  # the held-out loss did improve: it learned something
    m = match_chance(best, ctx.run, tolerance=0.02)
    if m is None or best < math.log(m[0]) * 0.99:
        return None
    ev = point(v, i, "best held-out loss")
    return Evidence(f"{ev.text}: never below ln({m[0]}) = {math.log(m[0]):.4f}, the loss of a uniform guess ({m[1]})", ev.source, ev.step), m[0]


def held_out_near_zero(ctx: Context, level: float = 0.05) -> Evidence | None:
    from ...checks.evidence import point
    from ...checks.generalization.common import held_out

    v = held_out(ctx.run)
    if v is None or not len(v):
        return None
    if float(v.values[-1]) > level:
        return None
    return point(v, len(v) - 1, "held-out loss")


@rule("data_pipeline_bug")
def data_pipeline_bug(ctx: Context) -> Hypothesis | None:
    p = ctx.sym("loss_plateau")
    chance = held_out_at_chance(ctx)
    gen = [sid for sid in ("val_loss_rising", "train_val_gap") if ctx.sym(sid) is not None]
    if chance is not None and gen:
        ev, k = chance
        t = ctx.run.get("loss/train")
        extra = []
        if t is not None and len(t.finite_part()):
            from ...checks.evidence import span

            tf = t.finite_part()
            extra.append(span(tf, 0, len(tf) - 1, "training loss"))
        return make(
            ctx,
            "data_pipeline_bug",
            tier=conf.DIRECT,
            explains=gen + (["loss_plateau"] if p is not None else []),
            evidence=[ev] + extra,
            basis=f"the training loss falls while the held-out loss never gets below chance (ln {k}): the model memorizes training pairs that carry no signal, the picture of labels shuffled apart from their inputs",
            fix="Check that inputs and labels are shuffled together (one permutation applied to both, or shuffle the dataset, not the arrays), and print a few decoded (input, label) pairs at the model's input.",
            expected_impact="The held-out loss falls below chance from the first epoch.",
            verify=f"The held-out loss drops below ln({k}) = {math.log(k):.3f} within the first epoch.",
        )
    z = ctx.sym("loss_at_zero")
    d = ctx.sym("degenerate_outputs")
    near = held_out_near_zero(ctx)
    if z is not None and near is not None and ctx.sym("nan_inf") is None:
        return make(
            ctx,
            "data_pipeline_bug",
            tier=conf.DIRECT if d is not None else conf.CIRCUMSTANTIAL,
            explains=["loss_at_zero"] + (["degenerate_outputs"] if d is not None else []),
            evidence=list(z.evidence[:2]) + [near] + (d.evidence[:1] if d is not None else []),
            basis="the held-out loss is near zero as well as the training loss, which no real task allows; "
            + ("and the samples are degenerate: " if d is not None else "")
            + "the targets are leaking into the inputs (targets not shifted, the label among the features)",
            fix="Check how targets are built from inputs (for a language model, targets are the inputs shifted by one position); look for the label among the features.",
            expected_impact="The loss settles at a realistic level and the samples look like the data.",
            verify="A batch's targets differ from its inputs; the training loss no longer reaches ~0 within a few hundred steps.",
        )
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
        from ...checks.evidence import at

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
