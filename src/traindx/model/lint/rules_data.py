"""Leakage before the split: a scaler, vectorizer, tokenizer or feature selector fitted on the
whole dataset, or the dataset normalized with its own statistics, before it is split.

Within each function (and the module body), statements are read in order. A
*fit* marks the names it reads (the data) and the names it assigns (the
transformed data) as tainted; names later computed from tainted names are
tainted too. A split (``train_test_split``, ``random_split``, ``KFold().split``,
``np.split``, slicing a tainted array into a ``*train*`` name, or into ``*train*`` /
``*test*`` / ``*val*`` names in a tuple) of a tainted name after the fit is the
finding, located at the fit.
"""

from __future__ import annotations

import ast
import re

from .findings import Finding
from .index import Index
from .names import call_name, dotted, last, names_in, snippet, targets_of

FITTED = re.compile(
    r"^(?:StandardScaler|MinMaxScaler|RobustScaler|MaxAbsScaler|Normalizer|QuantileTransformer|PowerTransformer|PCA|TruncatedSVD|"
    r"TfidfVectorizer|CountVectorizer|SimpleImputer|KNNImputer|IterativeImputer|SelectKBest|SelectPercentile|SelectFromModel|"
    r"VarianceThreshold|KBinsDiscretizer|TargetEncoder|Tokenizer|BertWordPieceTokenizer|ByteLevelBPETokenizer)$"
)
FIT_METHODS = frozenset({"fit", "fit_transform", "fit_on_texts", "train_from_iterator", "adapt"})
SPLITS = frozenset({"train_test_split", "random_split", "split"})
STATS = frozenset({"mean", "std", "var", "min", "max", "amin", "amax", "nanmean", "nanstd"})
TRAINISH = re.compile(r"train", re.IGNORECASE)
SPLIT_NAMES = re.compile(r"train|test|val|holdout", re.IGNORECASE)


def _scopes(ix: Index) -> list[list[ast.stmt]]:
    out = [list(ix.tree.body)]
    for n in ast.walk(ix.tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(list(n.body))
    return out


def _flat(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """Statements of a block in source order, descending into if/for/with/try but not into definitions."""
    out: list[ast.stmt] = []
    for s in stmts:
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        out.append(s)
        for field in ("body", "orelse", "finalbody"):
            sub = getattr(s, field, None)
            if isinstance(sub, list) and sub and isinstance(sub[0], ast.stmt):
                out.extend(_flat(sub))
        for h in getattr(s, "handlers", []) or []:
            out.extend(_flat(h.body))
    return out


def _slices(v: ast.expr) -> list[ast.Subscript]:
    """The slicings an assigned value holds: ``X[:800]``, or each of ``X[:800], X[800:]`` (nested tuples and lists too)."""
    if isinstance(v, ast.Subscript) and isinstance(v.slice, ast.Slice):
        return [v]
    if isinstance(v, (ast.Tuple, ast.List)):
        return [sub for e in v.elts for sub in _slices(e)]
    return []


def _sliced_split(s: ast.Assign, taint: dict[str, tuple[int, str]]) -> str | None:
    """The tainted array an assignment splits by slicing, or None.

    A slice of a tainted array bound to a ``*train*`` name is a split
    (``X_train = X[:800]``); in a tuple, a ``*test*``, ``*val*`` or ``*holdout*``
    name says so too (``X_tr, X_test = X[:800], X[800:]``). Shifted slices bound
    to other names (``inputs, targets = X[:-1], X[1:]``) are not a split.
    """
    parts = _slices(s.value)
    hit = [b for b in (dotted(sub.value) for sub in parts) if b and b in taint]
    if not hit:
        return None
    names = targets_of(s)
    split_names = TRAINISH if isinstance(s.value, ast.Subscript) else SPLIT_NAMES
    return hit[0] if any(split_names.search(t) for t in names) else None


def fit_before_split(ix: Index) -> list[Finding]:
    out: list[Finding] = []
    seen: set[int] = set()
    for block in _scopes(ix):
        stmts = _flat(block)
        fitters: set[str] = set()
        taint: dict[str, tuple[int, str]] = {}  # name -> (fit line, fit text)
        stats: dict[str, str] = {}  # name -> the array its statistic was taken of
        for s in stmts:
            calls = [n for n in ast.walk(s) if isinstance(n, ast.Call)]
            # the split: report the fit that came before it
            for c in calls:
                name = last(call_name(c, ix.imports))
                if name in SPLITS and (name != "split" or c.args):
                    hit = [dotted(a) for a in c.args if dotted(a) in taint]
                    if hit:
                        line, text = taint[hit[0] or ""]
                        if line not in seen:
                            seen.add(line)
                            out.append(Finding("fit_before_split", f"{text} (line {line}) learns from the whole dataset before {snippet(c, 50)} (line {c.lineno}) splits it: the held-out data leaks into training", line))
            if isinstance(s, ast.Assign):
                base = _sliced_split(s, taint)
                if base is not None:
                    line, text = taint[base]
                    if line not in seen:
                        seen.add(line)
                        out.append(Finding("fit_before_split", f"{text} (line {line}) learns from the whole dataset before {snippet(s, 50)} (line {s.lineno}) splits it: the held-out data leaks into training", line))
            # record fitters, fits and statistics
            if isinstance(s, ast.Assign) and isinstance(s.value, ast.Call) and FITTED.match(last(call_name(s.value, ix.imports))):
                fitters.update(t for t in targets_of(s))
            for c in calls:
                if not isinstance(c.func, ast.Attribute) or c.func.attr not in FIT_METHODS or not c.args:
                    continue
                obj = c.func.value
                ok = dotted(obj) in fitters or (isinstance(obj, ast.Call) and FITTED.match(last(call_name(obj, ix.imports))))
                if not ok:
                    continue
                data = [dotted(a) for a in c.args[:1] if dotted(a)]
                if not data or any(TRAINISH.search(d or "") for d in data):
                    continue  # fitted on the training split: the right way
                for d in data:
                    taint[d or ""] = (c.lineno, snippet(c, 50))
                for t in targets_of(s) if isinstance(s, ast.Assign) else []:
                    taint[t] = (c.lineno, snippet(c, 50))
            if isinstance(s, ast.Assign):
                tg = targets_of(s)
                v = s.value
                # mean = X.mean(0) -> a statistic of X
                if isinstance(v, ast.Call) and isinstance(v.func, ast.Attribute) and v.func.attr in STATS and dotted(v.func.value):
                    for t in tg:
                        stats[t] = dotted(v.func.value) or ""
                used = names_in(v)
                # X = (X - X.mean(0)) / X.std(0), or X = (X - mean) / std
                own_stats = {dotted(c.func.value) for c in ast.walk(v) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr in STATS}
                via_stats = {stats[u] for u in used if u in stats}
                arrays = (own_stats | via_stats) & used
                if arrays and not any(TRAINISH.search(a or "") for a in arrays) and isinstance(v, ast.BinOp):
                    for t in tg:
                        taint[t] = (s.lineno, snippet(s, 50))
                # propagate: Y = f(X) keeps X's taint
                src = [u for u in used if u in taint]
                if src and not (isinstance(v, ast.Call) and last(call_name(v, ix.imports)) in SPLITS):
                    for t in tg:
                        taint.setdefault(t, taint[src[0]])
    return out
