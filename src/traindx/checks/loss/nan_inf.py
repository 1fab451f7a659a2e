"""TDX103 nan_inf: a metric became NaN or infinite, or the loss saturated at a float limit."""

from __future__ import annotations

import math

import numpy as np

from ...findings import Evidence, Symptom, severity_rank
from ...run import Run, Series, display_name, fmt_num, fmt_step
from ..evidence import at
from ..registry import check

# -ln(FLT_MIN): Caffe's softmax loss clamps the true-class probability at FLT_MIN,
# so a loss pinned at this value means that probability underflowed to 0.
CAFFE_SATURATED_LOSS = -math.log(1.17549435e-38)

# series where a NaN means the training itself is broken
CORE_SERIES = ("loss/train", "loss/val", "loss/test", "grad_norm", "grad_norm/pre_clip", "grad_norm/post_clip")


def _lead_up(s: Series, i: int, window: int) -> tuple[str, dict]:
    """What the series did over the ``window`` finite points before its first non-finite value."""
    before = s.values[:i]
    steps = s.steps[:i]
    fin = np.isfinite(before)
    before, steps = before[fin], steps[fin]
    if before.size < 3:
        return "too few points before it to see a lead-up", {"lead_change": None}
    seg = before[-window:]
    k = max(1, seg.size // 4)
    start_level = float(np.median(seg[:k]))
    end_level = float(before[-1])
    change = (end_level - start_level) / abs(start_level) if start_level else 0.0
    word = "epoch" if s.step_unit == "epoch" else "step"
    span = f"{word}s {fmt_step(float(steps[-seg.size]))}-{fmt_step(float(steps[-1]))}"
    if change > 0.5:
        txt = f"climbed {fmt_num(start_level)} -> {fmt_num(end_level)} ({change * 100:+.0f}%) over {span} before it"
    elif change < -0.5:
        txt = f"fell {fmt_num(start_level)} -> {fmt_num(end_level)} ({change * 100:+.0f}%) over {span} before it"
    else:
        txt = f"was steady before it ({fmt_num(start_level)} -> {fmt_num(end_level)}, {change * 100:+.0f}% over {span}): no lead-up"
    return txt, {"lead_change": change, "lead_start": start_level, "lead_end": end_level}


@check(code="TDX103", emits="nan_inf")
def nan_inf(run: Run, *, lead_window: int = 20, saturation_tolerance: float = 1e-3) -> list[Symptom]:
    """A logged metric became NaN or infinite.

    ## Symptom
    The first non-finite value of every series that has one (loss, gradient
    norm, any metric), the last finite value before it, and whether the run
    recovered. Also found: anomaly-mode messages (``Function 'XBackward0'
    returned nan values``), non-zero NaN-iteration counters (Megatron), and a
    loss pinned at 87.3365 = -ln(FLT_MIN) (within ``saturation_tolerance``,
    0.1%), Caffe's clamp for a true-class probability that underflowed to zero.

    ## Why it matters
    Once a NaN reaches the weights every later step is wasted; the step and
    what led up to it (a climbing loss, a growing gradient norm, falling loss
    scale, or nothing at all) separate the causes.

    ## Evidence
    The first non-finite point of each series with its ``file:line``, the last
    finite value, the lead-up over the ``lead_window`` (20) points before it,
    and the number of non-finite points after it.

    ## Likely causes
    Too high a learning rate (after a climb), exploding gradients (after a
    grad-norm spike), fp16 overflow (after loss-scale halving), a numerically
    unsafe operation (log of 0, sqrt of a negative, division by a zero
    variance) when there is no precursor, or a bad batch.

    ## Fix
    Restart from the last checkpoint before the first NaN with the precursor's
    fix; with no precursor, find the operation with anomaly detection or the
    traindx probe and guard it (eps, clamping), or switch fp16 to bf16.

    ## Known false positives
    The word ``nan`` in counters (``number of nan iterations: 0``) and rate
    displays (``-nan iter/s``) is not a value; readers do not turn it into one.
    Placeholders such as nanoGPT's ``mfu -100.00%`` are finite and ignored here.
    An isolated non-finite gradient norm (at most 1% of the points, with finite
    values after it) is low severity: dynamic loss scaling skips such steps.
    """
    bad_series: list[tuple[Series, int, np.ndarray]] = []
    for name in sorted(run.series):
        # every copy of the metric counts: another file in the folder may be another run
        for s in [run.series[name], *run.alternates.get(name, [])]:
            bad = ~np.isfinite(s.values)
            if bad.any():
                bad_series.append((s, int(np.argmax(bad)), bad))
    anomalies = run.events_of("nan_anomaly")
    nan_counter = run.get("nan_steps")
    counted = nan_counter is not None and bool(np.nanmax(nan_counter.values) > 0) if nan_counter is not None and len(nan_counter) else False
    loss = run.get("loss/train")
    saturated_idx: np.ndarray | None = None
    if loss is not None and len(loss):
        sat = np.abs(loss.values - CAFFE_SATURATED_LOSS) < saturation_tolerance * CAFFE_SATURATED_LOSS
        if sat.any():
            saturated_idx = np.flatnonzero(sat)
    if not bad_series and not anomalies and not counted and saturated_idx is None:
        return []

    def prio(item: tuple[Series, int, np.ndarray]) -> tuple[int, float]:
        s = item[0]
        rank = CORE_SERIES.index(s.name) if s.name in CORE_SERIES else len(CORE_SERIES)
        return rank, float(s.steps[item[1]])

    bad_series.sort(key=prio)
    evidence: list[Evidence] = []
    data: dict = {"series": [], "anomalies": len(anomalies)}
    severity = "info"
    primary: Series | None = None
    first_step: float | None = None
    summary_parts: list[str] = []
    for s, i, bad in bad_series:
        n_bad = int(bad.sum())
        after = int(bad[i:].sum())
        total_after = int(bad.size - i)
        recovered = bool(np.isfinite(s.values[-1]))
        lead, lead_data = _lead_up(s, i, lead_window)
        word = "epoch" if s.step_unit == "epoch" else "step"
        j = i - 1
        while j >= 0 and not math.isfinite(float(s.values[j])):
            j -= 1
        last_ok = f"; last finite value {fmt_num(float(s.values[j]))} at {at(s, j)}" if j >= 0 else ""
        evidence.append(
            Evidence(
                text=f"{s.source_name} is {s.values[i]} at {word} {fmt_step(float(s.steps[i]))} "
                f"(first non-finite value; {after} of the {total_after} points from there are non-finite){last_ok}",
                source=s.where(i),
                step=float(s.steps[i]),
            )
        )
        evidence.append(Evidence(text=f"{s.source_name} {lead}", source=s.where(max(j, 0)), step=float(s.steps[max(j, 0)])))
        isolated = recovered and n_bad <= max(1, int(0.01 * bad.size))
        if s.name.startswith("loss/"):
            sev = "critical" if (not recovered or n_bad > 0.1 * bad.size) else "high"
        elif s.name in CORE_SERIES:
            # an isolated non-finite gradient norm is a step the fp16 loss scaler skipped
            sev = "critical" if (not recovered and n_bad > 1) else ("low" if isolated else "high")
        else:
            sev = "medium" if not recovered else "low"
        if severity_rank(sev) > severity_rank(severity):
            severity = sev
        if primary is None:
            primary, first_step = s, float(s.steps[i])
        copies = sum(1 for t in bad_series if t[0].name == s.name)
        where = f" in {s.source}" if copies > 1 else ""
        summary_parts.append(f"{display_name(s.name)}{where} non-finite from {word} {fmt_step(float(s.steps[i]))}" + ("" if recovered else " to the end"))
        data["series"].append(
            {"name": s.name, "first_step": float(s.steps[i]), "count": n_bad, "recovered": recovered, **lead_data}
        )
    # a zero loss alongside a NaN gradient norm: the loss is being masked, not learned
    if primary is not None and primary.name.startswith("grad_norm"):
        # the loss logged in the same file as the NaN gradient norm
        loss = next((c for c in [run.get("loss/train"), *run.alternates.get("loss/train", [])] if c is not None and c.source == primary.source), loss)
    if loss is not None and primary is not None and primary.name.startswith("grad_norm"):
        after = loss.values[loss.steps >= (first_step or 0)]
        if after.size >= 2 and np.all(after[1:] == 0):
            evidence.append(
                Evidence(
                    text=f"training loss is exactly 0 at every logged step from the NaN gradient norm on ({after.size - 1} points)",
                    source=loss.where(int(np.searchsorted(loss.steps, first_step or 0)) + 1) if after.size > 1 else loss.where(0),
                    step=first_step,
                )
            )
            severity = "critical"
            data["zero_loss_with_nan_grad"] = True
    for ev in anomalies[:3]:
        evidence.append(Evidence(text=ev.text, source=ev.where, step=ev.step))
        severity = "critical"
        if first_step is None:
            first_step = ev.step
        summary_parts.append(f"anomaly detection: {ev.get('function') or 'a backward function'} returned NaN")
    if counted and nan_counter is not None:
        k = int(np.argmax(nan_counter.values > 0))
        evidence.append(
            Evidence(
                text=f"{nan_counter.source_name} = {fmt_num(float(nan_counter.values[k]))} at {at(nan_counter, k)}",
                source=nan_counter.where(k),
                step=float(nan_counter.steps[k]),
            )
        )
        if first_step is None:
            first_step = float(nan_counter.steps[k])
        severity = "high" if severity_rank(severity) < severity_rank("high") else severity
        summary_parts.append(f"{int(np.sum(nan_counter.values > 0))} logged intervals with NaN iterations")
    if saturated_idx is not None and loss is not None:
        k = int(saturated_idx[0])
        evidence.append(
            Evidence(
                text=f"training loss {fmt_num(float(loss.values[k]))} at {at(loss, k)} equals -ln(FLT_MIN) = 87.3365: "
                f"the true-class probability underflowed to 0 ({saturated_idx.size} of {len(loss)} points)",
                source=loss.where(k),
                step=float(loss.steps[k]),
            )
        )
        if k > 0:
            evidence.append(
                Evidence(
                    text=f"training loss {fmt_num(float(loss.values[k - 1]))} at {at(loss, k - 1)} before it",
                    source=loss.where(k - 1),
                    step=float(loss.steps[k - 1]),
                )
            )
        severity = "critical"
        if first_step is None or float(loss.steps[k]) < first_step:
            first_step = float(loss.steps[k])
        data["saturated"] = True
        summary_parts.append(f"training loss saturated at 87.3365 (-ln FLT_MIN) from {at(loss, k)}")
    metric = primary.name if primary is not None else ("loss/train" if saturated_idx is not None else None)
    unit = primary.step_unit if primary is not None else (loss.step_unit if loss is not None else "step")
    data["first_step"] = first_step
    return [
        Symptom(
            id="nan_inf",
            code="TDX103",
            severity=severity,
            summary="; ".join(summary_parts),
            metric=metric,
            step=first_step,
            step_unit=unit,
            evidence=evidence,
            data=data,
        )
    ]
