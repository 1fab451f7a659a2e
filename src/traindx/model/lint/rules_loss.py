"""The loss does not match what reaches it: softmax (or log-softmax) before ``CrossEntropyLoss``,
sigmoid before ``BCEWithLogitsLoss``, raw scores into ``NLLLoss``/``BCELoss``, cross-entropy
over a single output unit.

What reaches a loss is traced back: the expression passed to it, the variable's
last assignment in the same function, and through a model call into the model's
``forward`` (its ``return``, and the ``nn.Softmax``/``nn.Linear`` modules its
``__init__`` assigned) or into the last module of an ``nn.Sequential``. A
``forward`` that returns differently in training and evaluation (``if
self.training``) is left alone.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .findings import Finding
from .index import Index
from .names import call_name, dotted, last, number, snippet

LOSS_CLASSES = {"CrossEntropyLoss": "ce", "BCEWithLogitsLoss": "bce_logits", "NLLLoss": "nll", "BCELoss": "bce"}
LOSS_FUNCS = {"cross_entropy": "ce", "binary_cross_entropy_with_logits": "bce_logits", "nll_loss": "nll", "binary_cross_entropy": "bce"}
ACT_FUNCS = {"softmax": "softmax", "log_softmax": "log_softmax", "sigmoid": "sigmoid"}
ACT_MODULES = {"Softmax": "softmax", "LogSoftmax": "log_softmax", "Sigmoid": "sigmoid"}
LOSS_LABEL = {"ce": "CrossEntropyLoss", "bce_logits": "BCEWithLogitsLoss", "nll": "NLLLoss", "bce": "BCELoss"}


@dataclass(frozen=True)
class Out:
    """What an expression is: an activation's output, or a linear layer's with ``units`` outputs."""

    kind: str  # softmax | log_softmax | sigmoid | linear
    line: int
    text: str
    units: int | None = None


def _act_of_call(c: ast.Call, ix: Index) -> str | None:
    name = call_name(c, ix.imports)
    lname = last(name)
    if lname in ACT_FUNCS and (name.startswith("torch") or isinstance(c.func, ast.Attribute)):
        return ACT_FUNCS[lname]
    if isinstance(c.func, ast.Call) and last(call_name(c.func, ix.imports)) in ACT_MODULES:
        return ACT_MODULES[last(call_name(c.func, ix.imports))]
    return None


def _module_out(value: ast.expr, ix: Index) -> Out | None:
    """What a module constructor outputs: ``nn.Softmax`` -> softmax, ``nn.Linear(a, b)`` -> linear(b), ``nn.Sequential`` -> its last."""
    if not isinstance(value, ast.Call):
        return None
    lname = last(call_name(value, ix.imports))
    if lname in ACT_MODULES:
        return Out(ACT_MODULES[lname], value.lineno, snippet(value, 40))
    if lname == "Linear":
        units = number(value.args[1]) if len(value.args) > 1 else number(next((k.value for k in value.keywords if k.arg == "out_features"), None))
        return Out("linear", value.lineno, snippet(value, 40), int(units) if units is not None else None)
    if lname == "Sequential" and value.args:
        return _module_out(value.args[-1], ix)
    return None


class Tracer:
    def __init__(self, ix: Index) -> None:
        self.ix = ix
        self._class_out: dict[str, Out | None] = {}

    def init_modules(self, cls: str) -> dict[str, ast.expr]:
        out: dict[str, ast.expr] = {}
        for f in self.ix.funcs.get("__init__", []):
            if f.cls != cls:
                continue
            for n in ast.walk(f.node):
                if isinstance(n, ast.Assign):
                    for t in n.targets:
                        d = dotted(t)
                        if d and d.startswith("self."):
                            out[d] = n.value
        return out

    def class_out(self, cls: str) -> Out | None:
        if cls in self._class_out:
            return self._class_out[cls]
        self._class_out[cls] = None
        fwd = [f for f in self.ix.funcs.get("forward", []) if f.cls == cls]
        if not fwd:
            return None
        fn = fwd[0].node
        for n in ast.walk(fn):
            if isinstance(n, ast.If) and any(isinstance(x, ast.Attribute) and x.attr in ("training", "inference") for x in ast.walk(n.test)):
                return None  # the output depends on the mode
        rets = [r for r in ast.walk(fn) if isinstance(r, ast.Return) and r.value is not None]
        if not rets:
            return None
        r = max(rets, key=lambda x: x.lineno)
        got = self.trace(r.value, fn, cls, depth=0)
        self._class_out[cls] = got
        return got

    def model_out(self, callee: ast.expr, scope: ast.AST, cls: str | None, line: int) -> Out | None:
        d = dotted(callee) or ""
        if d == "self" and cls is not None:
            return self.class_out(cls)
        if d.startswith("self.") and cls is not None:
            v = self.init_modules(cls).get(d)
            return self._value_out(v, scope, cls) if v is not None else None
        v = self.ix.assigned(d, scope, line) or self.ix.assigned(d, self.ix.tree, 10**9)
        return self._value_out(v, scope, cls) if v is not None else None

    def _value_out(self, v: ast.expr, scope: ast.AST, cls: str | None) -> Out | None:
        if isinstance(v, ast.Call):
            m = _module_out(v, self.ix)
            if m is not None:
                return m
            callee = call_name(v, self.ix.imports)
            if callee in self.ix.classes:
                return self.class_out(callee)
            # model = Net().to(device)
            if isinstance(v.func, ast.Attribute) and v.func.attr in ("to", "cuda", "cpu", "float", "double", "train") and isinstance(v.func.value, ast.Call):
                return self._value_out(v.func.value, scope, cls)
        return None

    def trace(self, expr: ast.expr, scope: ast.AST, cls: str | None, depth: int) -> Out | None:
        if depth > 4:
            return None
        if isinstance(expr, ast.Call):
            act = _act_of_call(expr, self.ix)
            if act is not None:
                return Out(act, expr.lineno, snippet(expr, 50))
            f = expr.func
            if isinstance(f, ast.Attribute) and f.attr in ("squeeze", "view", "reshape", "flatten", "contiguous", "float", "to"):
                got = self.trace(f.value, scope, cls, depth + 1)
                if got is not None and got.kind == "linear" and f.attr in ("view", "reshape", "flatten"):
                    return Out(got.kind, got.line, got.text, None)  # a reshape can turn units into classes (multiple choice)
                return got
            if isinstance(f, (ast.Name, ast.Attribute)):
                d = dotted(f) or ""
                if d.startswith("self.") and cls is not None:
                    v = self.init_modules(cls).get(d)
                    if v is not None:
                        m = _module_out(v, self.ix)
                        if m is not None:
                            return Out(m.kind, expr.lineno if m.kind != "linear" else m.line, snippet(expr, 50) if m.kind != "linear" else m.text, m.units)
                        if isinstance(v, ast.Call) and call_name(v, self.ix.imports) in self.ix.classes:
                            return self.class_out(call_name(v, self.ix.imports))
                    return None
                if isinstance(f, ast.Name) or d == "self":
                    return self.model_out(f, scope, cls, expr.lineno)
            return None
        if isinstance(expr, ast.Name):
            v = self.ix.assigned(expr.id, scope, getattr(expr, "lineno", 10**9))
            return self.trace(v, scope, cls, depth + 1) if v is not None else None
        if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Call):
            return self.trace(expr.value, scope, cls, depth + 1)
        return None


def loss_calls(ix: Index) -> list[tuple[str, ast.Call, ast.expr]]:
    """(loss kind, call, the expression passed as the prediction) for every loss computed in the file."""
    objs: dict[str, str] = {}
    for n in ast.walk(ix.tree):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call):
            k = LOSS_CLASSES.get(last(call_name(n.value, ix.imports)))
            if k:
                for t in n.targets:
                    d = dotted(t)
                    if d:
                        objs[d] = k
    out = []
    for n in ast.walk(ix.tree):
        if not isinstance(n, ast.Call) or not n.args:
            continue
        name = call_name(n, ix.imports)
        kind = None
        d = dotted(n.func)
        local = ix.assigned(d, ix.enclosing_func(n) or ix.tree, n.lineno) if d else None
        if isinstance(local, ast.Call):
            kind = LOSS_CLASSES.get(last(call_name(local, ix.imports)))  # the object this function assigned (None: not a loss we know)
        elif d in objs:
            kind = objs[d]
        elif last(name) in LOSS_FUNCS and ("functional" in name or name.startswith("torch")):
            kind = LOSS_FUNCS[last(name)]
        elif isinstance(n.func, ast.Call) and last(call_name(n.func, ix.imports)) in LOSS_CLASSES:
            kind = LOSS_CLASSES[last(call_name(n.func, ix.imports))]
        if kind:
            out.append((kind, n, n.args[0]))
    out.sort(key=lambda t: (t[1].lineno, t[1].col_offset))
    return out


def loss_mismatch(ix: Index) -> list[Finding]:
    tr = Tracer(ix)
    out: list[Finding] = []
    seen: set[tuple[str, int]] = set()
    for kind, call, pred in loss_calls(ix):
        scope = ix.enclosing_func(call) or ix.tree
        cls = ix.enclosing_class(call)
        got = tr.trace(pred, scope, cls, 0)
        if got is None:
            continue
        label = LOSS_LABEL[kind]
        where = f"{snippet(call, 50)} (line {call.lineno})"
        f: Finding | None = None
        if kind == "ce" and got.kind == "softmax":
            f = Finding("softmax_before_ce", f"{got.text} (line {got.line}) feeds {where}, which applies log-softmax itself: the loss sees probabilities and its gradients shrink as they saturate", got.line)
        elif kind == "ce" and got.kind == "log_softmax":
            f = Finding("log_softmax_before_ce", f"{got.text} (line {got.line}) feeds {where}, which applies log-softmax again (harmless, log-softmax is idempotent, but NLLLoss is the loss for log-probabilities)", got.line)
        elif kind == "bce_logits" and got.kind in ("sigmoid", "softmax"):
            f = Finding("sigmoid_before_bce", f"{got.text} (line {got.line}) feeds {where}, which applies a sigmoid itself: the loss sees probabilities squashed twice and learns slowly", got.line)
        elif kind == "ce" and got.kind == "linear" and got.units == 1:
            f = Finding("wrong_loss_for_output", f"{where} is computed over a single output unit ({got.text}, line {got.line}): the softmax of one logit is 1, so the loss is always 0 and nothing is learned", call.lineno)
        elif kind == "nll" and got.kind in ("linear", "softmax", "sigmoid"):
            f = Finding("wrong_loss_for_output", f"{where} expects log-probabilities but gets {got.kind} outputs ({got.text}, line {got.line}): the loss is unbounded below (use log_softmax or CrossEntropyLoss)", call.lineno)
        elif kind == "bce" and got.kind in ("linear", "log_softmax"):
            f = Finding("wrong_loss_for_output", f"{where} expects probabilities in [0, 1] but gets {got.kind} outputs ({got.text}, line {got.line}) (use BCEWithLogitsLoss)", call.lineno)
        if f is not None and (f.kind, got.line) not in seen:
            seen.add((f.kind, got.line))  # one finding per model output, however many losses use it
            out.append(f)
    return out
