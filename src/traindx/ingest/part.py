"""What one reader returns for one file: a partial run, merged later by discover."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..run import ConfigValue, Event, ReadIssue, Sample, Series

NAN = math.nan


@dataclass(frozen=True)
class Source:
    """A file to read: its real path and the path evidence will quote."""

    path: Path
    display: str
    size: int = 0


class SeriesBuilder:
    """The points of one raw series, kept in compact arrays while a file is read."""

    __slots__ = ("name", "canonical", "steps", "values", "lines", "epochs", "has_epochs")

    def __init__(self, name: str, canonical: str | None = None) -> None:
        self.name = name
        self.canonical = canonical
        self.steps = array("d")
        self.values = array("d")
        self.lines = array("q")
        self.epochs = array("d")
        self.has_epochs = False

    def add(self, step: float, value: float, line: int = 0, epoch: float | None = None) -> None:
        self.steps.append(step)
        self.values.append(value)
        self.lines.append(line)
        if epoch is not None:
            if not self.has_epochs:
                # the epochs array is only kept once a point carries an epoch
                self.epochs.extend([NAN] * (len(self.steps) - 1))
                self.has_epochs = True
            self.epochs.append(epoch)
        elif self.has_epochs:
            self.epochs.append(NAN)

    def __len__(self) -> int:
        return len(self.steps)

    def build(self, *, canonical: str, source: str, step_unit: str, step_source: str, reader: str) -> Series:
        # views on the builder's buffers, no copy: the Series keeps the buffers alive
        steps = np.frombuffer(self.steps, dtype=np.float64) if len(self.steps) else np.zeros(0)
        values = np.frombuffer(self.values, dtype=np.float64) if len(self.values) else np.zeros(0)
        lines = np.frombuffer(self.lines, dtype=np.int64) if len(self.lines) else np.zeros(0, dtype=np.int64)
        epochs = np.frombuffer(self.epochs, dtype=np.float64) if self.has_epochs else None
        steps, values, lines, epochs = sort_dedupe(steps, values, lines, epochs)
        return Series(
            name=canonical,
            steps=steps,
            values=values,
            source=source,
            source_name=self.name,
            lines=lines,
            epochs=epochs,
            step_unit=step_unit,
            step_source=step_source,
            reader=reader,
        )


def sort_dedupe(
    steps: np.ndarray, values: np.ndarray, lines: np.ndarray, epochs: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Sort points by step; of several points at one step keep the last written.

    A resumed run logs some steps twice; the later write is the one the run
    continued from.
    """
    n = steps.shape[0]
    if n == 0:
        return steps, values, lines, epochs
    if n > 1 and not (np.all(np.diff(steps) > 0)):
        order = np.argsort(steps, kind="stable")
        steps, values, lines = steps[order], values[order], lines[order]
        if epochs is not None:
            epochs = epochs[order]
        # keep the last of each run of equal steps
        keep = np.ones(n, dtype=bool)
        keep[:-1] = steps[1:] != steps[:-1]
        if not keep.all():
            steps, values, lines = steps[keep], values[keep], lines[keep]
            if epochs is not None:
                epochs = epochs[keep]
    return steps, values, lines, epochs


@dataclass
class Part:
    """A partial run read from one file (or one tracking-system run folder)."""

    source: Source
    reader: str
    format: str = ""
    step_unit: str = "step"
    step_source: str = "logged"
    series: dict[str, SeriesBuilder] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    config: dict[str, ConfigValue] = field(default_factory=dict)
    summary: dict[str, ConfigValue] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)  # raw name -> step unit, when it differs
    step_sources: dict[str, str] = field(default_factory=dict)  # raw name -> step source, when it differs

    @property
    def display(self) -> str:
        return self.source.display

    def builder(self, name: str, canonical: str | None = None) -> SeriesBuilder:
        b = self.series.get(name)
        if b is None:
            b = self.series[name] = SeriesBuilder(name, canonical)
        return b

    def point(
        self,
        name: str,
        step: float,
        value: float,
        line: int = 0,
        epoch: float | None = None,
        canonical: str | None = None,
    ) -> None:
        self.builder(name, canonical).add(step, value, line, epoch)

    def event(self, kind: str, text: str, line: int | None = None, step: float | None = None, **data: Any) -> None:
        self.events.append(
            Event(
                kind=kind,
                text=text.strip()[:500],
                source=self.display,
                line=line,
                step=step,
                data=tuple(sorted(data.items())),
            )
        )

    def set_config(self, key: str, value: Any, line: int | None = None) -> None:
        if key not in self.config:
            self.config[key] = ConfigValue(key=key, value=value, source=self.display, line=line)

    def set_summary(self, key: str, value: Any, line: int | None = None) -> None:
        self.summary[key] = ConfigValue(key=key, value=value, source=self.display, line=line)

    def sample(self, text: str, line: int | None = None, prompt: str | None = None, step: float | None = None) -> None:
        self.samples.append(Sample(text=text, source=self.display, line=line, prompt=prompt, step=step))

    def issue(self, message: str, line: int | None = None) -> None:
        self.issues.append(ReadIssue(path=self.display, message=message, line=line))

    @property
    def n_points(self) -> int:
        return sum(len(b) for b in self.series.values())

    @property
    def is_empty(self) -> bool:
        return not (self.n_points or self.events or self.config or self.summary or self.samples)


class ReadError(Exception):
    """A file could not be read at all; the message names the problem in one line."""
