"""CSV/TSV metric files: Lightning ``metrics.csv``, Keras ``CSVLogger``, generic tables.

- Lightning's CSVLogger writes sparse rows: each row fills a subset of the
  columns, ``step`` is the 0-based count of optimizer steps done, ``epoch`` is a
  column too, and ``name_step``/``name_epoch`` columns are kept under their raw
  names (the name table maps them).
- Keras' CSVLogger writes ``epoch`` (0-based) first; Windows runs end lines
  with ``\\r\\r\\n``.
- Any other table with a step-like column (``step``, ``global_step``,
  ``iteration``...) or only ``epoch``; without either, the row ordinal is the
  step and is marked inferred.

A ``nan`` cell is a NaN value; an empty cell is no point. Columns that hold
text (paths, names) are ignored. Each point keeps the file line of its row.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Iterator

from . import names
from .part import Part, ReadError, Source
from .textio import is_binary, iter_lines, read_head

NAME = "csvlog"
RANK = 80

# Step-like columns, best first (compared lower-cased).
STEP_COLUMNS: tuple[str, ...] = (
    "step",
    "global_step",
    "trainer/global_step",
    "train/global_step",
    "_step",
    "num_updates",
    "iteration",
    "iter",
    "it",
    "update",
    "batch",
)
EPOCH_COLUMNS: tuple[str, ...] = ("epoch", "epochs")
IGNORED_COLUMNS = frozenset({"_timestamp", "_runtime", "timestamp", "date", "datetime", "wall_clock"})
MAX_ROW_ISSUES = 20

_IDENT = re.compile(r"^[\"']?[A-Za-z_][\w./\- ()\[\]@:%#]*[\"']?$")
_NUMBER = re.compile(r"^\s*[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf|infinity)\s*$", re.IGNORECASE)


def _delimiter(header: str, path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    counts = {d: header.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _looks_like_table(head: bytes) -> tuple[bool, str]:
    """(header of identifiers followed by numeric rows, delimiter)."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) < 2:
        return False, ","
    header = lines[0]
    for d in (",", "\t", ";"):
        cols = header.split(d)
        if len(cols) < 2 or not all(_IDENT.match(c.strip()) for c in cols):
            continue
        rows = lines[1:6] if len(lines) > 6 else lines[1:-1] or lines[1:2]
        ok = 0
        for row in rows:
            cells = row.split(d)
            if abs(len(cells) - len(cols)) > 0:
                break
            filled = [c for c in cells if c.strip()]
            if filled and sum(1 for c in filled if _NUMBER.match(c)) >= max(1, len(filled) // 2):
                ok += 1
        if ok and ok == len(rows):
            return True, d
    return False, ","


def _metric_like(columns: list[str]) -> bool:
    for c in columns:
        low = c.strip().lower()
        if low in STEP_COLUMNS or low in EPOCH_COLUMNS:
            return True
        if names.canonical(c.strip()) != c.strip():
            return True
    return False


def sniff(path: Path, head: bytes) -> float:
    if is_binary(head):
        return 0.0
    ext = path.suffix.lower()
    table, _ = _looks_like_table(head)
    if ext in (".csv", ".tsv"):
        first = head.decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0]
        cols = first.rstrip("\r").split(_delimiter(first, path))
        return 0.8 if _metric_like(cols) else 0.4
    if table:
        first = head.decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0]
        cols = first.rstrip("\r").split(_delimiter(first, path))
        return 0.7 if _metric_like(cols) else 0.3
    return 0.0


def _pick(columns: list[str], wanted: tuple[str, ...]) -> int | None:
    low = [c.strip().lower() for c in columns]
    for w in wanted:
        if w in low:
            return low.index(w)
    return None


