"""Symptoms the user states ("Loss diverged at epoch 7"): parsed, then confirmed or refuted.

A stated symptom is never assumed: it is confirmed when a check found the
same thing near the stated position, refuted when the logged data cover that
position and show otherwise, and "not checkable" when the data do not reach
it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .checks.evidence import at
from .findings import Evidence, Symptom, UserSymptom
from .run import Run, Series, fmt_num, fmt_step

_POS = re.compile(r"\b(epoch|ep|step|iteration|iter|it|update|batch)s?\s*#?\s*(\d+(?:\.\d+)?)", re.I)
# "at 3000" is a position (an integer step), unless it states a level: "stuck at 2", "plateaus at 7"
_POS_AT = re.compile(r"(?<!stuck )(?<!stays )(?<!stay )(?<!plateaus )(?<!plateaued )(?<!plateau )\b(?:at|after|around|from|near)\s+(\d+)\b(?!\.\d)", re.I)

DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("nan", r"\bnan\b|\binf\b|infinit|not a number"),
    ("overfit", r"overfit|over-fit|memori[sz]"),
    ("flat", r"stuck|plateau|flat|not (?:decreas|learn|improv|chang|go(?:ing)? down|mov)|no change|doesn'?t (?:decreas|learn|improv|chang)|never learn|constant|same (?:value|loss)"),
    ("up", r"diverg|explod|blew up|blow(?:s|ing)? up|spik|increas|ris(?:e|es|ing)|rose|went up|goes up|going up|jump|climb|skyrocket"),
    ("down", r"drop|decreas|fell|fall|declin|went down|goes down|degrad|worse"),
    ("failed", r"fail|crash|die[sd]?|stopp?ed|broke|error"),
)


@dataclass(frozen=True)
class Parsed:
    metric: str | None
    direction: str | None
    position: float | None
    unit: str | None  # "epoch" or "step"

    def to_dict(self) -> dict:
        return {"metric": self.metric, "direction": self.direction, "position": self.position, "unit": self.unit}


def parse(text: str) -> Parsed:
    low = text.lower()
    metric: str | None = None
    if re.search(r"\b(val(?:idation)?|eval(?:uation)?|dev|held[- ]?out)\b[\w ]{0,12}\b(loss|ppl|perplexity)", low):
        metric = "loss/val"
    elif re.search(r"\btest\b[\w ]{0,12}\bloss", low):
        metric = "loss/test"
    elif re.search(r"\b(val(?:idation)?|eval|test)\w*\s+acc", low):
        metric = "accuracy/val"
    elif re.search(r"grad(?:ient)?s?\b|grad[_ ]norm", low):
        metric = "grad_norm"
    elif re.search(r"\bloss|\bppl\b|perplexity", low):
        metric = "loss/train"
    elif re.search(r"\bacc(?:uracy)?\b", low):
        metric = "accuracy/train"
    elif re.search(r"output|sample|generat|token|mode collapse", low):
        metric = "outputs"
    direction = None
    for name, pat in DIRECTIONS:
        if re.search(pat, low):
            direction = name
            break
    if metric is None and direction in ("nan", "flat", "up", "overfit", "failed"):
        metric = "loss/train" if direction != "overfit" else "loss/val"
    position = unit = None
    m = _POS.search(text)
    if m:
        word = m.group(1).lower()
        unit = "epoch" if word.startswith("ep") else "step"
        position = float(m.group(2))
    else:
        m2 = _POS_AT.search(text)
        if m2:
            unit, position = "step", float(m2.group(1))
    return Parsed(metric, direction, position, unit)


# symptom ids a stated symptom can be confirmed by, per (direction, metric family)
def _candidates(p: Parsed) -> tuple[str, ...]:
    d, m = p.direction, p.metric or ""
    if d == "nan":
        return ("nan_inf",)
    if d == "overfit":
        return ("val_loss_rising", "train_val_gap", "loss_at_zero")
    if d == "flat":
        return ("loss_plateau", "loss_at_zero")
    if d == "up":
        if m.startswith("loss/val") or m.startswith("loss/test"):
            return ("val_loss_rising", "loss_divergence")
        if m == "grad_norm":
            return ("gradient_explosion", "loss_divergence", "nan_inf")
        return ("loss_divergence", "nan_inf", "loss_spike")
    if d == "failed":
        return ("nan_inf", "loss_divergence", "oom_error")
    if d == "down":
        return ("metric_drop", "loss_at_zero")
    return ()


def _epoch_to_step(run: Run, epoch: float) -> float | None:
    """The first step whose epoch is at least ``epoch`` (epochs as the run logged them)."""
    candidates: list[Series] = []
    ep = run.get("epoch")
    if ep is not None and ep.step_unit == "step":
        candidates.append(ep.finite_part())
    for s in run.series.values():
        if s.epochs is not None and s.step_unit == "step":
            e = s.epochs
            mask = np.isfinite(e)
            if mask.any():
                candidates.append(Series("epoch", s.steps[mask], e[mask], s.source, "epoch"))
    for c in candidates:
        if not len(c):
            continue
        idx = np.flatnonzero(c.values >= epoch - 1e-9)
        if idx.size:
            return float(c.steps[idx[0]])
    return None


def _position_in(series: Series, p: Parsed, run: Run) -> float | None:
    """The stated position in the series' own unit (None when it cannot be mapped)."""
    if p.position is None:
        return None
    if p.unit == series.step_unit or p.unit is None:
        return p.position
    if p.unit == "epoch" and series.step_unit == "step":
        return _epoch_to_step(run, p.position)
    return None


