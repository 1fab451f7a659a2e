"""The training loop's own bugs: gradients never cleared, cleared between backward and step,
a step that comes before its backward, and losses kept as tensors across steps.

A *training iteration* is the innermost loop whose body (calls to local
functions followed) both runs a backward pass and steps an optimizer, or a
Lightning ``training_step`` under manual optimization. Frameworks that own the
loop (HF ``Trainer``, Lightning's automatic optimization) have none, so these
rules say nothing about them.
"""

from __future__ import annotations

import ast
from typing import Iterator

from .findings import Finding
from .flow import Ev, Flow, Walker, loops
from .index import Index
from .names import call_name, dotted, last, receiver, snippet

SAFE_METHODS = frozenset({"item", "detach", "tolist", "numpy", "data", "detach_", "cpu_item"})


def iterations(ix: Index) -> Iterator[tuple[ast.AST, Flow, str | None]]:
    """(loop or method node, its events, its class) for every training iteration of the file."""
    w = Walker(ix)
    for node in loops(ix.tree):
        cls = ix.enclosing_class(node)
        f = w.flow(node.body, cls)
        if f.has_bs and not f.inner_bs:
            yield node, f, cls
    for cls in sorted(ix.lightning):
        for fn in ix.funcs.get("training_step", []):
            if fn.cls != cls:
                continue
            f = w.flow(fn.node.body, cls)
            if f.has_bs and not f.inner_bs and not any(isinstance(n, (ast.For, ast.While)) for n in ast.walk(fn.node)):
                yield fn.node, f, cls


def _steps(evs: list[Ev]) -> list[Ev]:
    return [e for e in evs if e.kind == "step"]


def _matches(z: Ev, opt: str, steppers: set[str], ix: Index) -> bool:
    """Whether clearing ``z`` clears the gradients that the step of optimizer ``opt`` uses
    (its own zero_grad, or a model's when there is one optimizer)."""
    if z.recv == opt:
        return True
    z_is_opt = z.recv in ix.optimizer_vars or "opt" in z.recv.lower()
    return not z_is_opt and len(steppers) == 1


def gradient_order(ix: Index) -> list[Finding]:
    out: list[Finding] = []
    seen: set[tuple[str, int]] = set()
    for node, f, _cls in iterations(ix):
        evs = [e for e in f.events if e.kind in ("backward", "step", "zero", "unknown")]
        if any(e.kind == "unknown" for e in evs):
            continue  # a call we cannot see into may step or clear: do not judge this loop
        steps = _steps(evs)
        backs = [e for e in evs if e.kind == "backward"]
        zeros = [e for e in evs if e.kind == "zero"]
        head = getattr(node, "lineno", 0)
        if not zeros:
            s, b = steps[0], backs[0]
            before = _zero_before_loop(ix, node)
            text = (
                f"the training loop (line {head}) calls {b.text} (line {b.line}) and {s.text} (line {s.line}) but never zero_grad(): "
                "gradients add up across steps"
            )
            if before is not None:
                text += f" (zero_grad is called once, at line {before}, outside the loop)"
            key = ("no_zero_grad", s.line)
            if key not in seen:
                seen.add(key)
                out.append(Finding("no_zero_grad", text, s.line))
            continue
        steppers = {s.recv for s in steps}
        for opt in sorted(steppers):
            seq = [e for e in evs if e.kind == "backward" or (e.kind == "step" and e.recv == opt) or (e.kind == "zero" and _matches(e, opt, steppers, ix))]
            for f in _order_findings(seq):
                key = (f.kind, f.line)
                if key not in seen:
                    seen.add(key)
                    out.append(f)
    return out


def _order_findings(seq: list[Ev]) -> list[Finding]:
    """In the cycle of one optimizer's events, a clear between a backward and the step that should use it.

    The loop body repeats, so the sequence is read as a cycle: after each backward,
    the next step of this optimizer (possibly in the next iteration). A clear on the
    way there, with no other backward after it, wipes that backward's gradients
    before the step: written after the backward it is ``zero_grad_after_backward``,
    reached by wrapping around (the step is written before the backward) it is
    ``step_before_backward``.
    """
    out: list[Finding] = []
    n = len(seq)
    for i, b in enumerate(seq):
        if b.kind != "backward":
            continue
        pending: Ev | None = None
        wrapped = False
        for k in range(1, n + 1):
            if i + k >= n:
                wrapped = True
            e = seq[(i + k) % n]
            if e.kind == "zero":
                pending = e
            elif e.kind == "backward":
                pending = None  # a clear before another backward belongs to that one
                if e is b:
                    break
            elif e.kind == "step":
                if pending is not None:
                    z = pending
                    if not wrapped:
                        out.append(Finding("zero_grad_after_backward", f"{z.text} (line {z.line}) runs after {b.text} (line {b.line}) and before {e.text} (line {e.line}): the step never sees a gradient", z.line))
                    else:
                        out.append(
                            Finding(
                                "step_before_backward",
                                f"{e.text} (line {e.line}) comes before {b.text} (line {b.line}) in the loop, and {z.text} (line {z.line}) clears each backward's gradients before the next step: no step applies a gradient",
                                e.line,
                            )
                        )
                break
    return out


