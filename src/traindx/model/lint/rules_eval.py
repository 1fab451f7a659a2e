"""Evaluation bugs: gradients on during evaluation, ``model.eval()`` missing or never undone,
evaluating on the training data, and the test set used to pick the model.

An *evaluation region* is a function named like an evaluation (``evaluate``,
``validate``, ``estimate_loss``, ``val_epoch``...) that calls a model and runs no
backward pass, or a loop over a loader named ``val``/``valid``/``test``/``dev``/``eval``
that runs no backward pass. Lightning's ``validation_step``/``test_step`` are not
regions: Lightning switches modes and gradients itself.
"""

from __future__ import annotations

import ast
import re
from typing import Iterator

from .findings import Finding
from .flow import Walker, loops
from .index import Index
from .names import call_name, dotted, kwarg, last, snippet, targets_of
from .rules_loop import iterations

EVAL_NAME = re.compile(
    r"^_?(?:eval\w*|evaluat\w*|validat\w*|valid|val|val_\w+|test|testing|test_epoch|test_model|test_loop|estimate_loss|run_eval\w*|run_validation|do_eval|compute_val\w*)$"
    r"|_(?:eval|evaluate|evaluation|validate|validation|val_epoch)$",
    re.IGNORECASE,
)
EVAL_LOADER = re.compile(r"(?:^|[^a-z])(?:val|valid|validation|test|dev|eval)(?:[^a-z]|$)|(?:val|valid|test|eval)(?:loader|_?dl|_?data|set)", re.IGNORECASE)
TRAIN_DATA = re.compile(r"train", re.IGNORECASE)
HELD_OUT_TARGET = re.compile(r"val|valid|dev|eval", re.IGNORECASE)
TEST_DATA = re.compile(r"test", re.IGNORECASE)
MODEL_CALLEE = re.compile(r"(?:^|\.)(?:model|net|network|module|encoder|classifier|policy|generator|discriminator|\w*_model|\w*_net|model_\w+)$", re.IGNORECASE)
DROPOUT_OR_NORM = re.compile(r"^(?:Dropout\w*|AlphaDropout|FeatureAlphaDropout|BatchNorm\w*|SyncBatchNorm|dropout|batch_norm|from_pretrained|resnet\w*|vgg\w*|densenet\w*|efficientnet\w*|mobilenet\w*|inception\w*|convnext\w*|regnet\w*|vit_\w+|wide_resnet\w*)$")


def has_mode_dependent_layers(ix: Index) -> bool:
    """The file builds layers that behave differently in train and eval mode (dropout, batch norm, pretrained models)."""
    for n in ast.walk(ix.tree):
        if isinstance(n, ast.Call):
            if DROPOUT_OR_NORM.match(last(call_name(n, ix.imports))):
                return True
            for k in n.keywords:
                if k.arg and ("dropout" in k.arg or "pdrop" in k.arg) and not (isinstance(k.value, ast.Constant) and k.value.value in (0, 0.0)):
                    return True
    return False


NOT_A_MODEL = re.compile(r"^_?(?:wrap|unwrap|build|load|get|create|make|init|save|prepare|compile|setup|convert|freeze|train|eval|evaluate|run|copy|export|print|log|update)_", re.IGNORECASE)


def _model_calls(node: ast.AST, params: set[str]) -> list[ast.Call]:
    """Calls of a model itself (``model(x)``, ``self.net(x)``, ``self(x)``), not of functions that handle one (``build_model()``)."""
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            d = dotted(n.func) or ""
            if d == "self" or d in params or (MODEL_CALLEE.search(d) and not NOT_A_MODEL.match(last(d))):
                out.append(n)
    return out


def _has_backward(node: ast.AST, ix: Index) -> bool:
    return any(isinstance(n, ast.Call) and last(call_name(n, ix.imports)) in ("backward", "manual_backward") for n in ast.walk(node))


