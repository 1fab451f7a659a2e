"""Names in a parsed module: import aliases, the dotted name a call refers to, and small AST helpers.

``import torch.nn.functional as F`` makes ``F.cross_entropy`` read as
``torch.nn.functional.cross_entropy``; ``from torch import nn`` makes
``nn.CrossEntropyLoss`` read as ``torch.nn.CrossEntropyLoss``. Nothing is imported:
the aliases come from the import statements of the file.
"""

from __future__ import annotations

import ast
from typing import Iterator


class Imports:
    """The import aliases of one module: local name -> full dotted name."""

    def __init__(self, tree: ast.Module) -> None:
        self.alias: dict[str, str] = {}
        self.modules: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.modules.add(a.name)
                    if a.asname:
                        self.alias[a.asname] = a.name
                    else:
                        self.alias.setdefault(a.name.split(".")[0], a.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module:
                self.modules.add(node.module)
                for a in node.names:
                    self.alias[a.asname or a.name] = f"{node.module}.{a.name}"

    def uses(self, *prefixes: str) -> bool:
        """Whether the module imports anything under one of ``prefixes`` (``transformers``, ``lightning``)."""
        return any(m == p or m.startswith(p + ".") for m in self.modules for p in prefixes)

    def resolve(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        full = self.alias.get(head)
        if full is None:
            return dotted
        return f"{full}.{rest}" if rest else full


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain; ``?.b.c`` when the chain starts at a call or subscript."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif parts:
        parts.append("?")
    else:
        return None
    return ".".join(reversed(parts))


def call_name(call: ast.Call, imports: Imports | None = None) -> str:
    """The dotted name a call refers to (aliases resolved), ``''`` when it has none."""
    d = dotted(call.func) or ""
    return imports.resolve(d) if imports is not None and d else d


def last(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def receiver(call: ast.Call) -> str:
    """The text of a method call's receiver (``self.optimizer`` for ``self.optimizer.step()``), or ''."""
    if isinstance(call.func, ast.Attribute):
        return dotted(call.func.value) or ast.unparse(call.func.value)
    return ""


def kwarg(call: ast.Call, *names: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg in names:
            return k.value
    return None


def number(node: ast.AST | None) -> float | None:
    """A numeric literal (``0.1``, ``-1e-3``, ``1e-3 * 2`` is not one)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = number(node.operand)
        return -v if v is not None else None
    return None


def names_in(node: ast.AST) -> set[str]:
    """Every plain name read in an expression."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def targets_of(stmt: ast.stmt) -> list[str]:
    """The names (or dotted attributes) an assignment binds."""
    out: list[str] = []
    tgts: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        tgts = list(stmt.targets)
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        tgts = [stmt.target]
    for t in tgts:
        for n in ast.walk(t):
            if isinstance(n, (ast.Name, ast.Attribute)) and not isinstance(getattr(n, "ctx", None), ast.Load):
                d = dotted(n)
                if d:
                    out.append(d)
    return out


def walk_no_defs(node: ast.AST) -> Iterator[ast.AST]:
    """Like ``ast.walk`` but without entering nested function, lambda or class bodies."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(n))


def calls_in(node: ast.AST) -> list[ast.Call]:
    """The calls under ``node`` in source order, nested definitions excluded."""
    got = [n for n in walk_no_defs(node) if isinstance(n, ast.Call)]
    if isinstance(node, ast.Call):
        got.append(node)
    got.sort(key=lambda c: (c.lineno, c.col_offset))
    return got


def snippet(node: ast.AST, limit: int = 80) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - unparse of an odd node
        return "?"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
