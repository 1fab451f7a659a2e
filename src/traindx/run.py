"""The one normalized model of a training run.

Plain dataclasses over numpy arrays; no I/O happens here. Readers build a
:class:`Run` through :mod:`traindx.ingest`, checks read it, nothing writes to it
after ingest.

Every value keeps where it came from: a :class:`Series` holds, beside its steps
and values, the file it was read from, the name the file used, and the line of
each point, so that evidence can always be quoted as ``file:line``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from .model.summary import ModelSummary


@dataclass(frozen=True)
class Provenance:
    """Where a value came from: a display path and, when known, a 1-based line."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


class Located:
    """A value that knows its file (``source``) and line: ``where`` is ``file:line``, or the file alone."""

    source: str
    line: int | None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


@dataclass
class Series:
    """A named, step-indexed metric.

    ``steps`` and ``values`` are float64 arrays of equal length, sorted by step,
    one value per step (a later write of the same step replaces an earlier
    one, as a resumed run rewrites its steps). ``lines`` holds the 1-based line
    of each point in ``source`` (0 where a format has no lines). ``epochs``
    holds the epoch of each point when the file gave one.
    """

    name: str
    steps: np.ndarray
    values: np.ndarray
    source: str
    source_name: str
    lines: np.ndarray | None = None
    epochs: np.ndarray | None = None
    step_unit: str = "step"  # "step" or "epoch"
    step_source: str = "logged"  # "logged" or "inferred" (a line ordinal)
    reader: str = ""

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def where(self, i: int) -> str:
        """``file:line`` of point ``i`` (or ``file#step`` when lines are unknown)."""
        line = int(self.lines[i]) if self.lines is not None and len(self.lines) > i else 0
        if line > 0:
            return f"{self.source}:{line}"
        return f"{self.source}#{self.step_label(i)}"

    def step_label(self, i: int) -> str:
        s = self.steps[i]
        word = "epoch" if self.step_unit == "epoch" else "step"
        return f"{word} {fmt_step(s)}"

    def step_at(self, i: int) -> float:
        return float(self.steps[i])

    @property
    def finite(self) -> np.ndarray:
        return np.isfinite(self.values)

    def finite_part(self) -> "Series":
        """The same series without its non-finite points."""
        mask = np.isfinite(self.values)
        if mask.all():
            return self
        return self.subset(mask)

    def subset(self, mask: np.ndarray) -> "Series":
        return Series(
            name=self.name,
            steps=self.steps[mask],
            values=self.values[mask],
            source=self.source,
            source_name=self.source_name,
            lines=None if self.lines is None else self.lines[mask],
            epochs=None if self.epochs is None else self.epochs[mask],
            step_unit=self.step_unit,
            step_source=self.step_source,
            reader=self.reader,
        )

    def describe(self) -> str:
        return f"{self.source_name!r} in {self.source}"


@dataclass(frozen=True)
class Event(Located):
    """Something a log said happened: an error, a warning, an overflow, a restart.

    ``kind`` is a short id (``oom``, ``nan_anomaly``, ``loss_scale_overflow``,
    ``warning``, ``error``, ``nccl_timeout``, ``dataloader_crash``,
    ``shape_error``, ``dtype_error``, ``index_error``, ``zero_variance``,
    ``restart``, ``checkpoint``, ``lr_change``, ``run_status``, ``killed``...);
    ``data`` holds the numbers parsed out of the message.
    """

    kind: str
    text: str
    source: str
    line: int | None = None
    step: float | None = None
    data: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        for k, v in self.data:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class ConfigValue(Located):
    """One flattened configuration value (``optimizer.lr``) and where it was set."""

    key: str
    value: Any
    source: str
    line: int | None = None



@dataclass(frozen=True)
class Sample:
    """A generated output kept for the output checks."""

    text: str
    source: str
    line: int | None = None
    prompt: str | None = None
    step: float | None = None


@dataclass(frozen=True)
class CodeFact(Located):
    """Something the training code does or fails to do, found by parsing it (never by running it).

    ``kind`` is a short id (``no_zero_grad``, ``zero_grad_after_backward``,
    ``no_clip``, ``eval_without_no_grad``...).
    """

    kind: str
    text: str
    source: str
    line: int | None = None



@dataclass(frozen=True)
class Predictions(Located):
    """An evaluation's confusion matrix, for the per-class checks.

    ``counts`` has one row per true class and one column per predicted class,
    in the order of ``labels``; it is built from per-example (true, predicted)
    rows or read as the file gave it.
    """

    source: str
    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    line: int | None = None