def regions(ix: Index) -> Iterator[tuple[ast.AST, str]]:
    """(node, label) for every evaluation region: functions first, then inline loops outside them."""
    fn_nodes: list[ast.AST] = []
    for name, funcs in sorted(ix.funcs.items()):
        if not EVAL_NAME.search(name):
            continue
        for f in funcs:
            if f.cls in ix.lightning and name.startswith(("validation_", "test_", "predict_", "on_", "val_")):
                continue
            params = {a.arg for a in f.node.args.args if a.arg in ("model", "net", "network")}
            if _has_backward(f.node, ix) or not _model_calls(f.node, params):
                continue
            fn_nodes.append(f.node)
            yield f.node, f"{name}()"
    for lp in loops(ix.tree):
        if not isinstance(lp, (ast.For, ast.AsyncFor)):
            continue
        it = snippet(lp.iter, 200)
        if not EVAL_LOADER.search(it) or TRAIN_DATA.search(it):
            continue
        if any(lp in set(ast.walk(f)) for f in fn_nodes):
            continue
        enclosing = ix.enclosing_func(lp)
        if enclosing is not None and ix.enclosing_class(lp) in ix.lightning:
            continue
        if _has_backward(lp, ix) or not _model_calls(lp, {"model", "net"}):
            continue
        yield lp, f"the loop over {snippet(lp.iter, 40)}"


def eval_without_no_grad(ix: Index) -> list[Finding]:
    out = []
    for node, label in regions(ix):
        params = {"model", "net", "network"}
        calls = [c for c in _model_calls(node, params) if not ix.under_no_grad(c) and not _generate(c)]
        if not calls:
            continue
        if _grad_disabled_inside(node, ix):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            sites = ix.callers(node)
            if sites and all(ix.under_no_grad(s) for s in sites):
                continue
        c = calls[0]
        out.append(Finding("eval_without_no_grad", f"{label} runs {snippet(c, 50)} (line {c.lineno}) with autograd on: no torch.no_grad() or torch.inference_mode() around the evaluation", c.lineno))
    return out


def _generate(c: ast.Call) -> bool:
    return isinstance(c.func, ast.Attribute) and c.func.attr == "generate"


def _grad_disabled_inside(node: ast.AST, ix: Index) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            name = last(call_name(n, ix.imports))
            if name == "set_grad_enabled" and n.args and isinstance(n.args[0], ast.Constant) and n.args[0].value is False:
                return True
            if name == "requires_grad_" and n.args and isinstance(n.args[0], ast.Constant) and n.args[0].value is False:
                return True
    return False


def _mode_calls(node: ast.AST, ix: Index, kind: str) -> list[ast.Call]:
    from .flow import classify

    return [n for n in ast.walk(node) if isinstance(n, ast.Call) and any(k == kind for k, _ in classify(n, ix))]


def eval_mode_missing(ix: Index) -> list[Finding]:
    if not has_mode_dependent_layers(ix):
        return []
    out = []
    for node, label in regions(ix):
        if _mode_calls(node, ix, "eval"):
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            sites = ix.callers(node)
            ok = False
            for s in sites:
                scope = ix.enclosing_func(s) or ix.tree
                if any(c.lineno <= s.lineno for c in _mode_calls(scope, ix, "eval")):
                    ok = True
            if ok:
                continue
        else:
            scope = ix.enclosing_func(node) or ix.tree
            if any(c.lineno < line for c in _mode_calls(scope, ix, "eval")):
                continue
        out.append(Finding("eval_mode_missing", f"{label} (line {line}) evaluates without model.eval(): dropout stays active and batch norm keeps updating its statistics on evaluation data", line))
    return out


def train_mode_not_restored(ix: Index) -> list[Finding]:
    """A loop that trains and evaluates (calls followed) with ``eval()`` and no ``train()`` in it."""
    if not has_mode_dependent_layers(ix):
        return []
    out = []
    seen: set[int] = set()
    w = Walker(ix)
    for loop in sorted(loops(ix.tree), key=lambda n: n.lineno):
        f = w.flow(loop.body, ix.enclosing_class(loop))
        kinds = f.kinds()
        if "backward" not in kinds or "eval" not in kinds or "train" in kinds:
            continue
        e = next(x for x in f.events if x.kind == "eval")
        if e.line in seen:
            continue
        seen.add(e.line)
        via = f" (reached through the call at line {e.via})" if e.via else ""
        out.append(
            Finding(
                "train_mode_not_restored",
                f"{e.text} (line {e.line}){via} switches the model to eval mode inside the training loop at line {loop.lineno}, "
                "and model.train() is never called again in that loop: later steps train with dropout off and batch-norm statistics frozen",
                e.line,
            )
        )
    return out