def read(src: Source) -> Part:
    head = read_head(src.path)
    if is_binary(head):
        raise ReadError("binary content where a CSV table was expected")
    part = Part(src, NAME)
    consumed: list[int] = []

    def lines() -> Iterator[str]:
        for lineno, line in iter_lines(src.path, part):
            consumed.append(lineno)
            yield line

    first = head.decode("utf-8", errors="replace").lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    delim = _delimiter(first, src.path)
    try:
        rows = csv.reader(lines(), delimiter=delim)
        header: list[str] | None = None
        header_line = 0
        for row in rows:
            if row and any(c.strip() for c in row):
                header = [c.strip() for c in row]
                header_line = consumed[0]
                consumed.clear()
                break
            consumed.clear()
        if header is None:
            raise ReadError("empty file")
        if all(_NUMBER.match(c) for c in header if c):
            raise ReadError("no header row: the first row is numbers, so the columns have no names")
        _read_rows(part, header, header_line, rows, consumed)
    except csv.Error as e:
        raise ReadError(f"not a readable CSV table: {e}") from None
    return part


def _read_rows(part: Part, header: list[str], header_line: int, rows: Iterator[list[str]], consumed: list[int]) -> None:
    step_col = _pick(header, STEP_COLUMNS)
    epoch_col = _pick(header, EPOCH_COLUMNS)
    lowered = [h.lower() for h in header]
    if step_col is None and epoch_col is not None:
        part.step_unit = "epoch"
        part.format = "Keras CSVLogger" if epoch_col == 0 else "CSV table by epoch"
    elif step_col is not None:
        part.format = "Lightning CSVLogger metrics.csv" if part.source.path.name == "metrics.csv" and lowered[step_col] == "step" else "CSV table"
    else:
        part.step_source = "inferred"
        part.format = "CSV table (no step column)"
        if not _metric_like(header):
            part.issue("no step column and no known metric name in the header; not read as metrics", header_line)
            return
    skip = {i for i, h in enumerate(lowered) if h in STEP_COLUMNS or h in EPOCH_COLUMNS or h in IGNORED_COLUMNS or not h}
    metric_cols = [i for i in range(len(header)) if i not in skip]
    n_cols = len(header)
    bad_cells: dict[int, tuple[int, int]] = {}  # column -> (count, first line)
    good_cells: dict[int, int] = {}
    row_issues = 0
    last_step: float | None = None
    index = 0
    for row in rows:
        line = consumed[0] if consumed else 0
        consumed.clear()
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) != n_cols:
            row_issues += 1
            if row_issues <= MAX_ROW_ISSUES:
                part.issue(f"row has {len(row)} fields, the header has {n_cols}; " + ("extra fields ignored" if len(row) > n_cols else "missing fields empty"), line)
        step: float | None
        epoch = _cell(row, epoch_col)
        if step_col is not None:
            step = _cell(row, step_col)
            if step is None:
                step = last_step
        elif epoch_col is not None:
            step = epoch
        else:
            step = float(index)
        index += 1
        if step is None:
            row_issues += 1
            if row_issues <= MAX_ROW_ISSUES:
                part.issue("row has no step value and no earlier row gives one; skipped", line)
            continue
        last_step = step
        for i in metric_cols:
            if i >= len(row):
                break
            cell = row[i].strip()
            if not cell:
                continue
            try:
                v = float(cell)
            except ValueError:
                cnt, first = bad_cells.get(i, (0, line))
                bad_cells[i] = (cnt + 1, first)
                continue
            good_cells[i] = good_cells.get(i, 0) + 1
            part.point(header[i], step, v, line, epoch=epoch)
    if row_issues > MAX_ROW_ISSUES:
        part.issue(f"{row_issues - MAX_ROW_ISSUES} more malformed rows")
    for i, (cnt, first) in sorted(bad_cells.items()):
        if good_cells.get(i):  # a numeric column with stray text cells
            part.issue(f"column {header[i]!r}: {cnt} non-numeric cell(s) ignored", first)


def _cell(row: list[str], i: int | None) -> float | None:
    if i is None or i >= len(row):
        return None
    s = row[i].strip()
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        return None
