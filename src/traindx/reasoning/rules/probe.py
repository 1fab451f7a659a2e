"""What only the live probe sees, added to the rules of the causes it settles.

The probe's findings are the causes' own signals, so they make direct
evidence: the module and operation that produced the first NaN
(``numerical_instability``, or ``data_pipeline_bug`` when the batch itself
held it), gradients carried across optimizer steps (``missing_zero_grad``),
parameters that the optimizer step leaves unchanged or that never receive a
gradient (``no_parameter_update``), training in eval mode
(``eval_mode_bug``). Ranks whose weights drift apart (``rank_drift``) are a
symptom without a cause in the catalog yet: the diagnosis lists it as unexplained.

Each function wraps the rule already registered for its cause (see
``rules/model.py``): the existing rule runs first; the probe's evidence
upgrades its hypothesis or, when the curves say nothing, makes one. This module
is imported last (``rules/__init__.py``).
"""

from __future__ import annotations

from dataclasses import replace

from ...findings import Hypothesis, Symptom
from ...run import fmt_step
from .. import confidence as conf
from .base import Context, make
from .model import _extend, _stalls

# fixes for the operations that most often produce the first NaN or inf
OP_FIXES: dict[str, str] = {
    "log": "clamp its input to a small positive minimum (x.clamp_min(1e-8)), or compute from logits with log_softmax / F.cross_entropy instead of log(softmax)",
    "sqrt": "add an eps inside the square root (torch.sqrt(x + 1e-12)): its derivative is infinite at 0, as for the norm of a zero vector",
    "rsqrt": "add an eps inside the reciprocal square root (as LayerNorm does)",
    "div": "add an eps to the denominator, or mask the zero entries before dividing",
    "reciprocal": "add an eps before taking the reciprocal",
    "pow": "keep the base positive (clamp) before a fractional power",
    "exp": "subtract the maximum before exponentiating (or use logsumexp/softmax), and compute it in fp32",
    "softmax": "compute the softmax in fp32 and mask with a large negative number rather than -inf for rows that may be fully masked",
    "acos": "clamp the input to [-1 + eps, 1 - eps]",
    "asin": "clamp the input to [-1 + eps, 1 - eps]",
    "atanh": "clamp the input to (-1 + eps, 1 - eps)",
}


def _op_key(op: str) -> str:
    name = op.rsplit(".", 1)[-1].strip("_").lower()
    for k in OP_FIXES:
        if name == k or name.startswith(k + "_") or name.endswith("_" + k):
            return k
    return name


def _where(o: Symptom) -> str:
    d = o.data
    mod = d.get("module") or ""
    mtype = d.get("module_type") or ""
    return f"module '{mod}' ({mtype})" if mod else f"the model's own forward code ({mtype})" if mtype else "the model"


def _traced_fix(o: Symptom, onset: str) -> str:
    d = o.data
    op = str(d.get("op") or "")
    phase = d.get("phase")
    batch = d.get("batch_file")
    replay = f" Replay the saved batch ({batch}) to check the fix." if batch else ""
    if phase == "outside":
        return (
            "Guard the loss computation outside the model: compute it from logits (F.cross_entropy, BCEWithLogits) rather than log of probabilities, "
            f"add eps to divisions and square roots in it, and restart from before step {onset}.{replay}"
        )
    if phase == "weights":
        return (
            f"The weights were already non-finite at step {onset} although the gradients before were finite: the optimizer update produced them. "
            "Check the optimizer's eps (not 0), the learning rate and weight decay, and restart from a checkpoint before it."
        )
    how = OP_FIXES.get(_op_key(op), "guard it: add an eps, clamp its input to its valid range, or compute it in fp32")
    what = f"{op} in {_where(o)}" if op else _where(o)
    side = "backward of " if phase == "backward" else ""
    return f"Guard the {side}{what}: {how}; then restart from before step {onset}.{replay}"