def _zero_before_loop(ix: Index, node: ast.AST) -> int | None:
    fn = ix.enclosing_func(node) or ix.tree
    for n in ast.walk(fn):
        if isinstance(n, ast.Call) and last(call_name(n, ix.imports)) == "zero_grad" and n.lineno < getattr(node, "lineno", 0):
            return n.lineno
    return None


# -- tensors kept across steps --------------------------------------------------------------


def _backward_names(node: ast.AST, ix: Index) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(node):
        if not isinstance(n, ast.Call):
            continue
        name = last(call_name(n, ix.imports))
        if name == "backward":
            # accelerator.backward(loss), engine.backward(loss); else loss.backward(), scaler.scale(loss).backward()
            r = n.args[0] if n.args else (n.func.value if isinstance(n.func, ast.Attribute) else None)
            if isinstance(r, ast.Call) and r.args:
                r = r.args[0]
            d = dotted(r) if r is not None else None
            if d:
                out.add(d)
        elif name == "manual_backward" and n.args:
            d = dotted(n.args[0])
            if d:
                out.add(d)
    return out


def carries_graph(expr: ast.AST, losses: set[str]) -> bool:
    """Whether ``expr`` is (an arithmetic of) a loss tensor that still holds its autograd graph."""
    if isinstance(expr, (ast.Name, ast.Attribute)) and dotted(expr) in losses:
        return True
    if isinstance(expr, ast.Attribute) and expr.attr == "data":
        return False
    if isinstance(expr, ast.Call):
        f = expr.func
        if isinstance(f, ast.Name) and f.id in ("float", "int", "round"):
            return False
        if isinstance(f, ast.Attribute):
            if f.attr in SAFE_METHODS:
                return False
            if f.attr in ("mean", "sum", "clone", "to", "cpu", "cuda", "squeeze", "view", "reshape", "float", "double", "half"):
                return carries_graph(f.value, losses)
        return False
    if isinstance(expr, ast.BinOp):
        return carries_graph(expr.left, losses) or carries_graph(expr.right, losses)
    if isinstance(expr, ast.UnaryOp):
        return carries_graph(expr.operand, losses)
    return False


def backward_loops(ix: Index) -> Iterator[ast.AST]:
    """Innermost loops whose body (local calls followed) runs a backward pass, and Lightning manual training steps."""
    w = Walker(ix)
    for node in loops(ix.tree):
        f = w.flow(node.body, ix.enclosing_class(node))
        if "backward" in f.kinds() and not any(e.kind == "backward" and e.nested for e in f.events):
            yield node
    for _node, _f, cls in iterations(ix):
        if isinstance(_node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield _node


def tensor_accumulation(ix: Index) -> list[Finding]:
    out: list[Finding] = []
    seen: set[int] = set()
    for node in backward_loops(ix):
        body = node
        losses = _backward_names(body, ix)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for r in ast.walk(node):
                if isinstance(r, ast.Return) and r.value is not None and dotted(r.value):
                    losses.add(dotted(r.value) or "")
        if not losses:
            continue
        backwarded = _backward_names(ix.enclosing_func(node) or ix.tree, ix)
        for stmt in ast.walk(body):
            if getattr(stmt, "lineno", None) in seen:
                continue
            got = _accumulation(stmt, losses)
            if got is None:
                continue
            target, value = got
            if target in backwarded or ix.under_no_grad(stmt):
                continue  # summed on purpose and backpropagated, or kept without a graph
            seen.add(stmt.lineno)
            out.append(
                Finding(
                    "tensor_accumulation",
                    f"{snippet(stmt)} keeps the loss tensor {snippet(value, 30)} with its autograd graph across steps: memory grows every step (use .item() or .detach())",
                    stmt.lineno,
                )
            )
    # Lightning automatic optimization: outputs appended in training_step
    for cls in sorted(ix.lightning):
        for fn in ix.funcs.get("training_step", []):
            if fn.cls != cls:
                continue
            returned = {dotted(r.value) for r in ast.walk(fn.node) if isinstance(r, ast.Return) and r.value is not None and dotted(r.value)}
            losses = {r for r in returned if r}
            for stmt in ast.walk(fn.node):
                got = _accumulation(stmt, losses)
                if got is None or getattr(stmt, "lineno", 0) in seen:
                    continue
                target, value = got
                if not target.startswith("self."):
                    continue
                seen.add(stmt.lineno)
                out.append(
                    Finding(
                        "tensor_accumulation",
                        f"{snippet(stmt)} in training_step keeps the loss tensor with its autograd graph on the module across steps: memory grows every step (append loss.detach())",
                        stmt.lineno,
                    )
                )
    return out


def _accumulation(stmt: ast.AST, losses: set[str]) -> tuple[str, ast.expr] | None:
    """(accumulator, value) for ``acc += loss``, ``acc = acc + loss`` or ``acc.append(loss)``."""
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add):
        t = dotted(stmt.target)
        if t and carries_graph(stmt.value, losses):
            return t, stmt.value
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.op, ast.Add):
        t = dotted(stmt.targets[0])
        v = stmt.value
        if t and (dotted(v.left) == t and carries_graph(v.right, losses) or dotted(v.right) == t and carries_graph(v.left, losses)):
            return t, v
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        c = stmt.value
        if isinstance(c.func, ast.Attribute) and c.func.attr == "append" and c.args and carries_graph(c.args[0], losses):
            return receiver(c), c.args[0]
    return None
