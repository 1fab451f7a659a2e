"""TDX604 memory_growth: memory use climbs steadily with the steps."""

from __future__ import annotations

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, Series, fmt_num
from ..evidence import at
from ..registry import check

MEMORY_PREFIXES = ("memory/", "mem/", "rss", "gpu_mem", "memory_")


def memory_series(run: Run) -> list[Series]:
    return [s for name, s in sorted(run.series.items()) if name.startswith(MEMORY_PREFIXES) and len(s) >= 2]


@check(code="TDX604", emits="memory_growth")
def memory_growth(run: Run, *, min_growth: float = 0.10, min_r2: float = 0.8, warmup_fraction: float = 0.1, min_points: int = 10) -> list[Symptom]:
    """Memory grows linearly with the steps: something is kept across iterations.

    ## Symptom
    A memory series (``memory/allocated``, ``memory/reserved``, ``memory/peak``,
    process RSS...) with at least ``min_points`` (10) points whose linear trend,
    after the first ``warmup_fraction`` (10%) of the run (allocators and caches
    grow at start-up), fits with R² of at least ``min_r2`` (0.8) and adds at
    least ``min_growth`` (10%) of the starting level over the run. SageMaker
    Debugger's GPUMemoryIncrease flags 5% over a window of 10; a whole-run
    linear fit is stricter and ignores short bursts.

    ## Why it matters
    Memory that grows with every step ends in an out-of-memory error, however
    long it takes.

    ## Evidence
    The memory at the start and the end of the fitted range, the growth per
    1,000 steps and the fit's R², with ``file:line``.

    ## Likely causes
    Losses or outputs accumulated as tensors (``total += loss`` without
    ``.item()``), a growing cache or list of tensors, graphs kept alive.

    ## Fix
    Accumulate Python numbers (``loss.item()``), ``detach()`` what is kept, and
    clear caches of tensors.

    ## Known false positives
    The allocator's warm-up and a cache that fills once then holds are
    excluded by the warm-up cut and the linear fit.
    """
    found = []
    for s in memory_series(run):
        fin = s.finite_part()
        n = len(fin)
        if n < min_points:
            continue
        a = int(n * warmup_fraction)
        x, y = fin.steps[a:], fin.values[a:]
        if x.size < min_points // 2 or float(np.ptp(x)) == 0:
            continue
        slope, icept = np.polyfit(x, y, 1)
        pred = slope * x + icept
        ss_res = float(np.sum((y - pred) ** 2))
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        r2 = 1 - ss_res / ss_tot if ss_tot > 0 else 0.0
        start = float(pred[0])
        growth = float(pred[-1] - pred[0]) / start if start > 0 else 0.0
        if slope > 0 and r2 >= min_r2 and growth >= min_growth:
            found.append((growth, r2, slope, fin, a))
    if not found:
        return []
    found.sort(key=lambda t: -t[0])
    growth, r2, slope, fin, a = found[0]
    n = len(fin)
    return [
        Symptom(
            id="memory_growth",
            code="TDX604",
            severity="high" if growth >= 0.5 else "medium",
            summary=f"{fin.source_name} grows linearly: +{growth * 100:.0f}% over the run ({fmt_num(float(slope) * 1000)} per 1,000 steps, R² {r2:.2f})",
            metric=fin.name,
            step=float(fin.steps[a]),
            step_unit=fin.step_unit,
            evidence=[
                Evidence(f"{fin.source_name} {fmt_num(float(fin.values[a]))} at {at(fin, a)}", fin.where(a), float(fin.steps[a])),
                Evidence(f"{fin.source_name} {fmt_num(float(fin.values[n - 1]))} at {at(fin, n - 1)}", fin.where(n - 1), float(fin.steps[n - 1])),
            ],
            data={"growth": growth, "r2": r2, "slope": float(slope), "onset_step": float(fin.steps[a])},
        )
    ]
