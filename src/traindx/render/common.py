"""What every renderer shares: wording, the marks a diagnosis puts on a curve, and what is missing.

The marks are read from the symptoms (their step and the steps in their data:
the onset, the best step, the first non-finite value, each spike), so the
terminal sparkline, the PNG plots and the HTML chart all point at the same
places, with the same words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..diagnosis import Diagnosis
from ..findings import Symptom, severity_rank
from ..run import Series, display_name, fmt_step

STATUS_WORDS = {
    "healthy": "healthy",
    "diagnosis_complete": "diagnosis complete",
    "needs_more_data": "needs more data",
}

LOG_RANGE = 100.0  # a positive curve spanning more than this ratio is drawn on a log scale

# analysis_artifacts keys of the plots, their file names and captions, in the order reports show them.
PLOT_FILES: tuple[tuple[str, str, str], ...] = (
    ("loss_visualization", "loss_plot.png", "Loss curves with what the diagnosis found, and the learning rate"),
    ("gradient_norm", "grad_norm.png", "Global gradient norm"),
    ("gradient_flow", "gradient_flow.png", "Per-layer gradient norms (layers x steps)"),
    ("loss_scale", "loss_scale.png", "Mixed-precision loss scale and skipped steps"),
    ("system_metrics", "system.png", "Memory and step time"),
    ("confusion_matrix", "confusion_matrix.png", "Confusion matrix of the predictions (rows: true class, shaded by row)"),
    ("parameter_distribution", "params.png", "Parameters by module group and by layer"),
)
PLOT_CAPTIONS = {key: caption for key, _, caption in PLOT_FILES}

# Symptoms whose step is where something was measured, not where a problem starts: no mark.
NO_MARK = ("train_val_gap", "suspicious_eval", "param_imbalance", "zero_variance_warning")

# Symptoms that concern the whole run rather than one curve: their marks go on every panel.
RUN_WIDE = ("nan_inf", "run_crashed", "oom_error", "loss_divergence")


def status_word(d: Diagnosis) -> str:
    return STATUS_WORDS.get(d.status, d.status)


def step_text(step: float | None, unit: str) -> str:
    if step is None:
        return ""
    s = int(step) if step == int(step) else round(step, 3)
    return f"{unit} {s}"


def sources_line(d: Diagnosis) -> str:
    run = d.run
    n = len(run.sources)
    parts = [f"{n} file{'s' if n != 1 else ''} read"]
    if run.skipped:
        parts.append(f"{len(run.skipped)} skipped")
    rng = run.step_range
    if rng is not None:
        parts.append(f"steps {fmt_step(rng[0])}-{fmt_step(rng[1])}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Mark:
    """A place on a curve that the diagnosis points at.

    ``kind`` says how to draw it: ``onset`` (a vertical line: where a problem
    starts), ``nan`` (the first non-finite value), ``best`` (the best value, where
    early stopping would stop), ``spike`` (a point marker on the curve), ``peak``.
    """

    step: float
    unit: str
    kind: str
    label: str
    symptom: str
    severity: str
    metric: str | None

    def applies_to(self, series_name: str, unit: str) -> bool:
        """Whether this mark belongs on the curve of ``series_name`` (logged in ``unit``)."""
        if unit != self.unit:
            return False
        if self.kind == "spike":
            return self.metric == series_name
        if self.metric is None or self.symptom in RUN_WIDE and self.kind != "best":
            return True
        return _family(self.metric) == _family(series_name)


def _family(name: str) -> str:
    return name.split("/", 1)[0]


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


SYMPTOM_WORDS = {"nan_inf": "NaN/inf", "oom_error": "out of memory", "loss_divergence": "divergence"}


def symptom_words(symptom_id: str) -> str:
    """A symptom id as words in a caption (``loss_plateau`` -> ``loss plateau``)."""
    return SYMPTOM_WORDS.get(symptom_id, symptom_id.replace("_", " "))


def symptom_marks(d: Diagnosis) -> list[Mark]:
    """Every mark the symptoms give, most severe first, without duplicates."""
    out: list[Mark] = []
    seen: set[tuple[float, str, str | None]] = set()

    def add(step: Any, kind: str, label: str, s: Symptom, metric: str | None = None) -> None:
        v = _num(step)
        if v is None:
            return
        m = metric if metric is not None else s.metric
        key = (v, kind, m)
        if key in seen:
            return
        seen.add(key)
        out.append(Mark(v, s.step_unit, kind, label, s.id, s.severity, m))

    for s in sorted(d.symptoms, key=lambda s: -severity_rank(s.severity)):
        data = s.data or {}
        if s.id == "loss_divergence":
            add(data.get("onset_step", s.step), "onset", "divergence onset", s)
            add(data.get("best_step"), "best", "best train loss", s)
            if data.get("nan_after"):
                add(data.get("first_nan_step"), "nan", "first NaN", s)
        elif s.id == "nan_inf":
            add(data.get("first_step", s.step), "nan", "first NaN/inf", s, metric=None)
        elif s.id == "val_loss_rising":
            add(data.get("best_step", s.step), "best", "best val loss (early stop)", s)
        elif s.id in ("loss_spike", "gradient_explosion") and data.get("steps"):
            for st in list(data["steps"])[:200]:
                add(st, "spike", "spike", s)
            if s.id == "gradient_explosion":
                add(data.get("onset_step", s.step), "onset", "grad spike", s)
        elif s.id == "metric_drop":
            add(data.get("best_step"), "best", f"best {display_name(s.metric or 'metric')}", s)
            add(data.get("onset_step", s.step), "onset", "metric drop", s)
        elif s.id not in NO_MARK:
            add(data.get("onset_step", s.step), "onset", symptom_words(s.id), s)
    return out


def marks_for(marks: Iterable[Mark], series_name: str, unit: str) -> list[Mark]:
    return [m for m in marks if m.applies_to(series_name, unit)]


def finite_count(s: Series) -> int:
    import numpy as np

    return int(np.isfinite(s.values).sum())


def missing_notes(d: Diagnosis) -> list[str]:
    """What the pictures cannot show, and why, in plain words (shown beside the plots)."""
    run = d.run
    notes: list[str] = []
    if not run.series:
        notes.append("no metric series could be read, so there is no curve to draw")
        return notes
    loss = run.first("loss/train", "loss/val")
    if loss is None:
        notes.append("no loss series was found (looked for loss/train and loss/val); other series are still listed")
    else:
        n = len(loss)
        fin = finite_count(loss)
        if fin == 0:
            notes.append(f"{display_name(loss.name)}: all {n} logged value{'s are' if n != 1 else ' is'} non-finite (NaN/inf); they are drawn as markers at the top of the plot")
        elif n == 1:
            notes.append(f"{display_name(loss.name)} has a single point (step {fmt_step(float(loss.steps[0]))}): no trend can be drawn")
        elif fin == 1:
            notes.append(f"{display_name(loss.name)} has a single finite point among {n}: no trend can be drawn")
    if not run.has("loss/val"):
        notes.append("no validation loss was logged: the plots show no train/validation comparison and no early-stopping point")
    if loss is not None and not run.has("lr"):
        notes.append("no learning rate was logged: the loss plot has no LR panel")
    for name in ("loss/val", "lr"):
        s = run.get(name)
        if loss is not None and s is not None and len(s) and s.step_unit != loss.step_unit:
            notes.append(f"{display_name(name)} is logged per {s.step_unit} and {display_name(loss.name)} per {loss.step_unit}: they are drawn on separate axes")
    return notes


def axis_range(values: Sequence[Any]) -> tuple[bool, float | None]:
    """(log scale?, top of the axis or None to let the drawing choose), for curves given as arrays.

    A handful of points far above the bulk of a curve (a blow-up to 1e24 at the
    end of a divergence) would flatten everything else, including the onset a
    picture is about; then the axis stops a little above the 95th percentile
    and the points above it are drawn as off-scale markers. A positive curve
    spanning more than ``LOG_RANGE`` is drawn on a log scale.
    """
    import numpy as np

    fin = np.concatenate([np.asarray(v, dtype=np.float64)[np.isfinite(v)] for v in values]) if len(values) else np.array([])
    if not fin.size:
        return False, None
    lo, hi = float(fin.min()), float(fin.max())
    top: float | None = None
    if fin.size >= 10:
        q = float(np.percentile(fin, 95, method="lower"))  # a real value: one huge point cannot drag it up
        if lo > 0 and q > 0:
            bulk = math.log10(q / lo)
            if math.log10(hi / q) > 2 * bulk + 1:
                top = q * 10 ** (0.25 * bulk + 0.1)
        elif q > lo and (hi - q) > 20 * (q - lo):
            top = q + 0.5 * (q - lo)
    upper = top if top is not None else hi
    return lo > 0 and upper / lo > LOG_RANGE, top


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
