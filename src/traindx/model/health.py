"""What a checkpoint's weight values say: non-finite values, all-zero or constant tensors, huge
norms, and for matrices the rows that are all zero or equal to another row.

Values are read in chunks of rows (memory-mapped files are never loaded whole),
and a checkpoint larger than ``max_bytes`` is sampled: every k-th row of each
tensor, with the sampling noted on each entry (a NaN in a row that was not
read is then missed; the note says so).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .dtypes import FLOAT_DTYPES, to_float32
from .summary import ParamTensor, TensorHealth

CHUNK_ELEMENTS = 1 << 23  # ~32 MB of float32 per chunk
MAX_BYTES = 4 << 30  # read every value of checkpoints up to 4 GiB; sample larger ones

ValuesFn = Callable[[str], "np.ndarray | None"]


def analyze(tensors: list[ParamTensor], values: ValuesFn, *, max_bytes: int = MAX_BYTES) -> tuple[list[TensorHealth], list[str]]:
    """Health of every counted float tensor, and notes (sampling, unreadable dtypes)."""
    todo = [t for t in tensors if t.counted and t.dtype in FLOAT_DTYPES and t.numel > 0]
    total = sum(t.nbytes for t in todo)
    step = max(1, math.ceil(total / max_bytes)) if max_bytes > 0 else 1
    notes: list[str] = []
    if step > 1:
        notes.append(f"weights total {total / 2**30:.1f} GiB: every {step}th row of each tensor was read for the health checks (isolated NaN in rows not read are missed)")
    out: list[TensorHealth] = []
    skipped: list[str] = []
    for t in todo:
        raw = values(t.name)
        if raw is None:
            skipped.append(t.name)
            continue
        out.append(tensor_health(t, raw, row_step=step))
    if skipped:
        notes.append(f"{len(skipped)} tensor(s) in a dtype numpy cannot read were not checked (e.g. {skipped[0]})")
    return out, notes


def _rows_view(raw: np.ndarray) -> np.ndarray:
    if raw.ndim == 0:
        return raw.reshape(1, 1)
    if raw.ndim == 1:
        return raw.reshape(1, -1)
    return raw.reshape(raw.shape[0], -1)


def tensor_health(t: ParamTensor, raw: np.ndarray, *, row_step: int = 1) -> TensorHealth:
    """Statistics of one tensor's values (``raw`` as stored; BF16 as uint16)."""
    rows = _rows_view(raw)
    matrix = raw.ndim >= 2 and rows.shape[0] >= 2
    if row_step > 1:
        if matrix:
            rows = rows[::row_step]
        else:
            rows = rows[:, ::row_step]
    n_rows, n_cols = rows.shape
    per = max(1, CHUNK_ELEMENTS // max(1, n_cols))
    nan = inf = zeros = 0
    sumsq = 0.0
    max_abs = 0.0
    lo, hi = math.inf, -math.inf
    zero_rows = 0
    hashes: dict[int, int] = {}
    dup = 0
    seen = 0
    for start in range(0, n_rows, per):
        chunk = to_float32(np.asarray(rows[start : start + per]), t.dtype)
        if chunk is None:
            break
        seen += chunk.size
        finite = np.isfinite(chunk)
        if not finite.all():
            nan += int(np.isnan(chunk).sum())
            inf += int(np.isinf(chunk).sum())
            vals = np.where(finite, chunk, 0.0)
        else:
            vals = chunk
        absv = np.abs(vals)
        if absv.size:
            max_abs = max(max_abs, float(absv.max()))
            sumsq += float(np.square(vals, dtype=np.float64).sum())
            fin = chunk[finite]
            if fin.size:
                lo = min(lo, float(fin.min()))
                hi = max(hi, float(fin.max()))
        zmask = vals == 0
        zeros += int(zmask.sum()) - int((~finite).sum())
        if matrix:
            zero_rows += int((zmask.all(axis=1) & finite.all(axis=1)).sum())
            for r in np.ascontiguousarray(chunk):
                h = hash(r.tobytes())
                if h in hashes:
                    dup += 1
                else:
                    hashes[h] = 1
    finite_n = seen - nan - inf
    all_zero = seen > 0 and finite_n == seen and zeros == seen
    constant = finite_n == seen and seen > 1 and lo == hi and not all_zero
    sampled = f"every {row_step}th row" if row_step > 1 else ""
    return TensorHealth(
        name=t.name,
        numel=seen,
        nan=nan,
        inf=inf,
        all_zero=all_zero,
        constant=constant,
        value=lo if constant else None,
        rms=math.sqrt(sumsq / max(1, finite_n)),
        max_abs=max_abs,
        rows=n_rows if matrix else 0,
        zero_rows=zero_rows,
        duplicate_rows=dup if matrix else 0,
        sampled=sampled,
    )
