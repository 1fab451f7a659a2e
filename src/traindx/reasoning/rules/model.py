"""Causes seen in the model and the training code: architecture imbalance, poor initialization,
a mis-ordered optimizer loop, evaluation in the wrong mode, a loss that does not fit the output;
and the model and code facts added to the curve-based rules of other causes.

The rules of other families (overfitting, missing_zero_grad, memory_leak,
data_leakage, lr_too_high, lr_too_low, underfitting, exploding_gradients) read
the training curves. :func:`_extend` wraps such a rule: the wrapped rule runs
first, and the function here adds the model or code evidence to its
hypothesis, or, when the curves say nothing, proposes the cause from that
evidence alone. This module is imported after the others (``rules/__init__.py``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ...findings import Evidence, Hypothesis, Symptom
from .. import confidence as conf
from .base import RULES, Context, make, rule

Extension = Callable[[Context, "Hypothesis | None"], "Hypothesis | None"]
LEARNING_STALLS = ("loss_plateau", "slow_convergence")


def _extend(cause: str) -> Callable[[Extension], Extension]:
    """Register ``f(ctx, hypothesis_of_the_existing_rule)`` in place of the existing rule for ``cause``."""
    base = RULES[cause]

    def deco(f: Extension) -> Extension:
        def combined(ctx: Context) -> Hypothesis | None:
            return f(ctx, base(ctx))

        combined.__name__ = f"{base.__name__}+{f.__name__}"
        RULES[cause] = combined
        return f

    return deco


def _support(h: Hypothesis, sym: Symptom, ev: list[Evidence], note: str) -> Hypothesis:
    """``h`` with one more supporting fact: the symptom explained, its evidence, a small confidence step within the tier."""
    lo, hi = conf.TIERS[conf.tier_of(h.confidence)]
    return replace(
        h,
        confidence=round(min(hi, h.confidence + conf.SUPPORT_STEP), 2),
        explains=h.explains + ([sym.id] if sym.id not in h.explains else []),
        evidence=h.evidence + ev,
        basis=f"{h.basis}; {note}",
    )


def _stalls(ctx: Context) -> list[Symptom]:
    return [s for s in (ctx.sym(sid) for sid in LEARNING_STALLS) if s is not None and not ctx.after_divergence(s)]


# -- the model ---------------------------------------------------------------------------------


@rule("architecture_imbalance")
def architecture_imbalance(ctx: Context) -> Hypothesis | None:
    p = ctx.sym("param_imbalance")
    if p is None:
        return None
    d = p.data
    out = ctx.sym("degenerate_outputs")
    stalls = _stalls(ctx)
    explains = ["param_imbalance"] + (["degenerate_outputs"] if out is not None else []) + [s.id for s in stalls]
    ev = list(p.evidence) + (out.evidence[:1] if out is not None else []) + [s.evidence[0] for s in stalls if s.evidence]
    direct = out is not None or bool(stalls)
    basis = f"the embeddings hold {d['embedding_share']:.0%} of the parameters of a {'generative ' if d.get('generative') else ''}model"
    if out is not None:
        basis += "; the outputs are degenerate, as a model left with too little capacity beyond token frequencies produces"
    elif stalls:
        basis += "; the loss stalls, as a body too small for the task makes it"
    if not direct:
        ctx.request(
            "generated samples or the training curve",
            "an embedding-heavy model shows its imbalance as degenerate outputs or a loss that stalls early",
            "keep a few generations per evaluation (samples.txt) and the training log next to the checkpoint",
        )
    return make(
        ctx,
        "architecture_imbalance",
        tier=conf.DIRECT if direct else conf.CIRCUMSTANTIAL,
        support=(1 if d["embedding_share"] >= 0.75 else 0) + (1 if out is not None and stalls else 0),
        explains=explains,
        evidence=ev,
        basis=basis,
        confirm="" if direct else "samples or a loss curve: confirmed if outputs collapse onto frequent tokens or the loss stalls near the unigram entropy",
    )


@rule("poor_initialization")
def poor_initialization(ctx: Context) -> Hypothesis | None:
    w = ctx.sym("degenerate_weights")
    if w is None or not w.data.get("symmetric") and "zero" not in w.data.get("kinds", []):
        return None
    stalls = _stalls(ctx)
    explains = ["degenerate_weights"] + [s.id for s in stalls]
    kinds = w.data.get("kinds", [])
    what = "identical rows" if "duplicate_rows" in kinds else ("constant values" if "constant" in kinds else "all-zero weights")
    return make(
        ctx,
        "poor_initialization",
        tier=conf.DIRECT,
        support=1 if stalls else 0,
        explains=explains,
        evidence=list(w.evidence) + [s.evidence[0] for s in stalls if s.evidence],
        basis=f"weight matrices hold {what}: units that start equal receive equal gradients and never differentiate"
        + ("; the loss does not improve" if stalls else ""),
    )


@_extend("overfitting")
def overfitting_with_spectra(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    o = ctx.sym("overtrained_layers")
    under = ctx.sym("undertrained_layers")
    if h is not None:
        if o is not None:
            return _support(h, o, o.evidence[:1], f"{o.data['share']:.0%} of the layers have a heavy-tailed weight spectrum (alpha < 2)")
        if under is not None:
            return replace(h, contradicts=h.contradicts + under.evidence[:1])
        return h
    if o is None:
        return None
    ctx.request(
        "a held-out loss curve",
        "a heavy-tailed weight spectrum hints at over-training; a held-out loss that turns up confirms it",
        "log the validation loss at every evaluation next to the checkpoint",
    )
    return make(
        ctx,
        "overfitting",
        tier=conf.HYPOTHESIS,
        support=1 if o.data["share"] >= 0.5 else 0,
        explains=["overtrained_layers"],
        evidence=list(o.evidence),
        basis=f"{o.data['share']:.0%} of the layers have a weight-spectrum exponent below 2, which WeightWatcher associates with over-training; no held-out curve confirms it",
        values={"best_step": "an earlier checkpoint", "metric": "a held-out metric", "best_value": "its best value", "compute_share": "a fraction"},
        confirm="a held-out loss: confirmed if it turned up while the training loss kept falling",
    )


# -- the training code ---------------------------------------------------------------------------


@_extend("missing_zero_grad")
def missing_zero_grad_in_code(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    c = ctx.sym("code_no_zero_grad")
    if c is None:
        return h
    if h is not None:
        return replace(h, explains=h.explains + ["code_no_zero_grad"]) if "code_no_zero_grad" not in h.explains else h
    curves = [s for s in (ctx.sym(sid) for sid in ("loss_oscillation", "loss_divergence", "gradient_explosion")) if s is not None]
    return make(
        ctx,
        "missing_zero_grad",
        tier=conf.CIRCUMSTANTIAL,
        support=1 if curves else 0,
        explains=["code_no_zero_grad"] + [s.id for s in curves],
        evidence=list(c.evidence) + [s.evidence[0] for s in curves if s.evidence],
        basis="the training loop runs backward and step but never clears the gradients (read from the code, not yet seen in a logged gradient norm)",
        confirm="log the gradient norm every step: confirmed if it grows steadily from the first steps",
    )


@rule("optimizer_call_order")
def optimizer_call_order(ctx: Context) -> Hypothesis | None:
    found = [s for s in (ctx.sym("code_zero_grad_after_backward"), ctx.sym("code_step_before_backward")) if s is not None]
    if not found:
        return None
    stalls = _stalls(ctx)
    return make(
        ctx,
        "optimizer_call_order",
        tier=conf.DIRECT if stalls else conf.CIRCUMSTANTIAL,
        support=len(found) - 1,
        explains=[s.id for s in found] + [s.id for s in stalls],
        evidence=[e for s in found for e in s.evidence[:2]] + [s.evidence[0] for s in stalls if s.evidence],
        basis="the code clears the gradients between the backward pass and the step that should use them"
        + ("; the loss does not improve, as steps without gradients leave it" if stalls else ""),
        confirm="" if stalls else "the training loss: confirmed if it stays at its initial value",
    )


@rule("eval_mode_bug")
def eval_mode_bug(ctx: Context) -> Hypothesis | None:
    found = [s for s in (ctx.sym(sid) for sid in ("code_train_mode_not_restored", "code_eval_mode_missing", "code_eval_without_no_grad")) if s is not None]
    if not found:
        return None
    main = [s for s in found if s.id != "code_eval_without_no_grad"]
    explains = [s.id for s in found]
    gap = ctx.sym("train_val_gap")
    if main and gap is not None and main[0].id == "code_train_mode_not_restored":
        explains.append("train_val_gap")
    return make(
        ctx,
        "eval_mode_bug",
        tier=conf.CIRCUMSTANTIAL if main else conf.HYPOTHESIS,
        support=len(main),
        explains=explains,
        evidence=[e for s in found for e in s.evidence[:1]],
        basis="; ".join(s.summary for s in found[:2]),
        confirm="compare the validation loss with model.eval() and torch.no_grad() set explicitly",
    )


@rule("loss_output_mismatch")
def loss_output_mismatch(ctx: Context) -> Hypothesis | None:
    found = [s for s in (ctx.sym(sid) for sid in ("code_wrong_loss", "code_softmax_before_ce", "code_sigmoid_before_bce")) if s is not None and s.severity != "low"]
    if not found:
        return None
    stalls = _stalls(ctx)
    return make(
        ctx,
        "loss_output_mismatch",
        tier=conf.DIRECT if stalls else conf.CIRCUMSTANTIAL,
        support=1 if found[0].id == "code_wrong_loss" else 0,
        explains=[s.id for s in found] + [s.id for s in stalls],
        evidence=[e for s in found for e in s.evidence[:1]] + [s.evidence[0] for s in stalls if s.evidence],
        basis="; ".join(s.summary for s in found[:2]) + ("; the loss stalls, as such a loss makes it" if stalls else ""),
        confirm="" if stalls else "the training loss: confirmed if it falls slowly or not at all",
    )


@_extend("memory_leak")
def memory_leak_in_code(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    c = ctx.sym("code_tensor_accumulation")
    if c is None:
        return h
    if h is not None:
        return replace(h, explains=h.explains + ["code_tensor_accumulation"]) if "code_tensor_accumulation" not in h.explains else h
    oom = ctx.sym("oom_error")
    return make(
        ctx,
        "memory_leak",
        tier=conf.CIRCUMSTANTIAL if oom is not None else conf.HYPOTHESIS,
        support=1 if oom is not None else 0,
        explains=["code_tensor_accumulation"] + (["oom_error"] if oom is not None else []),
        evidence=list(c.evidence) + (oom.evidence[:1] if oom is not None else []),
        basis="the code keeps loss tensors with their graphs across steps" + ("; the run ran out of memory" if oom is not None else ""),
        confirm="log memory/allocated every N steps: confirmed if it grows linearly with the steps",
    )


@_extend("data_leakage")
def data_leakage_in_code(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    found = [s for s in (ctx.sym(sid) for sid in ("code_eval_on_train_data", "code_fit_before_split", "code_test_used_for_selection")) if s is not None]
    if not found:
        return h
    if h is not None:
        out = h
        for s in found:
            out = _support(out, s, s.evidence[:1], s.summary)
        return out
    suspicious = ctx.sym("suspicious_eval")
    return make(
        ctx,
        "data_leakage",
        tier=conf.CIRCUMSTANTIAL,
        support=len(found) - 1,
        explains=[s.id for s in found] + (["suspicious_eval"] if suspicious is not None else []),
        evidence=[e for s in found for e in s.evidence[:1]],
        basis="; ".join(s.summary for s in found[:2]),
        fix="Evaluate on the held-out split, fit preprocessing on the training split only, and keep the test set for the final evaluation.",
        confirm="the validation curve: a leak shows as a held-out loss that tracks the training loss or beats it",
    )


@_extend("exploding_gradients")
def exploding_gradients_unclipped(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    c = ctx.sym("code_no_grad_clip")
    if h is None or c is None:
        return h
    return _support(h, c, c.evidence[:1], "the training code never clips gradients")


def _lr_from_code(cause: str, side: str) -> Extension:
    def ext(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
        c = ctx.sym("code_lr_out_of_range")
        if c is None:
            return h
        hits = [e for e in c.evidence if f", {side} the range" in e.text]
        if not hits:
            return h
        if h is not None:
            return _support(h, c, hits[:1], "the code sets a learning rate " + side + " the usual range for its optimizer")
        return make(
            ctx,
            cause,
            tier=conf.HYPOTHESIS,
            explains=["code_lr_out_of_range"],
            evidence=hits[:2],
            basis="the code sets a learning rate " + side + " the range its optimizer family is used with; no training curve shows its effect yet",
            fix="Set the learning rate inside the usual range for the optimizer (Adam family: 1e-4 to 3e-4 to train, 1e-5 to 5e-5 to fine-tune; SGD with momentum: 0.01 to 0.1).",
            expected_impact="The loss falls steadily from the first few hundred steps" + (" without climbing or turning NaN." if side == "above" else "."),
            verify="A 200-step run at the new LR: the training loss falls more than 5% and stays finite.",
            confirm="the training loss: " + ("confirmed if it climbs or goes NaN early" if side == "above" else "confirmed if it barely moves"),
        )

    ext.__name__ = f"{cause}_from_code"
    return ext


_extend("lr_too_high")(_lr_from_code("lr_too_high", "above"))
_extend("lr_too_low")(_lr_from_code("lr_too_low", "below"))


@_extend("underfitting")
def underfitting_with_dropout(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    c = ctx.sym("code_dropout_too_high")
    if c is None:
        return h
    if h is not None:
        return _support(h, c, c.evidence[:1], "the code drops more than half of the units")
    return make(
        ctx,
        "underfitting",
        tier=conf.HYPOTHESIS,
        explains=["code_dropout_too_high"],
        evidence=list(c.evidence),
        basis="the code drops more than half of the units (dropout above 0.5): the model may not fit its training data",
        fix="Lower the dropout probability to 0.1-0.3 and check that the training loss then falls further.",
        confirm="the training loss: confirmed if it stays high while the held-out loss tracks it",
    )
