"""TDX603 loss_scale_collapse: the fp16 loss scale keeps halving and never regrows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, fmt_num, fmt_step
from ..registry import check


@dataclass(frozen=True)
class ScalePoint:
    order: tuple[float, str, int]  # (step or inf, source, line) for a stable order
    step: float | None
    scale: float
    where: str
    text: str


def trajectory(run: Run) -> list[ScalePoint]:
    """The loss scale over the run: logged scale values and the values overflow messages set."""
    pts: list[ScalePoint] = []
    s = run.get("loss_scale")
    if s is not None and len(s):
        # only the points where the scale changes (and the two ends) matter: a million-step log
        # holds a few hundred changes at most
        v = s.values
        fin = np.isfinite(v)
        idx = np.flatnonzero(fin)
        if idx.size:
            fv = v[idx]
            keep = np.ones(idx.size, dtype=bool)
            keep[1:-1] = (fv[1:-1] != fv[:-2]) | (fv[1:-1] != fv[2:])
            for i in idx[keep]:
                i = int(i)
                val, st = float(v[i]), float(s.steps[i])
                line = int(s.lines[i]) if s.lines is not None else 0
                pts.append(ScalePoint((st, s.source, line), st, val, s.where(i), f"loss scale {fmt_num(val)}"))
    for e in run.events_of("loss_scale_overflow"):
        to = e.get("to")
        if to is None:
            continue
        st = e.step
        pts.append(ScalePoint((st if st is not None else math.inf, e.source, e.line or 0), st, float(to), e.where, e.text[:200]))
    if len({p.order[1] for p in pts}) == 1:
        pts.sort(key=lambda p: p.order[2])  # one file: its line order is the time order
    else:
        pts.sort(key=lambda p: p.order)
    return pts


def _halvings_run(scales: list[float]) -> tuple[int, int, int]:
    """(longest run of consecutive decreases, its start, its end) in the scale sequence."""
    best = (0, 0, 0)
    i = 0
    while i < len(scales) - 1:
        j = i
        while j < len(scales) - 1 and scales[j + 1] < scales[j]:
            j += 1
        if j - i > best[0]:
            best = (j - i, i, j)
        i = j + 1 if j > i else i + 1
    return best


@check(code="TDX603", emits="loss_scale_collapse")
def loss_scale_collapse(
    run: Run,
    *,
    min_halvings: int = 5,
    collapse_factor: float = 32.0,
    drop_factor: float = 8.0,
    startup_fraction: float = 0.05,
) -> list[Symptom]:
    """The mixed-precision loss scale collapses: repeated halving without regrowth, down to its floor.

    ## Symptom
    From the logged loss scale and the overflow messages (DeepSpeed, Apex,
    fairseq, Megatron): the scaler reached its minimum (an explicit
    "minimum loss scale reached" / "already at minimum" error), or the scale
    fell below 1, or after the start-up phase (the first ``startup_fraction``,
    5%, of the logged steps) it halved at least ``min_halvings`` (5) times in a
    row and ended ``collapse_factor`` (32x) or more below its peak without
    growing back. A fall of ``drop_factor`` (8x) or more after start-up that is
    not a collapse is reported at medium severity.

    ## Why it matters
    Dynamic loss scaling halves the scale on every overflowing step and skips
    that step; it regrows x2 every 2,000 clean steps (GradScaler's defaults).
    A scale that keeps falling means every step overflows: the run skips its
    updates, then stops or produces NaN.

    ## Evidence
    The scale at its peak and at the end (or the floor message), the run of
    halvings with its first and last message, ``file:line`` and steps.

    ## Likely causes
    Values that overflow fp16 (activations or gradients growing: LR too high,
    attention logits), a loss computed in fp16, bad data.

    ## Fix
    Train in bf16; otherwise lower the LR, clip gradients, and keep softmax,
    normalization and the loss in fp32.

    ## Known false positives
    The start-up calibration, where the scaler walks down from 2^16 or 2^32
    in the first steps and then holds (corpus cases 20 and 27), is normal
    dynamic loss scaling and is not reported.
    """
    floor = run.events_of("loss_scale_min")
    all_pts = trajectory(run)
    if not floor and len(all_pts) < 3:
        return []
    # one trajectory per file: scales from different files are different runs
    by_file: dict[str, list[ScalePoint]] = {}
    for p in all_pts:
        by_file.setdefault(p.order[1], []).append(p)
    pts = max(by_file.values(), key=lambda ps: (min(q.scale for q in ps) < 1.0, len(ps))) if by_file else []
    steps = [p.step for p in pts if p.step is not None]
    last_step = max(steps) if steps else None
    startup_end = startup_fraction * last_step if last_step else None

    def after_startup(p: ScalePoint) -> bool:
        if p.step is None or startup_end is None:
            return True
        return p.step > startup_end

    scales = [p.scale for p in pts]
    ev: list[Evidence] = []
    data: dict = {}
    severity = None
    summary = ""
    if floor:
        f = floor[-1]
        ev.append(Evidence(f.text[:300], f.where, f.step))
        severity = "critical"
        summary = "the loss scaler reached its minimum and the run stopped"
        data["floor"] = True
    # without steps, start-up cannot be told apart: only the floor or a scale below 1 count
    late = [p for p in pts if after_startup(p)] if steps else []
    if pts and min(scales) < 1.0:
        k = min(range(len(pts)), key=lambda i: scales[i])
        ev.append(Evidence(pts[k].text, pts[k].where, pts[k].step))
        severity = severity or "high"
        summary = summary or f"the loss scale fell below 1 (to {fmt_num(scales[k])}): gradients overflow fp16 even unscaled"
        data["min_scale"] = scales[k]
    if len(late) >= 2:
        ls = [p.scale for p in late]
        run_len, a, b = _halvings_run(ls)
        regrew = any(ls[j] > ls[j - 1] for j in range(b + 1, len(ls)))
        # the deepest fall below the running peak
        best_fall, fall_peak, fall_low = 1.0, 0, 0
        top = 0
        for i in range(len(ls)):
            if ls[i] > ls[top]:
                top = i
            r = ls[top] / max(ls[i], 1e-300)
            if r > best_fall:
                best_fall, fall_peak, fall_low = r, top, i
        fell = best_fall
        if run_len >= min_halvings and max(ls) / ls[-1] >= collapse_factor and not regrew:
            severity = severity or "high"
            summary = summary or f"the loss scale halved {run_len} times in a row after start-up, from {fmt_num(ls[a])} to {fmt_num(ls[b])}, and never grew back"
            ev.append(Evidence(late[a].text, late[a].where, late[a].step))
            ev.append(Evidence(late[b].text, late[b].where, late[b].step))
            data.update({"halvings": run_len, "from": ls[a], "to": ls[b]})
        elif fell >= drop_factor and severity is None:
            grew_back = any(ls[j] > ls[fall_low] for j in range(fall_low + 1, len(ls)))
            severity = "medium"
            summary = f"the loss scale fell {fell:.0f}x after start-up, from {fmt_num(ls[fall_peak])} to {fmt_num(ls[fall_low])}" + (" and grew back later" if grew_back else "")
            ev.append(Evidence(late[fall_peak].text, late[fall_peak].where, late[fall_peak].step))
            ev.append(Evidence(late[fall_low].text, late[fall_low].where, late[fall_low].step))
            data.update({"drop": fell, "grew_back": grew_back})
    if severity is None:
        return []
    n_over = len(run.events_of("loss_scale_overflow"))
    if n_over:
        summary += f" ({n_over} overflow messages)"
    first_step = next((e.step for e in ev if e.step is not None), None)
    data["overflows"] = n_over
    data["onset_step"] = first_step
    return [
        Symptom(
            id="loss_scale_collapse",
            code="TDX603",
            severity=severity,
            summary=summary + (f"; first at step {fmt_step(first_step)}" if first_step is not None else ""),
            metric="loss_scale",
            step=first_step,
            evidence=ev,
            data=data,
        )
    ]