@_extend("numerical_instability")
def numerical_instability_traced(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    o = ctx.sym("nan_origin")
    if o is None:
        return h
    phase = o.data.get("phase")
    if phase == "input":
        return h  # the batch held it: a data problem (data_pipeline_bug below)
    n = ctx.sym("nan_inf")
    if phase == "not_reproduced":
        if h is None:
            return None
        return replace(h, evidence=h.evidence + o.evidence[:1], basis=f"{h.basis}; the probe found the step but a replay of the batch was finite")
    if n is not None and h is None:
        return None  # the NaN has a precursor (a divergence, a grad-norm jump, overflows): the causes of that explain it
    onset = fmt_step(o.step if o.step is not None else (n.step if n is not None else 0))
    if phase == "forward":
        basis = f"the probe replayed the batch of step {onset}: {o.data.get('op') or 'an operation'} in {_where(o)} turned finite inputs into non-finite values in the forward pass"
    elif phase == "backward":
        basis = f"the probe replayed the batch of step {onset}: the backward of {o.data.get('op') or 'an operation'} in {_where(o)} ({o.data.get('node') or 'an autograd node'}) turned finite gradients into non-finite ones"
    elif phase == "outside":
        basis = f"the probe replayed the batch of step {onset}: the model's forward is finite but the gradient arriving at its output is not: the loss computed outside the model produced it"
    else:
        basis = f"the probe found the weights non-finite at step {onset} after an update with finite gradients: the optimizer step produced them"
    explains = ["nan_origin"] + (["nan_inf"] if n is not None else []) + (["loss_at_zero"] if ctx.sym("loss_at_zero") else [])
    ev = list(o.evidence[:2]) + (n.evidence[:1] if n is not None else [])
    return make(
        ctx,
        "numerical_instability",
        tier=conf.DIRECT,
        support=1 if n is not None else 0,
        explains=explains,
        evidence=ev,
        basis=basis,
        values={"onset": onset},
        fix=_traced_fix(o, onset),
    )


@_extend("data_pipeline_bug")
def data_pipeline_bug_nonfinite_batch(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    o = ctx.sym("nan_origin")
    if o is None or o.data.get("phase") != "input":
        return h
    onset = fmt_step(o.step or 0)
    batch = o.data.get("batch_file")
    n = ctx.sym("nan_inf")
    explains = ["nan_origin"] + (["nan_inf"] if n is not None else [])
    if h is not None:
        return replace(h, explains=h.explains + [x for x in explains if x not in h.explains], evidence=h.evidence + o.evidence[:1])
    return make(
        ctx,
        "data_pipeline_bug",
        tier=conf.DIRECT,
        explains=explains,
        evidence=list(o.evidence[:2]) + (n.evidence[:1] if n is not None else []),
        basis=f"the batch of step {onset} held non-finite values before the model ran",
        issue="The data pipeline delivers non-finite values",
        fix=f"Find the examples with NaN or inf in the saved batch ({batch or 'the batch of step ' + onset}) and in the dataset (torch.isfinite(x).all() per example), fix or drop them at loading, and restart from before step {onset}.",
        expected_impact=f"The run passes step {onset} with finite values.",
        verify="A pass over the dataset finds no non-finite values; the loss stays finite.",
        if_not="If the data is finite, normalization or augmentation in the pipeline (division by a zero standard deviation) produces the values: check the transforms.",
    )


@_extend("missing_zero_grad")
def missing_zero_grad_seen(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    g = ctx.sym("grad_not_cleared")
    if g is None:
        return h
    curves = [s for s in (ctx.sym(sid) for sid in ("gradient_explosion", "loss_oscillation", "loss_divergence")) if s is not None]
    basis = f"the probe saw {g.data.get('param')}.grad carry the previous step's gradient into step {fmt_step(g.step or 0)}: gradients are not cleared between optimizer steps"
    if h is not None:
        return replace(
            h,
            confidence=max(h.confidence, conf.score(conf.DIRECT, support=1)),
            explains=h.explains + (["grad_not_cleared"] if "grad_not_cleared" not in h.explains else []),
            evidence=list(g.evidence[:1]) + h.evidence,
            basis=f"{conf.DIRECT}: {basis}; {h.basis.split(': ', 1)[-1]}",
            confirm="",
        )
    return make(
        ctx,
        "missing_zero_grad",
        tier=conf.DIRECT,
        support=1 if curves else 0,
        explains=["grad_not_cleared"] + [s.id for s in curves],
        evidence=list(g.evidence[:1]) + [s.evidence[0] for s in curves if s.evidence],
        basis=basis,
    )


@_extend("no_parameter_update")
def no_parameter_update_seen(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    p = ctx.sym("params_not_updated")
    f = ctx.sym("frozen_params")
    if p is None and f is None:
        return h
    stalls = _stalls(ctx)
    if p is not None:
        reasons = sorted(set((p.data.get("reasons") or {}).values()))
        basis = f"the probe saw {p.data.get('count')} parameter tensors with non-zero gradients stay exactly unchanged across optimizer steps ({'; '.join(reasons) or 'unchanged'})"
        explains = ["params_not_updated"] + (["frozen_params"] if f is not None else []) + [s.id for s in stalls]
        ev = list(p.evidence[:1]) + (f.evidence[:1] if f is not None else []) + [s.evidence[0] for s in stalls if s.evidence]
        if h is not None:
            explains = h.explains + [x for x in explains if x not in h.explains]
            ev = ev + h.evidence
        return make(ctx, "no_parameter_update", tier=conf.DIRECT, support=1 if stalls else 0, explains=explains, evidence=ev, basis=basis)
    assert f is not None
    if h is not None:
        return replace(h, explains=h.explains + ["frozen_params"], evidence=h.evidence + f.evidence[:1])
    d = f.data
    n_disc = len(d.get("disconnected") or [])
    n_frozen = len(d.get("frozen_in_optimizer") or [])
    what = []
    if n_disc:
        what.append(f"{n_disc} parameter tensors never receive a gradient (disconnected from the loss)")
    if n_frozen:
        what.append(f"{n_frozen} are frozen (requires_grad=False) yet given to the optimizer")
    return make(
        ctx,
        "no_parameter_update",
        tier=conf.CIRCUMSTANTIAL,
        support=1 if stalls else 0,
        explains=["frozen_params"] + [s.id for s in stalls],
        evidence=list(f.evidence[:1]) + [s.evidence[0] for s in stalls if s.evidence],
        basis="the probe saw " + " and ".join(what) + f" over {d.get('checks')} checks",
        issue="Part of the model never learns: some parameters never receive a gradient",
        fix="Call every layer you train in forward() (or delete it), remove .detach()/no_grad() on its path, and unfreeze layers meant to train; keep frozen layers out of the optimizer.",
        confirm="the parameter list of the event: confirmed if those layers are meant to train",
    )


@_extend("eval_mode_bug")
def eval_mode_bug_seen(ctx: Context, h: Hypothesis | None) -> Hypothesis | None:
    e = ctx.sym("eval_mode_in_training")
    if e is None:
        return h
    whole = e.data.get("scope") == "model"
    basis = (
        f"the probe saw the model in eval mode during training steps (from step {fmt_step(e.step or 0)})"
        if whole
        else f"the probe saw {len(e.data.get('modules') or [])} dropout or normalization layers in eval mode while the model trained"
    )
    gap = ctx.sym("train_val_gap")
    explains = ["eval_mode_in_training"] + (["train_val_gap"] if whole and gap is not None else [])
    if h is not None:
        explains = h.explains + [x for x in explains if x not in h.explains]
    return make(
        ctx,
        "eval_mode_bug",
        tier=conf.DIRECT if whole else conf.CIRCUMSTANTIAL,
        support=1 if h is not None else 0,
        explains=explains,
        evidence=list(e.evidence[:1]) + (h.evidence if h is not None else []),
        basis=basis + (f"; {h.basis.split(': ', 1)[-1]}" if h is not None else ""),
        fix="Call model.train() at the start of every training epoch (or at the end of the evaluation function); freeze batch norm on purpose only by setting requires_grad=False and eval() in a train() override.",
    )
