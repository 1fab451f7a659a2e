"""An index of one parsed training script: its functions, classes, parents, and what variables hold.

The lint rules ask it: which local function a call reaches (to follow a
training step into a helper), whether a node runs with gradients off
(``torch.no_grad()``, ``inference_mode()``, a decorated function), which
class a Lightning module is, what an assignment put into a variable.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from .names import Imports, call_name, dotted, last

LIGHTNING_BASES = re.compile(r"(?:^|\.)LightningModule$")
OPTIMIZER_CLASSES = frozenset(
    {
        "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adagrad", "Adadelta", "RMSprop", "Rprop", "ASGD", "LBFGS", "SparseAdam",
        "Lion", "Adafactor", "AdamW8bit", "Adam8bit", "PagedAdamW", "PagedAdamW8bit", "FusedAdam", "FusedLAMB", "LAMB", "Lamb", "LARS", "Muon", "Sophia", "SophiaG",
    }
)
TRAINER_CLASSES = frozenset({"Trainer", "Seq2SeqTrainer", "SFTTrainer", "DPOTrainer", "PPOTrainer", "RewardTrainer", "GRPOTrainer", "ORPOTrainer", "KTOTrainer"})


@dataclass
class Func:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    cls: str | None = None

    @property
    def name(self) -> str:
        return self.node.name


@dataclass
class Index:
    tree: ast.Module
    imports: Imports
    funcs: dict[str, list[Func]] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    parents: dict[int, ast.AST] = field(default_factory=dict)
    lightning: set[str] = field(default_factory=set)
    optimizer_vars: set[str] = field(default_factory=set)  # names assigned an optimizer
    engine_vars: set[str] = field(default_factory=set)  # DeepSpeed engines (their step() also clears gradients)

    @classmethod
    def build(cls, tree: ast.Module) -> "Index":
        ix = cls(tree=tree, imports=Imports(tree))
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                ix.parents[id(child)] = node
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                ix.classes[node.name] = node
                bases = [ix.imports.resolve(dotted(b) or "") for b in node.bases]
                if any(LIGHTNING_BASES.search(b) for b in bases):
                    ix.lightning.add(node.name)
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        ix.funcs.setdefault(item.name, []).append(Func(item, node.name))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not isinstance(ix.parents.get(id(node)), ast.ClassDef):
                ix.funcs.setdefault(node.name, []).append(Func(node, None))
        # Lightning subclasses of local Lightning classes
        changed = True
        while changed:
            changed = False
            for name, node in ix.classes.items():
                if name not in ix.lightning and any((dotted(b) or "") in ix.lightning for b in node.bases):
                    ix.lightning.add(name)
                    changed = True
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                cname = call_name(node.value, ix.imports)
                tnames = [dotted(t) for t in node.targets if dotted(t)]
                if last(cname) in OPTIMIZER_CLASSES or cname.startswith("torch.optim.") and last(cname)[:1].isupper():
                    ix.optimizer_vars.update(t for t in tnames if t)
                if cname.endswith("deepspeed.initialize") or cname == "deepspeed.initialize":
                    for t in node.targets:
                        first = t.elts[0] if isinstance(t, ast.Tuple) and t.elts else t
                        d = dotted(first)
                        if d:
                            ix.engine_vars.add(d)
        return ix

    # -- structure -------------------------------------------------------------------
    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def ancestors(self, node: ast.AST) -> list[ast.AST]:
        out = []
        p = self.parent(node)
        while p is not None:
            out.append(p)
            p = self.parent(p)
        return out

    def enclosing_func(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for a in self.ancestors(node):
            if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return a
        return None

    def enclosing_class(self, node: ast.AST) -> str | None:
        for a in self.ancestors(node):
            if isinstance(a, ast.ClassDef):
                return a.name
        return None

    def is_no_grad_with(self, w: ast.With | ast.AsyncWith) -> bool:
        for item in w.items:
            e = item.context_expr
            if isinstance(e, ast.Call):
                n = call_name(e, self.imports)
                if last(n) in ("no_grad", "inference_mode"):
                    return True
                if last(n) == "set_grad_enabled" and e.args and isinstance(e.args[0], ast.Constant) and e.args[0].value is False:
                    return True
        return False

    def no_grad_decorated(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        for d in fn.decorator_list:
            target = d.func if isinstance(d, ast.Call) else d
            n = self.imports.resolve(dotted(target) or "")
            if last(n) in ("no_grad", "inference_mode"):
                return True
        return False

    def under_no_grad(self, node: ast.AST) -> bool:
        """Whether ``node`` runs with gradients off, within its own function."""
        for a in self.ancestors(node):
            if isinstance(a, (ast.With, ast.AsyncWith)) and self.is_no_grad_with(a):
                return True
            if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return self.no_grad_decorated(a)
        return False

    # -- calls -------------------------------------------------------------------------
    def local_target(self, call: ast.Call, cls: str | None) -> Func | None:
        """The function of this file a call reaches: ``f(...)``, ``self.f(...)``, or a method name unique to one local class."""
        f = call.func
        if isinstance(f, ast.Name):
            cands = [c for c in self.funcs.get(f.id, []) if c.cls is None]
            return cands[0] if len(cands) == 1 else None
        if isinstance(f, ast.Attribute):
            name = f.attr
            if name in UNFOLLOWED:
                return None
            cands = self.funcs.get(name, [])
            base = dotted(f.value)
            if base == "self" and cls is not None:
                own = [c for c in cands if c.cls == cls]
                if own:
                    return own[0]
            methods = [c for c in cands if c.cls is not None]
            if len(methods) == 1 and base not in (None, "torch", "nn", "F", "np"):
                return methods[0]
        return None

    def callers(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Call]:
        out = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute) else None)
                if name == fn.name:
                    out.append(node)
        return out

    def assigned(self, name: str, scope: ast.AST, before: int) -> ast.expr | None:
        """The last value assigned to ``name`` in ``scope`` on a line before ``before``."""
        best: tuple[int, ast.expr] | None = None
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and node.lineno < before:
                for t in node.targets:
                    if dotted(t) == name and (best is None or node.lineno >= best[0]):
                        best = (node.lineno, node.value)
                    elif isinstance(t, ast.Tuple) and isinstance(node.value, ast.Tuple) and len(t.elts) == len(node.value.elts):
                        for te, ve in zip(t.elts, node.value.elts):
                            if dotted(te) == name and (best is None or node.lineno >= best[0]):
                                best = (node.lineno, ve)
            elif isinstance(node, ast.AnnAssign) and node.value is not None and node.lineno < before and dotted(node.target) == name:
                if best is None or node.lineno >= best[0]:
                    best = (node.lineno, node.value)
        return best[1] if best else None

    def uses_trainer(self) -> bool:
        """An HF/TRL ``Trainer`` (which clears gradients, seeds and clips by itself) is built here."""
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and last(call_name(node, self.imports)) in TRAINER_CLASSES:
                n = call_name(node, self.imports)
                if self.imports.uses("transformers", "trl") or "transformers" in n or "trl" in n:
                    return True
        return False

    def lightning_trainer_calls(self) -> list[ast.Call]:
        out = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                n = call_name(node, self.imports)
                if last(n) == "Trainer" and ("lightning" in n or self.imports.uses("lightning", "pytorch_lightning")):
                    out.append(node)
        return out


def in_autograd_backward(ix: Index, node: ast.AST) -> bool:
    """Inside a custom backward pass (a function named like ``backward``, or a method of a
    ``torch.autograd.Function``): library code such as reversible layers, not a training loop."""
    fn = ix.enclosing_func(node)
    if fn is not None and "backward" in fn.name:
        return True
    cls = ix.enclosing_class(node)
    node_cls = ix.classes.get(cls) if cls else None
    return node_cls is not None and any(last(dotted(b) or "") == "Function" for b in node_cls.bases)


# method names never followed into a local definition: framework and tensor APIs
UNFOLLOWED = frozenset(
    {
        "backward", "step", "zero_grad", "eval", "train", "forward", "to", "cuda", "cpu", "item", "detach", "append", "extend",
        "update", "mean", "sum", "log", "manual_backward", "fit", "transform", "fit_transform", "split", "parameters",
        "named_parameters", "state_dict", "load_state_dict", "save", "print", "format", "items", "keys", "values", "get",
    }
)
