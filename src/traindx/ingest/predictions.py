"""Predictions and confusion matrices: per-example (true, predicted) labels, or counts.

Reads CSV/TSV/JSONL files whose columns (or keys) name the true and the predicted
class (``y_true``/``label``/``target``... and ``y_pred``/``prediction``...), and
JSON files holding a ``confusion_matrix`` (rows true, columns predicted) with
optional ``labels``. The result is a confusion matrix per file, for the
per-class checks.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from ..run import Predictions
from .part import Part, ReadError, Source
from .textio import is_binary, read_text

NAME = "predictions"
RANK = 70

TRUE_KEYS = ("y_true", "true", "true_label", "label", "labels", "target", "gold", "ground_truth", "actual", "y", "truth")
PRED_KEYS = ("y_pred", "pred", "preds", "prediction", "predicted", "predicted_label", "pred_label", "y_hat", "yhat", "output")
_NAME_HINT = re.compile(r"pred|confusion|eval_out|outputs?\b", re.I)
MAX_CLASSES = 1000


def _pick(keys: list[str]) -> tuple[str, str] | None:
    low = {k.strip().lower(): k for k in keys}
    t = next((low[k] for k in TRUE_KEYS if k in low), None)
    p = next((low[k] for k in PRED_KEYS if k in low), None)
    return (t, p) if t and p and t != p else None


def sniff(path: Path, head: bytes) -> float:
    if is_binary(head):
        return 0.0
    ext = path.suffix.lower()
    text = head.decode("utf-8", "replace")
    if ext in (".csv", ".tsv"):
        first = text.splitlines()[0] if text else ""
        sep = "\t" if ext == ".tsv" or first.count("\t") > first.count(",") else ","
        return 0.95 if _pick([c for c in first.split(sep)]) else 0.0
    if ext in (".jsonl", ".ndjson"):
        first = text.splitlines()[0] if text else ""
        try:
            rec = json.loads(first)
        except ValueError:
            return 0.0
        return 0.95 if isinstance(rec, dict) and _pick(list(rec)) else 0.0
    if ext == ".json" and "confusion_matrix" in text:
        return 0.95
    return 0.0


def _order(labels: set[str]) -> list[str]:
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def _counts(pairs: list[tuple[str, str]]) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...]]:
    labels = _order({t for t, _ in pairs} | {p for _, p in pairs})
    if len(labels) > MAX_CLASSES:
        raise ReadError(f"{len(labels)} distinct labels: not a classification output")
    idx = {lab: i for i, lab in enumerate(labels)}
    m = [[0] * len(labels) for _ in labels]
    for t, p in pairs:
        m[idx[t]][idx[p]] += 1
    return tuple(labels), tuple(tuple(r) for r in m)


def _label(v: object) -> str:
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return str(v).strip()


def read(src: Source) -> Part:
    part = Part(src, NAME, format="predictions")
    text = read_text(src.path, part)
    ext = src.path.suffix.lower()
    pairs: list[tuple[str, str]] = []
    if ext in (".csv", ".tsv"):
        first = text.splitlines()[0] if text else ""
        sep = "\t" if ext == ".tsv" or first.count("\t") > first.count(",") else ","
        rows = csv.DictReader(io.StringIO(text), delimiter=sep)
        cols = _pick(rows.fieldnames or [])
        if cols is None:
            return part
        for i, row in enumerate(rows, start=2):
            t, p = row.get(cols[0]), row.get(cols[1])
            if t is None or p is None or t == "" or p == "":
                part.issue("row without a true or predicted label", i)
                continue
            pairs.append((_label(t), _label(p)))
    elif ext in (".jsonl", ".ndjson"):
        cols = None
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                part.issue("not valid JSON", i)
                continue
            if not isinstance(rec, dict):
                continue
            cols = cols or _pick(list(rec))
            if cols and cols[0] in rec and cols[1] in rec:
                pairs.append((_label(rec[cols[0]]), _label(rec[cols[1]])))
    else:
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ReadError(f"not valid JSON ({e})") from None
        cm = data.get("confusion_matrix") if isinstance(data, dict) else None
        if not (isinstance(cm, list) and cm and all(isinstance(r, list) and len(r) == len(cm) for r in cm)):
            raise ReadError("confusion_matrix is not a square list of lists")
        labels = data.get("labels") or [str(i) for i in range(len(cm))]
        if len(labels) != len(cm):
            raise ReadError(f"{len(labels)} labels for a {len(cm)}x{len(cm)} confusion matrix")
        line = next((i for i, ln in enumerate(text.splitlines(), start=1) if "confusion_matrix" in ln), None)
        part.predictions.append(Predictions(src.display, tuple(str(x) for x in labels), tuple(tuple(int(v) for v in r) for r in cm), line))
        return part
    if pairs:
        labels, counts = _counts(pairs)
        part.predictions.append(Predictions(src.display, labels, counts, None))
    return part
