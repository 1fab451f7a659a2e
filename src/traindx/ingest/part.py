"""What one reader returns for one file: a partial run, merged later by discover."""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..run import CodeFact, ConfigValue, Event, Predictions, ReadIssue, Sample, Series

NAN = math.nan


@dataclass(frozen=True)
class Source:
    """A file to read: its real path and the path evidence will quote."""

    path: Path
    display: str
    size: int = 0


class SeriesBuilder:
    """The points of one raw series, kept compact while a file is read.

    Points added one at a time (:meth:`add`) go to ``array`` buffers; points
    added in bulk (:meth:`extend`) are kept as the numpy arrays given, without a
    copy, so that readers can hand the same step and line arrays to several
    series. ``steps``, ``values``, ``lines`` and ``epochs`` join both into
    numpy arrays when read; ``epochs`` is empty unless some point has an epoch
    (``has_epochs``).
    """

    __slots__ = ("name", "canonical", "has_epochs", "_s", "_v", "_l", "_e", "_chunks", "_n")

    def __init__(self, name: str, canonical: str | None = None) -> None:
        self.name = name
        self.canonical = canonical
        self.has_epochs = False
        # points added one by one since the last chunk
        self._s = array("d")
        self._v = array("d")
        self._l = array("q")
        self._e = array("d")  # only filled once has_epochs
        # earlier points, in order: (steps, values, lines, epochs or None)
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._n = 0  # points in _chunks

    def add(self, step: float, value: float, line: int = 0, epoch: float | None = None) -> None:
        self._s.append(step)
        self._v.append(value)
        self._l.append(line)
        if epoch is not None:
            if not self.has_epochs:
                # the epochs are only kept once a point carries an epoch
                self._e.extend([NAN] * (len(self._s) - 1))
                self.has_epochs = True
            self._e.append(epoch)
        elif self.has_epochs:
            self._e.append(NAN)

    def extend(self, steps: np.ndarray, values: np.ndarray, lines: np.ndarray, epochs: np.ndarray | None = None) -> None:
        """Add many points at once. The arrays are kept, not copied: the caller must not
        change them afterwards (several builders may share one steps array)."""
        n = len(steps)
        if not n:
            return
        if len(values) != n or len(lines) != n or (epochs is not None and len(epochs) != n):
            raise ValueError("steps, values, lines and epochs must have one length")
        self._flush()
        if epochs is not None and not self.has_epochs:
            self.has_epochs = True
        self._chunks.append((steps, values, lines, epochs))
        self._n += n

    def _flush(self) -> None:
        """Move the points added one by one into a chunk of their own."""
        if not len(self._s):
            return
        e = np.array(self._e, dtype=np.float64) if self.has_epochs else None
        self._chunks.append(
            (np.array(self._s, dtype=np.float64), np.array(self._v, dtype=np.float64), np.array(self._l, dtype=np.int64), e)
        )
        self._n += len(self._s)
        self._s, self._v, self._l, self._e = array("d"), array("d"), array("q"), array("d")

    def compact(self, shared: dict[tuple[str, int], list[np.ndarray]] | None = None) -> None:
        """Join all points into one chunk of contiguous arrays.

        ``shared`` collects the step, line and epoch arrays already joined for other
        builders of the same file: an equal one is used instead of a new copy, so that
        series read from the same lines share their steps and lines.
        """
        self._flush()
        chunks = self._chunks
        if not chunks:
            return
        if len(chunks) == 1:
            _s, v, _l, e = chunks[0]
            if (e is not None or not self.has_epochs) and v.flags.c_contiguous and shared is None:
                return

        def join(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            if len(parts) == 1 and parts[0].flags.c_contiguous and parts[0].dtype == dtype:
                got = parts[0]
            else:
                got = np.concatenate(parts).astype(dtype, copy=False)
            if shared is None:
                return got
            same = shared.setdefault((got.dtype.str, len(got)), [])
            for other in same:
                if other is got or np.array_equal(other, got, equal_nan=got.dtype.kind == "f"):
                    return other
            same.append(got)
            return got

        steps = join([c[0] for c in chunks], np.float64)
        values = np.ascontiguousarray(np.concatenate([c[1] for c in chunks]) if len(chunks) > 1 else chunks[0][1], dtype=np.float64)
        lines = join([c[2] for c in chunks], np.int64)
        epochs = None
        if self.has_epochs:
            epochs = join([c[3] if c[3] is not None else np.full(len(c[0]), NAN) for c in chunks], np.float64)
        self._chunks = [(steps, values, lines, epochs)]

    def reorder(self, order: np.ndarray) -> None:
        """Put the points in the given order (a permutation of their indexes)."""
        self.compact()
        if not self._chunks:
            return
        s, v, ln, e = self._chunks[0]
        self._chunks = [(s[order], v[order], ln[order], None if e is None else e[order])]

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        if not self._chunks:
            # views on the buffers of the points added one by one, no copy
            e = np.frombuffer(self._e, dtype=np.float64) if self.has_epochs else None
            if not len(self._s):
                return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), (np.zeros(0) if e is not None else None)
            return (
                np.frombuffer(self._s, dtype=np.float64),
                np.frombuffer(self._v, dtype=np.float64),
                np.frombuffer(self._l, dtype=np.int64),
                e,
            )
        self.compact()
        return self._chunks[0]

    # The fields read as arrays: the ``array`` buffers themselves while every point was
    # added one by one, numpy arrays once some came in bulk.
    @property
    def steps(self) -> array | np.ndarray:
        return self._s if not self._chunks else self._arrays()[0]

    @property
    def values(self) -> array | np.ndarray:
        return self._v if not self._chunks else self._arrays()[1]

    @property
    def lines(self) -> array | np.ndarray:
        return self._l if not self._chunks else self._arrays()[2]

    @property
    def epochs(self) -> array | np.ndarray:
        if not self._chunks:
            return self._e
        e = self._arrays()[3]
        return np.zeros(0) if e is None else e

    def __len__(self) -> int:
        return self._n + len(self._s)

    def build(self, *, canonical: str, source: str, step_unit: str, step_source: str, reader: str) -> Series:
        # the builder's arrays, not copies, unless sorting is needed: the Series keeps them
        steps, values, lines, epochs = self._arrays()
        steps, values, lines, epochs = sort_dedupe(steps, values, lines, epochs if self.has_epochs else None)
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
    code_facts: list[CodeFact] = field(default_factory=list)
    predictions: list[Predictions] = field(default_factory=list)
    issues: list[ReadIssue] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)  # raw name -> step unit, when it differs
    step_sources: dict[str, str] = field(default_factory=dict)  # raw name -> step source, when it differs
    model: Any = None  # a traindx.model.summary.ModelSummary, from the checkpoint reader

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

    def code_fact(self, kind: str, text: str, line: int | None = None) -> None:
        self.code_facts.append(CodeFact(kind=kind, text=text, source=self.display, line=line))

    @property
    def n_points(self) -> int:
        return sum(len(b) for b in self.series.values())

    @property
    def is_empty(self) -> bool:
        return not (self.n_points or self.events or self.config or self.summary or self.samples or self.code_facts or self.predictions)


class ReadError(Exception):
    """A file could not be read at all; the message names the problem in one line."""