def _tolerance(series: Series) -> float:
    span = float(series.steps[-1] - series.steps[0]) if len(series) > 1 else 1.0
    return max(span * 0.1, 1.0)


def check_user_symptom(text: str, run: Run, symptoms: list[Symptom]) -> UserSymptom:
    p = parse(text)
    parsed = p.to_dict()
    if p.metric == "outputs":
        deg = next((s for s in symptoms if s.id in ("degenerate_outputs", "mode_collapse")), None)
        if deg is not None:
            return UserSymptom(text, "confirmed", f"{deg.id}: {deg.summary}", parsed, deg.evidence[:3])
        if run.samples:
            return UserSymptom(text, "refuted", f"{len(run.samples)} generated samples were read and none is degenerate (one character, word or phrase repeated)", parsed)
        return UserSymptom(text, "not checkable", "statements about generated outputs need samples (samples.txt or generations JSONL); none were read", parsed)
    if p.direction is None:
        return UserSymptom(text, "not checkable", "could not tell what the statement claims happened (rose, fell, stuck, NaN, overfit)", parsed)
    cands = _candidates(p)
    found = [s for s in symptoms if s.id in cands and (p.metric is None or s.metric is None or s.metric == p.metric or p.direction in ("nan", "overfit", "failed") or s.id in ("nan_inf",))]
    found.sort(key=lambda s: cands.index(s.id))
    series = run.get(p.metric) if p.metric else None
    if found:
        s = found[0]
        pos_note = ""
        if p.position is not None and s.step is not None:
            ref = run.get(s.metric) if s.metric else series
            stated = _position_in(ref, p, run) if ref is not None else None
            if stated is not None and ref is not None:
                if abs(stated - s.step) <= _tolerance(ref):
                    pos_note = f"; the data place it at {s.step_unit} {fmt_step(s.step)}, matching the stated {p.unit} {fmt_step(p.position)}"
                else:
                    pos_note = f"; the data place its onset at {s.step_unit} {fmt_step(s.step)}, not at the stated {p.unit} {fmt_step(p.position)}"
        return UserSymptom(text, "confirmed", f"{s.id}: {s.summary}{pos_note}", parsed, s.evidence[:3])
    # no matching finding: refute from the data when the data cover the statement
    if series is None or not len(series):
        need = p.metric or "the metric"
        return UserSymptom(text, "not checkable", f"no {need} series was read, so the statement cannot be checked", parsed)
    fin = series.finite_part()
    if not len(fin):
        return UserSymptom(text, "not checkable", f"{series.name} has no finite values", parsed)
    pos = _position_in(fin, p, run)
    if p.position is not None and pos is None:
        return UserSymptom(text, "not checkable", f"the {p.unit} {fmt_step(p.position)} cannot be mapped onto {series.name}, which is logged per {fin.step_unit}", parsed)
    if pos is not None and not (float(fin.steps[0]) - _tolerance(fin) <= pos <= float(fin.steps[-1]) + _tolerance(fin)):
        return UserSymptom(
            text,
            "not checkable",
            f"{series.name} is logged from {at(fin, 0)} to {at(fin, len(fin) - 1)}; the stated {p.unit} {fmt_step(p.position or 0)} is outside it",
            parsed,
        )
    # describe what the curve did around the stated position (or over the run)
    if pos is not None:
        i = int(np.clip(np.searchsorted(fin.steps, pos), 0, len(fin) - 1))
        lo, hi = max(0, i - 3), min(len(fin) - 1, i + 3)
    else:
        lo, hi = 0, len(fin) - 1
    a, b = float(fin.values[lo]), float(fin.values[hi])
    change = (b - a) / abs(a) if a else math.inf
    ev = [
        Evidence(f"{fin.source_name} {fmt_num(a)} at {at(fin, lo)}", fin.where(lo), float(fin.steps[lo])),
        Evidence(f"{fin.source_name} {fmt_num(b)} at {at(fin, hi)}", fin.where(hi), float(fin.steps[hi])),
    ]
    checks_done = ", ".join(sorted(set(cands))) or "the checks"
    return UserSymptom(
        text,
        "refuted",
        f"{series.name} went {fmt_num(a)} -> {fmt_num(b)} ({change * 100:+.0f}%) from {at(fin, lo)} to {at(fin, hi)}; no {checks_done} finding in the data",
        parsed,
        ev,
    )
