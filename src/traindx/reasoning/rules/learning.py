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
