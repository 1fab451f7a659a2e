"""A static lint of training code: parsed with ``ast``, never imported or run.

:func:`lint` takes a file's text and returns what kind of training code it is
and the located findings of every rule (each rule's kind is a code-fact kind
that a check of family ``model`` reports and the reasoning consumes):

- training loop (:mod:`.rules_loop`): ``no_zero_grad``, ``zero_grad_after_backward``,
  ``step_before_backward``, ``tensor_accumulation``;
- evaluation (:mod:`.rules_eval`): ``eval_without_no_grad``, ``eval_mode_missing``,
  ``train_mode_not_restored``, ``eval_on_train_data``, ``test_used_for_selection``;
- loss (:mod:`.rules_loss`): ``softmax_before_ce``, ``log_softmax_before_ce``,
  ``sigmoid_before_bce``, ``wrong_loss_for_output``;
- setup (:mod:`.rules_setup`): ``no_seed``, ``no_deterministic``, ``no_grad_clip``,
  ``dropout_too_high``, ``lr_out_of_range``;
- data (:mod:`.rules_data`): ``fit_before_split``.

Rules hold back when they cannot see: a loop that calls something named like
a step or a clear that this file does not define is not judged, and a
framework that owns the loop (HF ``Trainer``, Lightning) has no loop to judge.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable

from . import rules_data, rules_eval, rules_loop, rules_loss, rules_setup
from .findings import Finding
from .index import Index, in_autograd_backward
from .names import call_name, last

RULES: tuple[Callable[[Index], list[Finding]], ...] = (
    rules_loop.gradient_order,
    rules_loop.tensor_accumulation,
    rules_eval.eval_without_no_grad,
    rules_eval.eval_mode_missing,
    rules_eval.train_mode_not_restored,
    rules_eval.eval_on_train_data,
    rules_eval.test_used_for_selection,
    rules_loss.loss_mismatch,
    rules_setup.seeds,
    rules_setup.grad_clipping,
    rules_setup.dropout,
    rules_setup.learning_rate,
    rules_data.fit_before_split,
)


@dataclass
class Report:
    """What the lint found in one file."""

    style: str  # hf-trainer | lightning | accelerate | plain-loop | model | ""
    line: int  # where the training starts (the loop, the trainer), 0 when none
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # rules that failed on this file


def style_of(ix: Index) -> tuple[str, int]:
    """How the file trains: an HF Trainer, Lightning, accelerate, a plain loop, or only defines a model."""
    calls = sorted((n for n in ast.walk(ix.tree) if isinstance(n, ast.Call)), key=lambda c: c.lineno)
    names = [(last(call_name(c, ix.imports)), call_name(c, ix.imports), c.lineno) for c in calls]
    if ix.uses_trainer():
        line = next((ln for lname, _n, ln in names if lname in ("train",)), next((ln for lname, _n, ln in names if lname.endswith("Trainer")), 0))
        return "hf-trainer", line
    if ix.lightning or ix.lightning_trainer_calls():
        line = next((ln for lname, _n, ln in names if lname == "fit"), min((c.lineno for c in ix.lightning_trainer_calls()), default=0))
        return "lightning", line
    back = [c.lineno for c in calls if last(call_name(c, ix.imports)) in ("backward", "manual_backward") and not in_autograd_backward(ix, c)]
    if back:
        if any(n.endswith("Accelerator") or lname == "Accelerator" for lname, n, _ in names):
            return "accelerate", back[0]
        return "plain-loop", back[0]
    if any(isinstance(n, ast.ClassDef) and any(f.cls == n.name for f in ix.funcs.get("forward", [])) for n in ast.walk(ix.tree)):
        first = min(f.node.lineno for f in ix.funcs.get("forward", []))
        return "model", first
    return "", 0


def lint(source: str) -> Report:
    """Parse ``source`` and run every rule; raises ``SyntaxError`` for code that does not parse."""
    tree = ast.parse(source)
    ix = Index.build(tree)
    style, line = style_of(ix)
    rep = Report(style=style, line=line)
    if not style:
        return rep
    for rule in RULES:
        try:
            rep.findings.extend(rule(ix))
        except (RecursionError, ValueError, AttributeError, TypeError, KeyError, IndexError) as e:
            rep.errors.append(f"{rule.__module__.rsplit('.', 1)[-1]}.{rule.__name__}: {type(e).__name__}: {e}")
    rep.findings.sort(key=lambda f: (f.line, f.kind))
    return rep


__all__ = ["Finding", "Report", "lint"]
