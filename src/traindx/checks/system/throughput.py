"""TDX605 throughput_drop: steps get slower (or throughput lower) and stay that way."""

from __future__ import annotations

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, Series, fmt_num
from ..evidence import at
from ..registry import check

# series where larger is slower, and series where larger is faster
TIME_SERIES = ("step_time", "step_time_ms", "epoch_time", "data_wait", "data_time")
RATE_SERIES = ("throughput", "samples_per_sec", "iters_per_sec", "tflops_per_gpu", "mfu", "updates_per_sec")


def _regular(s: Series, min_points: int, max_gap_ratio: float) -> bool:
    """Enough points, logged at roughly even intervals (not excerpts from different moments)."""
    if len(s) < min_points:
        return False
    gaps = np.diff(s.steps)
    med = float(np.median(gaps)) if gaps.size else 0.0
    return med > 0 and float(np.percentile(gaps, 95)) <= max_gap_ratio * med


def _pick(run: Run, min_points: int, max_gap_ratio: float) -> tuple[Series, bool] | None:
    for name in TIME_SERIES:
        s = run.get(name)
        if s is not None and _regular(s, min_points, max_gap_ratio):
            return s, True
    for name in RATE_SERIES:
        s = run.get(name)
        if s is not None and _regular(s, min_points, max_gap_ratio):
            return s, False
    return None


@check(code="TDX605", emits="throughput_drop")
def throughput_drop(
    run: Run,
    *,
    sustained: float = 0.10,
    high: float = 0.30,
    outlier_sigmas: float = 3.0,
    warmup_fraction: float = 0.05,
    min_points: int = 20,
    max_gap_ratio: float = 10.0,
) -> list[Symptom]:
    """Training gets slower and stays slower; or single steps take far longer than the rest.

    ## Symptom
    On the step time (or a throughput series, where lower is slower), after
    the first ``warmup_fraction`` (5%) of the run: the median of the last
    quarter is at least ``sustained`` (10%) slower than the median of the
    first quarter (``high``, 30%, makes it high severity). Isolated steps more
    than ``outlier_sigmas`` (3) robust sigmas slower than the median
    (SageMaker Debugger's StepOutlier) are reported at low severity: periodic
    evaluation and checkpoint steps look like that.

    ## Why it matters
    A run that slows down costs time and money, and a sudden sustained drop
    often means a hardware or data problem (a slow node, a throttled GPU, a
    data loader that cannot keep up).

    ## Evidence
    The first and last quarters' medians, the slowest steps, with
    ``file:line``.

    ## Likely causes
    Data loading (too few workers, slow storage), memory pressure and
    swapping, thermal throttling, a slow rank in distributed training, growing
    sequence lengths.

    ## Fix
    Profile a slow step; raise DataLoader workers and prefetching; check the
    node's health.

    ## Known false positives
    Steps that include evaluation or checkpointing are slower by design; they
    are outliers, not a sustained drop. Only series with at least
    ``min_points`` (20) points logged at roughly even intervals (the 95th
    percentile gap at most ``max_gap_ratio``, 10x, the median gap) are judged:
    excerpts from different moments of a run compare different settings.
    """
    picked = _pick(run, min_points, max_gap_ratio)
    if picked is None:
        return []
    s, slower_is_higher = picked
    fin = s.finite_part()
    x = fin.values
    n = len(fin)
    a = int(n * warmup_fraction)
    x2 = x[a:]
    if x2.size < 8:
        return []
    q = max(2, x2.size // 4)
    first, last = float(np.median(x2[:q])), float(np.median(x2[-q:]))
    if first <= 0 or last <= 0:
        return []
    change = (last - first) / first if slower_is_higher else (first - last) / first
    what = "step time" if slower_is_higher else fin.source_name
    if change >= sustained:
        return [
            Symptom(
                id="throughput_drop",
                code="TDX605",
                severity="high" if change >= high else "medium",
                summary=f"{what} {'rose' if slower_is_higher else 'fell'} {change * 100:.0f}% and stayed: median {fmt_num(first)} over the first quarter, {fmt_num(last)} over the last",
                metric=fin.name,
                step=float(fin.steps[a + x2.size - q]),
                step_unit=fin.step_unit,
                evidence=[
                    Evidence(f"{fin.source_name} median {fmt_num(first)} over {at(fin, a)}-{at(fin, a + q - 1)}", fin.where(a), float(fin.steps[a])),
                    Evidence(f"{fin.source_name} median {fmt_num(last)} over {at(fin, n - q)}-{at(fin, n - 1)}", fin.where(n - 1), float(fin.steps[n - 1])),
                ],
                data={"kind": "sustained", "change": change, "onset_step": float(fin.steps[a + x2.size - q])},
            )
        ]
    med = float(np.median(x2))
    sig = float(np.median(np.abs(x2 - med))) * 1.4826
    if sig <= 0:
        return []
    slow = np.flatnonzero((x2 - med) / sig >= outlier_sigmas) if slower_is_higher else np.flatnonzero((med - x2) / sig >= outlier_sigmas)
    if slow.size == 0:
        return []
    worst = int(slow[np.argmax(np.abs(x2[slow] - med))]) + a
    return [
        Symptom(
            id="throughput_drop",
            code="TDX605",
            severity="low",
            summary=f"{slow.size} step{'s' if slow.size != 1 else ''} more than {outlier_sigmas:.0f} sigmas slower than the median {fmt_num(med)}; the worst {fmt_num(float(x[worst]))} at {at(fin, worst)}",
            metric=fin.name,
            step=float(fin.steps[worst]),
            step_unit=fin.step_unit,
            evidence=[Evidence(f"{fin.source_name} {fmt_num(float(x[worst]))} at {at(fin, worst)} (median {fmt_num(med)})", fin.where(worst), float(fin.steps[worst]))],
            data={"kind": "outliers", "count": int(slow.size), "onset_step": float(fin.steps[worst])},
        )
    ]