@dataclass(frozen=True)
class ReadIssue:
    """A located problem met while reading a file; reading went on."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        loc = f"{self.path}:{self.line}" if self.line else self.path
        return f"{loc}: {self.message}"


@dataclass(frozen=True)
class SourceInfo:
    """A file that was read, by which reader, and what it gave."""

    path: str
    reader: str
    series: int = 0
    events: int = 0
    detail: str = ""


@dataclass(frozen=True)
class Skipped:
    """A file or path that was not read; ``error`` marks a problem (unreadable, corrupt) rather than a file of no interest."""

    path: str
    reason: str
    error: bool = False


@dataclass(frozen=True)
class SeriesChoice:
    """Which of several candidate series became the canonical one, and why."""

    name: str
    used: str
    points: int
    others: tuple[str, ...]
    reason: str


@dataclass
class Run:
    """Everything ingest found in the artifacts of one run."""

    series: dict[str, Series] = field(default_factory=dict)
    alternates: dict[str, list[Series]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    config: dict[str, ConfigValue] = field(default_factory=dict)
    summary: dict[str, ConfigValue] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    code_facts: list[CodeFact] = field(default_factory=list)
    predictions: list[Predictions] = field(default_factory=list)
    sources: list[SourceInfo] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    choices: list[SeriesChoice] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)  # path -> detected format
    model: ModelSummary | None = None  # parameters by group and weight health, from a checkpoint or model config

    # -- access -------------------------------------------------------------
    def get(self, name: str) -> Series | None:
        return self.series.get(name)

    def first(self, *names: str) -> Series | None:
        """The first of ``names`` that the run has."""
        for n in names:
            s = self.series.get(n)
            if s is not None and len(s):
                return s
        return None

    def has(self, name: str) -> bool:
        s = self.series.get(name)
        return s is not None and len(s) > 0

    def config_value(self, *keys: str) -> ConfigValue | None:
        """The first config value whose flattened key equals, or ends with, one of ``keys``."""
        for k in keys:
            if k in self.config:
                return self.config[k]
        for k in keys:
            suffix = "." + k
            for full in sorted(self.config):
                if full.endswith(suffix):
                    return self.config[full]
        return None

    def config_number(self, *keys: str) -> tuple[float, ConfigValue] | None:
        cv = self.config_value(*keys)
        if cv is None:
            return None
        v = to_float(cv.value)
        if v is None:
            return None
        return v, cv

    def events_of(self, *kinds: str) -> list[Event]:
        return [e for e in self.events if e.kind in kinds]

    @property
    def step_range(self) -> tuple[float, float] | None:
        lo, hi = math.inf, -math.inf
        for s in self.series.values():
            if s.step_unit != "step" or not len(s):
                continue
            lo = min(lo, float(s.steps[0]))
            hi = max(hi, float(s.steps[-1]))
        if lo == math.inf:
            for s in self.series.values():
                if len(s):
                    lo = min(lo, float(s.steps[0]))
                    hi = max(hi, float(s.steps[-1]))
        if lo == math.inf:
            return None
        return lo, hi

    @property
    def is_empty(self) -> bool:
        return not (self.series or self.events or self.config or self.samples)


DISPLAY_NAMES = {
    "loss/train": "training loss",
    "loss/val": "validation loss",
    "loss/test": "test loss",
    "grad_norm": "gradient norm",
    "lr": "learning rate",
    "loss_scale": "loss scale",
}


def display_name(canonical: str) -> str:
    """How a canonical series name reads in a sentence (``loss/train`` -> ``training loss``)."""
    return DISPLAY_NAMES.get(canonical, canonical)


def to_float(v: Any) -> float | None:
    """A number from a config or log value (``"5e-05"``, ``1``, ``"nan"``), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def fmt_step(s: float) -> str:
    """A step as people write it: ``1200``, or ``7.6`` for a fractional epoch."""
    if s == int(s):
        return str(int(s))
    return f"{s:.4g}"


def fmt_num(v: float, digits: int = 4) -> str:
    """A value with ``digits`` significant digits, as a log would print it."""
    if v is None:
        return "n/a"
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def times(r: float) -> str:
    """A ratio as people write it: ``1.5x``, ``12x``, ``1,265x``, ``1.6e+19x``."""
    if not math.isfinite(r):
        return "inf x"
    if r < 10:
        return f"{r:.1f}x"
    if r < 1e6:
        return f"{r:,.0f}x"
    return f"{r:.2g}x"


def pct(a: float, b: float) -> str:
    """The change from ``a`` to ``b`` as a signed percentage."""
    if a == 0:
        return "n/a"
    return f"{(b - a) / abs(a) * 100:+.0f}%"


def as_series(
    name: str,
    steps: Iterable[float],
    values: Iterable[float],
    *,
    source: str = "<memory>",
    source_name: str | None = None,
    lines: Iterable[int] | None = None,
    step_unit: str = "step",
) -> Series:
    """Build a :class:`Series` from plain iterables (tests, probes, the API)."""
    st = np.asarray(list(steps), dtype=np.float64)
    va = np.asarray(list(values), dtype=np.float64)
    ln = None if lines is None else np.asarray(list(lines), dtype=np.int64)
    return Series(
        name=name,
        steps=st,
        values=va,
        source=source,
        source_name=source_name or name,
        lines=ln,
        step_unit=step_unit,
    )
