"""Normalized metric series for an agent: canonical names, numeric steps, downsampled with extremes kept.

The agent asks for a run's series instead of reading logs by eye. Each series
comes back under its canonical name (``loss/train``, ``grad_norm``...) with the
name and file it was read from, its step unit, statistics over every point in
the requested range (first, last, min and max with their steps and source lines,
counts of NaN and infinities), and the points themselves, reduced by the
extreme-preserving downsampler of the renderers (each bucket keeps its lowest
and highest point and its first non-finite point; the first and last points are
always kept), so a one-step spike or the first NaN survives any reduction.
Non-finite values are returned as ``null`` in ``values`` and counted in ``stats``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..render.downsample import keep_indices
from ..run import Run, Series
from . import AgentInputError, caps


def _num(v: float) -> float | int | None:
    if not math.isfinite(v):
        return None
    if v == int(v) and abs(v) < 2**53:
        return int(v)
    return float(f"{v:.7g}")


def resolve_name(run: Run, wanted: str) -> str | None:
    """The run's canonical series name for ``wanted``: canonical, as the file wrote it, any case, or through the name table."""
    from ..ingest.names import canonical

    if wanted in run.series:
        return wanted
    by_source = sorted(n for n, s in run.series.items() if s.source_name == wanted)
    if by_source:
        return by_source[0]
    lower = {n.lower(): n for n in run.series}
    if wanted.lower() in lower:
        return lower[wanted.lower()]
    mapped = canonical(wanted)
    return mapped if mapped in run.series else None


def unknown_metric(run: Run, wanted: str) -> AgentInputError:
    names = sorted(run.series)
    pool = names + sorted({s.source_name for s in run.series.values()})
    close = difflib.get_close_matches(wanted, pool, n=3, cutoff=0.5)
    if close:
        hint = f"did you mean {', '.join(close)}?"
    elif names:
        hint = f"the run has: {', '.join(names[:20])}" + (" ..." if len(names) > 20 else "")
    else:
        hint = "the run has no metric series"
    return AgentInputError(f"no series named {wanted!r}; {hint}")


def check_range(step_range: Sequence[float] | None) -> tuple[float, float] | None:
    if step_range is None:
        return None
    if len(step_range) != 2:
        raise AgentInputError(f"step_range must be [first, last] (two numbers), got {list(step_range)}")
    lo, hi = (float(x) for x in step_range)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise AgentInputError(f"step_range must be two finite numbers with first <= last, got [{lo:g}, {hi:g}]")
    return lo, hi


def _stats(s: Series) -> dict[str, Any]:
    v = s.values
    fin = np.isfinite(v)
    out: dict[str, Any] = {
        "first": _num(float(v[0])),
        "last": _num(float(v[-1])),
        "nan": int(np.isnan(v).sum()),
        "inf": int(np.isinf(v).sum()),
    }
    if fin.any():
        idx = np.flatnonzero(fin)
        i_min = int(idx[np.argmin(v[fin])])
        i_max = int(idx[np.argmax(v[fin])])
        out["min"] = {"value": _num(float(v[i_min])), "step": _num(float(s.steps[i_min])), "source": s.where(i_min)}
        out["max"] = {"value": _num(float(v[i_max])), "step": _num(float(s.steps[i_max])), "source": s.where(i_max)}
    if not fin.all():
        i_bad = int(np.flatnonzero(~fin)[0])
        out["first_nonfinite"] = {"value": str(float(v[i_bad])), "step": _num(float(s.steps[i_bad])), "source": s.where(i_bad)}
    return out


def series_view(s: Series, step_range: tuple[float, float] | None, max_points: int) -> dict[str, Any]:
    total = len(s)
    if step_range is not None:
        mask = (s.steps >= step_range[0]) & (s.steps <= step_range[1])
        s = s.subset(mask)
    view: dict[str, Any] = {
        "name": s.name,
        "source": s.source,
        "source_name": s.source_name,
        "step_unit": s.step_unit,
        "step_source": s.step_source,
        "points_in_series": total,
        "points_in_range": len(s),
    }
    if not len(s):
        view.update(returned=0, downsampled=False, steps=[], values=[])
        return view
    idx = keep_indices(s.values, max_points)
    view["returned"] = int(idx.shape[0])
    view["downsampled"] = bool(idx.shape[0] < len(s))
    view["stats"] = _stats(s)
    view["steps"] = [_num(float(x)) for x in s.steps[idx]]
    view["values"] = [_num(float(x)) for x in s.values[idx]]
    return view


def resolve_names(run: Run, metrics: Sequence[str]) -> list[str]:
    """The run's series names for the names a caller gave (aliases allowed), in order, once each;
    an unknown name raises with the names the run has."""
    names: list[str] = []
    for m in metrics:
        name = resolve_name(run, m)
        if name is None:
            raise unknown_metric(run, m)
        if name not in names:
            names.append(name)
    return names


def extract(run: Run, metrics: Sequence[str] | None = None, step_range: Sequence[float] | None = None, max_points: int = caps.DEFAULT_POINTS) -> dict[str, Any]:
    """The series named in ``metrics`` (all of them, up to :data:`caps.MAX_SERIES`, when None)."""
    if not 2 <= max_points <= caps.MAX_POINTS_PER_SERIES:
        raise AgentInputError(f"max_points must be between 2 and {caps.MAX_POINTS_PER_SERIES}, got {max_points}")
    rng = check_range(step_range)
    not_returned: list[str] = []
    if metrics:
        names = resolve_names(run, metrics)
    else:
        names = sorted(n for n, s in run.series.items() if len(s))
    if len(names) > caps.MAX_SERIES:
        not_returned = names[caps.MAX_SERIES :]
        names = names[: caps.MAX_SERIES]
    per_series = max(2, min(max_points, caps.MAX_TOTAL_POINTS // max(1, len(names))))
    out: dict[str, Any] = {
        "series": [series_view(run.series[n], rng, per_series) for n in names],
        "available": sorted(run.series),
        "points_per_series_cap": per_series,
    }
    if rng is not None:
        out["step_range"] = [_num(rng[0]), _num(rng[1])]
    if not_returned:
        out["not_returned"] = not_returned
    return out
