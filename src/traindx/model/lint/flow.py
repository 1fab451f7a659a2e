"""The order of gradient events in a training loop: clear, backward, step, and mode switches.

A loop's body is walked in source order; calls to functions of the same file
are followed (up to :data:`MAX_DEPTH` levels) so that a loop calling
``train_step(batch)`` sees what ``train_step`` does. Each event keeps the line
where it is written and, when it was reached through a call, the line of that
call. Branches of an ``if`` are both walked, in order: a gradient-accumulation
``if (i + 1) % n == 0: step(); zero_grad()`` reads as step then clear.

Events:
- ``backward``: ``x.backward()``, ``accelerator.backward(loss)``, ``self.manual_backward(loss)``,
  ``fabric.backward(loss)``, ``scaler.scale(loss).backward()``, ``torch.autograd.backward``;
- ``zero``: ``<anything>.zero_grad(...)``, ``p.grad = None``, ``p.grad.zero_()``;
- ``step``: ``<optimizer>.step()``, ``scaler.step(optimizer)``, ``xm.optimizer_step(optimizer)``;
  a DeepSpeed engine's ``step()`` is a step and a clear; a scheduler's or an
  environment's ``step()`` is neither;
- ``eval`` / ``train``: ``<model>.eval()`` / ``<model>.train()`` (``train(False)`` is ``eval``);
- ``unknown``: a call this file does not define whose name suggests it steps or
  clears (``optimizer_step``, ``clear_grads``, ``trainer.step``): the loop is then not judged.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from .index import Index
from .names import call_name, dotted, last, receiver, snippet

MAX_DEPTH = 3
_SCHED = re.compile(r"sched|lr_|warmup|swa|plateau|decay", re.IGNORECASE)
_ENV = re.compile(r"(?:^|\.)(?:env|envs|environment|vec_env|game|sim)$", re.IGNORECASE)
_OPT = re.compile(r"opt", re.IGNORECASE)
_TRAINERISH = re.compile(r"trainer|tokenizer|sentencepiece|spm|bpe|vectorizer|pipeline", re.IGNORECASE)
_SUSPICIOUS = re.compile(r"zero_?grad|clear_?grad|reset_?grad|optimizer_step|optimize$|update_param|apply_grad|(?:^|_)step$|^step_", re.IGNORECASE)


@dataclass(frozen=True)
class Ev:
    kind: str  # backward | zero | step | eval | train | unknown
    line: int
    text: str
    recv: str = ""
    via: int | None = None  # the line of the call through which it was reached
    no_grad: bool = False
    nested: bool = False  # inside a loop nested in the one analysed


@dataclass
class Flow:
    events: list[Ev] = field(default_factory=list)
    inner_bs: bool = False  # a nested loop (or a followed call's loop) has both backward and step

    def kinds(self) -> set[str]:
        return {e.kind for e in self.events}

    @property
    def has_bs(self) -> bool:
        k = self.kinds()
        return "backward" in k and "step" in k


def classify(call: ast.Call, ix: Index) -> list[tuple[str, str]]:
    """The events one call is: [(kind, receiver)], usually one or none."""
    name = call_name(call, ix.imports)
    lname = last(name)
    recv = receiver(call)
    if lname == "backward" or lname == "manual_backward" or name == "torch.autograd.backward":
        return [("backward", recv)]
    if lname == "zero_grad":
        return [("zero", recv)]
    if lname == "zero_" and (recv.endswith(".grad") or recv.endswith(".grad.data")):
        return [("zero", recv)]
    if lname == "step":
        if _SCHED.search(recv) or _ENV.search(recv):
            return []
        if recv in ix.engine_vars:
            return [("step", recv), ("zero", recv)]
        if "scaler" in recv.lower() or recv.endswith(("scaler", "grad_scaler")):
            target = dotted(call.args[0]) if call.args else recv
            return [("step", target or recv)]
        if recv in ix.optimizer_vars or _OPT.search(last(recv) if recv else ""):
            return [("step", recv)]
        return [("unknown", recv)]
    if lname == "optimizer_step" and call.args:
        return [("step", dotted(call.args[0]) or recv)]
    if lname == "eval" and not call.args and recv and not _TRAINERISH.search(recv):
        return [("eval", recv)]
    if lname == "train" and recv and not _TRAINERISH.search(recv) and not call.keywords:
        if not call.args:
            return [("train", recv)]
        a = call.args[0]
        if isinstance(a, ast.Constant) and a.value is False:
            return [("eval", recv)]
        if isinstance(a, ast.Constant) and a.value is True:
            return [("train", recv)]
        return []
    return []


def _grad_assign(stmt: ast.stmt) -> str | None:
    """``p.grad = None`` (or ``.grad = torch.zeros_like(...)``): the parameter whose gradient is cleared."""
    if isinstance(stmt, ast.Assign):
        for t in stmt.targets:
            if isinstance(t, ast.Attribute) and t.attr == "grad":
                return dotted(t.value) or "?"
    return None


class Walker:
    """Flattens statement lists into events, following local calls."""

    def __init__(self, ix: Index) -> None:
        self.ix = ix

    def flow(self, stmts: list[ast.stmt], cls: str | None, depth: int = 0, via: int | None = None, no_grad: bool = False, stack: tuple[int, ...] = ()) -> Flow:
        out = Flow()
        for stmt in stmts:
            self._stmt(stmt, out, cls, depth, via, no_grad, stack)
        return out

    def _sub(self, out: Flow, sub: Flow, nested: bool) -> None:
        out.inner_bs = out.inner_bs or sub.inner_bs or (nested and sub.has_bs)
        for e in sub.events:
            out.events.append(e if not nested or e.nested else Ev(e.kind, e.line, e.text, e.recv, e.via, e.no_grad, True))

    def _stmt(self, stmt: ast.stmt, out: Flow, cls: str | None, depth: int, via: int | None, no_grad: bool, stack: tuple[int, ...]) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            head = stmt.iter if isinstance(stmt, (ast.For, ast.AsyncFor)) else stmt.test
            self._calls(head, out, cls, depth, via, no_grad, stack)
            self._sub(out, self.flow(stmt.body, cls, depth, via, no_grad, stack), nested=True)
            self._sub(out, self.flow(stmt.orelse, cls, depth, via, no_grad, stack), nested=False)
            return
        if isinstance(stmt, ast.If):
            self._calls(stmt.test, out, cls, depth, via, no_grad, stack)
            self._sub(out, self.flow(stmt.body, cls, depth, via, no_grad, stack), nested=False)
            self._sub(out, self.flow(stmt.orelse, cls, depth, via, no_grad, stack), nested=False)
            return
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            ng = no_grad or self.ix.is_no_grad_with(stmt)
            for item in stmt.items:
                self._calls(item.context_expr, out, cls, depth, via, no_grad, stack)
            self._sub(out, self.flow(stmt.body, cls, depth, via, ng, stack), nested=False)
            return
        if isinstance(stmt, ast.Try) or (hasattr(ast, "TryStar") and isinstance(stmt, getattr(ast, "TryStar"))):
            for block in (stmt.body, *[h.body for h in stmt.handlers], stmt.orelse, stmt.finalbody):  # type: ignore[attr-defined]
                self._sub(out, self.flow(block, cls, depth, via, no_grad, stack), nested=False)
            return
        if hasattr(ast, "Match") and isinstance(stmt, getattr(ast, "Match")):
            for case in stmt.cases:  # type: ignore[attr-defined]
                self._sub(out, self.flow(case.body, cls, depth, via, no_grad, stack), nested=False)
            return
        g = _grad_assign(stmt)
        if g is not None:
            out.events.append(Ev("zero", stmt.lineno, snippet(stmt), g, via, no_grad))
            return
        self._calls(stmt, out, cls, depth, via, no_grad, stack)

    def _calls(self, node: ast.AST, out: Flow, cls: str | None, depth: int, via: int | None, no_grad: bool, stack: tuple[int, ...]) -> None:
        calls = [n for n in ast.walk(node) if isinstance(n, ast.Call)]
        calls.sort(key=lambda c: (c.lineno, c.col_offset, -(c.end_col_offset or 0)))
        # inner calls first: ``scaler.scale(loss).backward()`` is scale, then backward
        calls.sort(key=lambda c: (c.lineno, -_depth_in(c, node)))
        for call in calls:
            evs = classify(call, self.ix)
            for kind, recv in evs:
                out.events.append(Ev(kind, call.lineno, snippet(call), recv, via, no_grad))
            if evs:
                # a closure handed to step() (LBFGS) runs before the step
                continue
            target = self.ix.local_target(call, cls)
            if target is not None and depth < MAX_DEPTH and id(target.node) not in stack:
                sub = self.flow(target.node.body, target.cls, depth + 1, via if via is not None else call.lineno, no_grad or self.ix.no_grad_decorated(target.node), stack + (id(target.node),))
                self._sub(out, sub, nested=False)
                continue
            full = call_name(call, self.ix.imports)
            name = last(full)
            if target is None and _SUSPICIOUS.search(name) and not _SCHED.search(receiver(call)) and not full.startswith(("torch.", "numpy.", "np.")):
                out.events.append(Ev("unknown", call.lineno, snippet(call), receiver(call), via, no_grad))
        for call in calls:
            if last(call_name(call, self.ix.imports)) == "step":
                for a in call.args:
                    if isinstance(a, ast.Name):
                        fn = self.ix.local_target(ast.Call(func=ast.Name(id=a.id, ctx=ast.Load()), args=[], keywords=[]), cls)
                        if fn is None:
                            fn = _nested_def(node, a.id, self.ix)
                        if fn is not None and id(fn.node) not in stack:
                            sub = self.flow(fn.node.body, fn.cls, depth + 1, call.lineno, no_grad, stack + (id(fn.node),))
                            # the closure's events happen before the step that calls it
                            idx = next((i for i, e in enumerate(out.events) if e.kind == "step" and e.line == call.lineno), len(out.events))
                            for j, e in enumerate(sub.events):
                                out.events.insert(idx + j, e)


def _depth_in(call: ast.Call, root: ast.AST) -> int:
    """How deeply ``call`` nests inside other calls of ``root`` (inner calls run first)."""
    d = 0
    for n in ast.walk(root):
        if isinstance(n, ast.Call) and n is not call and any(c is call for c in ast.walk(n)):
            d += 1
    return d


def _nested_def(node: ast.AST, name: str, ix: Index):  # type: ignore[no-untyped-def]
    from .index import Func

    fn_scope = ix.enclosing_func(node) or ix.tree
    for n in ast.walk(fn_scope):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name:
            return Func(n, ix.enclosing_class(n))
    return None


def loops(tree: ast.AST) -> list[ast.For | ast.AsyncFor | ast.While]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.AsyncFor, ast.While))]