def eval_on_train_data(ix: Index) -> list[Finding]:
    out = []
    for n in ast.walk(ix.tree):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call):
            callee = last(call_name(n.value, ix.imports))
            tnames = " ".join(targets_of(n))
            if not (EVAL_NAME.search(callee) and HELD_OUT_TARGET.search(tnames)):
                continue
            args = [snippet(a, 60) for a in n.value.args] + [snippet(k.value, 60) for k in n.value.keywords]
            train = [a for a in args if TRAIN_DATA.search(a)]
            if train and not any(HELD_OUT_TARGET.search(a) or TEST_DATA.search(a) for a in args):
                out.append(Finding("eval_on_train_data", f"{snippet(n, 70)} computes a held-out result ({tnames}) on {train[0]}: the training data", n.lineno))
        elif isinstance(n, ast.Call):
            name = call_name(n, ix.imports)
            ev = kwarg(n, "eval_dataset", "val_dataloaders", "validation_data")
            if ev is None and last(name) == "fit" and len(n.args) >= 3 and ix.imports.uses("lightning", "pytorch_lightning"):
                ev = n.args[2]  # Trainer.fit(model, train_dataloaders, val_dataloaders)
            if ev is None:
                continue
            text = snippet(ev, 60)
            if TRAIN_DATA.search(text) and not HELD_OUT_TARGET.search(text) and not TEST_DATA.search(text):
                out.append(Finding("eval_on_train_data", f"{snippet(n, 70)} evaluates on {text}: the training data", n.lineno))
    return out


def test_used_for_selection(ix: Index) -> list[Finding]:
    out = []
    seen: set[int] = set()
    for node, _f, _cls in iterations(ix):
        chain = [node] + [a for a in ix.ancestors(node) if isinstance(a, (ast.For, ast.AsyncFor, ast.While))]
        for loop in chain:
            for stmt in ast.walk(loop):
                if not (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)) or stmt.lineno in seen:
                    continue
                args = [snippet(a, 60) for a in stmt.value.args] + [snippet(k.value, 60) for k in stmt.value.keywords]
                test = [a for a in args if TEST_DATA.search(a) and not HELD_OUT_TARGET.search(a)]
                if not test:
                    continue
                names = set()
                for t in stmt.targets:
                    names |= {x.id for x in ast.walk(t) if isinstance(x, ast.Name)}
                use = _selection_use(loop, names, stmt.lineno, ix)
                if use is None:
                    continue
                seen.add(stmt.lineno)
                out.append(
                    Finding(
                        "test_used_for_selection",
                        f"{snippet(stmt, 60)} (line {stmt.lineno}) scores the model on {test[0]} inside the training loop, and {snippet(use, 50)} (line {use.lineno}) decides on it: the test set chooses the model, so it no longer measures it",
                        stmt.lineno,
                    )
                )
    return out


def _selection_use(loop: ast.AST, names: set[str], after: int, ix: Index) -> ast.AST | None:
    for n in ast.walk(loop):
        if getattr(n, "lineno", 0) <= after:
            continue
        if isinstance(n, ast.If) and {x.id for x in ast.walk(n.test) if isinstance(x, ast.Name)} & names and any(isinstance(x, ast.Compare) for x in ast.walk(n.test)):
            return n.test
        if isinstance(n, ast.Call):
            callee = call_name(n, ix.imports).lower()
            if ("early" in callee or ("sched" in callee and callee.endswith("step"))) and any(isinstance(a, ast.Name) and a.id in names for a in n.args):
                return n
    return None
