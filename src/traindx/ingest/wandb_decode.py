"""Decoding W&B run records (``wandb_internal.Record``, by field number) into a Part.

:class:`RecordReader` takes each record payload (framed by
:mod:`.wandb_records`) and keeps history columns as ``array`` buffers (row
index, value), config, the summary (as JSON text until the end: a run writes
one summary update per ``log`` call and only the last value of a key counts),
system stats, console lines, ``define_metric`` step metrics, run info and the
exit record. :meth:`RecordReader.finish` chooses the step, builds the series
and the events. Field numbers and what becomes what: :mod:`.wandb`. Items in
their common layout are decoded byte by byte (:func:`_scan_item`); anything
else goes through the generic wire decoder.
"""

from __future__ import annotations

import json
import math
import re
import struct
from array import array
from typing import Any

import numpy as np

from .part import Part
from .protowire import F64, Malformed, fields, int64, sint64, text, varint

STEP_KEYS = ("trainer/global_step", "train/global_step", "global_step", "iter", "iteration", "step", "global_iter", "num_updates", "train/step")
STEP_KEY_PRESENCE = 0.9
MAX_VALUE_CHARS = 2000
# System stats kept as series: what diagnosis uses (GPU utilisation and memory, host CPU and memory).
# Per-core CPU, disk, network, power, clocks and temperatures are left out.
SYSTEM_KEPT = re.compile(
    r"^(cpu|memory|memory_percent|proc\.memory\.(rssMB|percent)|proc\.cpu\.percent"
    r"|gpu\.(process\.)?\d+\.(gpu|memory|memoryAllocated|memoryAllocatedBytes))$"
)
SKIP_TYPES = frozenset({"histogram", "image-file", "images/separated", "table-file", "video-file", "audio", "html-file", "object3D-file", "plotly-file", "molecule-file", "bokeh-file"})


class _Col:
    __slots__ = ("rows", "values")

    def __init__(self) -> None:
        self.rows = array("q")
        self.values = array("d")


def _number(raw: str) -> Any:
    """A value_json: float for numbers (NaN, Infinity included), else the decoded JSON."""
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's stack
        return raw


def _json(raw: str) -> Any:
    """A value_json with its JSON type kept (config and summary values)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's stack
        return raw


def _scan_item(buf: bytes, s: int, e: int) -> tuple[str, str | None, float | None] | None:
    """(key, value_json text, number) of an item in its common layout, byte by byte; None for the generic decoder.

    Handles ``key``=1 (``0a``), ``nested_key``=2 (``12``, joined with ``.``),
    ``json``=8 (``42``), ``value_json``=16 (``82 01``), ``number``=6 (``31``)
    and ``integer``=5 (``28``); any other field sends the item to :func:`_key`'s
    generic loop.
    """
    key = ""
    nested: str | None = None
    raw: str | None = None
    num: float | None = None
    pos = s
    while pos < e:
        tag = buf[pos]
        if tag == 0x0A or tag == 0x12 or tag == 0x42 or (tag == 0x82 and buf[pos + 1] == 0x01):
            pos += 3 if tag == 0x82 else 2
            n = buf[pos - 1]
            if n >= 0x80:
                n, pos = varint(buf, pos - 1)
            if pos + n > e:
                return None
            val = buf[pos : pos + n].decode("utf-8", errors="replace")
            pos += n
            if tag == 0x0A:
                key = val
            elif tag == 0x12:
                nested = val if nested is None else f"{nested}.{val}"
            else:
                raw = val
        elif tag == 0x31:
            num = F64.unpack_from(buf, pos + 1)[0]
            pos += 9
        elif tag == 0x28:
            v, pos = varint(buf, pos + 1)
            num = float(sint64(v))
        else:
            return None
    if pos != e:
        return None
    return (nested if nested is not None else key), raw, num


def _raw(text_value: str) -> str:
    return text_value


def _key(buf: bytes, span: tuple[int, int], decode: Any = _number) -> tuple[str, Any, bool]:
    """(key, value, found) of a HistoryItem/SummaryItem/ConfigItem/StatsItem."""
    fast = _scan_item(buf, span[0], span[1])
    if fast is not None:
        k, raw, num = fast
        if raw is not None:
            return k, decode(raw), True
        return k, num, num is not None
    key = ""
    nested: list[str] = []
    value: Any = None
    found = False
    for fn, wt, v in fields(buf, span[0], span[1]):
        if fn == 1 and wt == 2:
            key = text(buf, v)
        elif fn == 2 and wt == 2:
            nested.append(text(buf, v))
        elif fn == 16 and wt == 2:
            value, found = decode(text(buf, v)), True
        elif fn == 6 and wt == 1:
            value, found = F64.unpack_from(buf, v)[0], True
        elif fn == 5 and wt == 0:
            value, found = float(sint64(v)), True
        elif fn == 8 and wt == 2:
            value, found = decode(text(buf, v)), True
    if nested:
        key = ".".join(nested)
    return key, value, found


def _flatten(key: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        if set(value) == {"desc", "value"}:  # the config.yaml style of older runs
            _flatten(key, value["value"], out)
            return
        if value.get("_type") in SKIP_TYPES:
            return
        for k, v in value.items():
            _flatten(f"{key}.{k}" if key else str(k), v, out)
        return
    out[key] = value[:MAX_VALUE_CHARS] if isinstance(value, str) else value


class RecordReader:
    """Decodes the records of one run file; :meth:`finish` fills the Part."""

    def __init__(self, part: Part) -> None:
        self.part = part
        self.cols: dict[str, _Col] = {}
        self.row_step = array("d")
        self.row_time = array("d")
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.stats_time = array("d")
        self.stats: dict[str, _Col] = {}
        self.console: list[str] = []
        self.step_metrics: dict[str, str] = {}
        self.run: dict[str, Any] = {}
        self.exit_code: int | None = None
        self.preempted = False
        self.header: dict[str, str] = {}
        self.malformed = 0
        self.records = 0

    def record(self, buf: bytes) -> None:
        self.records += 1
        try:
            for fn, wt, v in fields(buf, 0, len(buf)):
                if wt != 2:
                    continue
                if fn == 2:
                    self._history(buf, v)
                elif fn == 3:
                    self._updates(buf, v, self.summary, raw=True)
                elif fn == 5:
                    self._updates(buf, v, self.config)
                elif fn == 7:
                    self._stats(buf, v)
                elif fn in (4, 13):
                    self._output(buf, v)
                elif fn == 12:
                    self._metric(buf, v)
                elif fn == 17:
                    self._run(buf, v)
                elif fn == 18:
                    self.exit_code = 0
                    for fn2, wt2, v2 in fields(buf, v[0], v[1]):
                        if fn2 == 1 and wt2 == 0:
                            self.exit_code = int64(v2)  # int32: negatives are sign-extended
                elif fn == 21:
                    self._header(buf, v)
                elif fn == 23:
                    self.preempted = True
        except (Malformed, IndexError, UnicodeDecodeError, struct.error, OverflowError):
            self.malformed += 1

    def _history(self, buf: bytes, span: tuple[int, int]) -> None:
        row = len(self.row_step)
        step = math.nan
        stamp = math.nan
        items: list[tuple[str, Any]] = []
        for fn, wt, v in fields(buf, span[0], span[1]):
            if fn == 1 and wt == 2:
                key, value, found = _key(buf, v)
                if not found:
                    continue
                if key == "_step":
                    step = float(value) if isinstance(value, (int, float)) else step
                elif key == "_timestamp":
                    stamp = float(value) if isinstance(value, (int, float)) else stamp
                elif not key.startswith("_"):
                    items.append((key, value))
            elif fn == 2 and wt == 2 and math.isnan(step):
                num = 0
                for fn2, wt2, v2 in fields(buf, v[0], v[1]):
                    if fn2 == 1 and wt2 == 0:
                        num = int64(v2)
                step = float(num)
        self.row_step.append(step if not math.isnan(step) else float(row))
        self.row_time.append(stamp)
        for key, value in items:
            if isinstance(value, float):
                self._col(self.cols, key, row, value)
            elif isinstance(value, int) and not isinstance(value, bool):
                self._col(self.cols, key, row, float(value))
            elif isinstance(value, dict):
                flat: dict[str, Any] = {}
                _flatten(key, value, flat)
                for k, x in flat.items():
                    if isinstance(x, (int, float)) and not isinstance(x, bool):
                        self._col(self.cols, k, row, float(x))

    @staticmethod
    def _col(cols: dict[str, _Col], key: str, row: int, value: float) -> None:
        c = cols.get(key)
        if c is None:
            c = cols[key] = _Col()
        c.rows.append(row)
        c.values.append(value)

    def _updates(self, buf: bytes, span: tuple[int, int], into: dict[str, Any], raw: bool = False) -> None:
        """Config or summary updates and removals; with ``raw`` the values stay JSON text until :meth:`finish`
        (a run writes a summary record with every ``log`` call, and only the last value of each key counts)."""
        for fn, wt, v in fields(buf, span[0], span[1]):
            if wt != 2 or fn not in (1, 2):
                continue
            key, value, found = _key(buf, v, _raw if raw else _json)
            if fn == 2:
                for k in [k for k in into if k == key or k.startswith(key + ".")]:
                    del into[k]
            elif found and key and not key.startswith("_"):
                if raw:
                    into[key] = value
                else:
                    _flatten(key, value, into)

    def _stats(self, buf: bytes, span: tuple[int, int]) -> None:
        stamp = math.nan
        items: list[tuple[str, float]] = []
        for fn, wt, v in fields(buf, span[0], span[1]):
            if fn == 2 and wt == 2:
                secs = nanos = 0
                for fn2, wt2, v2 in fields(buf, v[0], v[1]):
                    if fn2 == 1 and wt2 == 0:
                        secs = int64(v2)
                    elif fn2 == 2 and wt2 == 0:
                        nanos = v2
                stamp = secs + nanos / 1e9
            elif fn == 3 and wt == 2:
                key, value, found = _key(buf, v)
                if found and isinstance(value, (int, float)) and not isinstance(value, bool) and SYSTEM_KEPT.match(key):
                    items.append((key, float(value)))
        if math.isnan(stamp):
            return
        row = len(self.stats_time)
        self.stats_time.append(stamp)
        for key, value in items:
            self._col(self.stats, key, row, value)

    def _output(self, buf: bytes, span: tuple[int, int]) -> None:
        for fn, wt, v in fields(buf, span[0], span[1]):
            if fn == 3 and wt == 2:
                self.console.append(text(buf, v))

    def _metric(self, buf: bytes, span: tuple[int, int]) -> None:
        name = glob = step_metric = ""
        for fn, wt, v in fields(buf, span[0], span[1]):
            if wt != 2:
                continue
            if fn == 1:
                name = text(buf, v)
            elif fn == 2:
                glob = text(buf, v)
            elif fn == 4:
                step_metric = text(buf, v)
        if step_metric and (name or glob):
            self.step_metrics[name or glob] = step_metric

    def _run(self, buf: bytes, span: tuple[int, int]) -> None:
        names = {1: "run_id", 2: "entity", 3: "project", 6: "group", 7: "job_type", 8: "run_name", 9: "notes", 13: "host"}
        tags: list[str] = []
        for fn, wt, v in fields(buf, span[0], span[1]):
            if fn in names and wt == 2:
                self.run[names[fn]] = text(buf, v)[:MAX_VALUE_CHARS]
            elif fn == 10 and wt == 2:
                tags.append(text(buf, v))
            elif fn == 4 and wt == 2:
                self._updates(buf, v, self.config)
            elif fn == 5 and wt == 2:
                self._updates(buf, v, self.summary, raw=True)
            elif fn == 14 and wt == 0:
                self.run["starting_step"] = int64(v)
            elif fn == 18 and wt == 0:
                self.run["resumed"] = bool(v)
        if tags:
            self.run["tags"] = tags

    def _header(self, buf: bytes, span: tuple[int, int]) -> None:
        for fn, wt, v in fields(buf, span[0], span[1]):
            if fn == 1 and wt == 2:
                for fn2, wt2, v2 in fields(buf, v[0], v[1]):
                    if fn2 == 1 and wt2 == 2:
                        self.header["producer"] = text(buf, v2)
                    elif fn2 == 2 and wt2 == 2:
                        self.header["min_consumer"] = text(buf, v2)

    # ------------------------------------------------------------ the end

    def step_key(self) -> str | None:
        """The run's own step key, or None for wandb's ``_step``."""
        n_rows = len(self.row_step)
        metric_rows = np.zeros(n_rows, dtype=bool)
        for key, c in self.cols.items():
            if key not in STEP_KEYS:
                metric_rows[np.frombuffer(c.rows, dtype=np.int64)] = True
        need = max(1, int(STEP_KEY_PRESENCE * int(metric_rows.sum())))
        defined = {m for k, m in self.step_metrics.items() if k != m}
        for key in sorted(defined) + [k for k in STEP_KEYS if k not in defined]:
            c = self.cols.get(key)
            if c is None:
                continue
            rows = np.frombuffer(c.rows, dtype=np.int64)
            if int(metric_rows[rows].sum()) < need and key not in defined:
                continue
            vals = np.frombuffer(c.values, dtype=np.float64)
            if len(vals) and np.all(np.isfinite(vals)) and np.all(np.diff(vals) >= 0):
                return key
        return None

    def finish(self) -> None:
        part = self.part
        n_rows = len(self.row_step)
        row_steps = np.frombuffer(self.row_step, dtype=np.float64)
        key = self.step_key() if n_rows else None
        if key is not None:
            c = self.cols[key]
            steps_of = np.full(n_rows, np.nan)
            steps_of[np.frombuffer(c.rows, dtype=np.int64)] = np.frombuffer(c.values, dtype=np.float64)
            # rows without the key take the last value before them (the first one before it appears)
            idx = np.where(np.isfinite(steps_of), np.arange(n_rows), 0)
            np.maximum.accumulate(idx, out=idx)
            steps_of = steps_of[idx]
            first = np.flatnonzero(np.isfinite(steps_of))
            if len(first):
                steps_of[: first[0]] = steps_of[first[0]]
            part.set_config("wandb.step_key", key)
        else:
            steps_of = row_steps
        longest = max((len(c.rows) for c in self.cols.values()), default=0)
        zeros = np.zeros(max(longest, len(self.stats_time)), dtype=np.int64)
        for name in sorted(self.cols):
            if name == key:
                continue
            c = self.cols[name]
            rows = np.frombuffer(c.rows, dtype=np.int64)
            part.builder(name).extend(steps_of[rows], np.frombuffer(c.values, dtype=np.float64), zeros[: len(rows)])
        self._system(steps_of, zeros)
        for k in sorted(self.config):
            part.set_config(k, self.config[k])
        summary: dict[str, Any] = {}
        for k, v in self.summary.items():
            _flatten(k, _json(v) if isinstance(v, str) else v, summary)
        for k in sorted(summary):
            part.set_summary(k, summary[k])
        for k in ("run_id", "run_name", "project", "entity", "group", "job_type", "tags", "host"):
            if k in self.run and self.run[k] not in ("", []):
                part.set_config(f"wandb.{k}", self.run[k])
        for k, v in sorted(self.header.items()):
            part.set_config(f"wandb.{k}", v)
        self._events(steps_of)

    def _system(self, steps_of: np.ndarray, zeros: np.ndarray) -> None:
        """System stats at the step the run had reached at their time (inferred from the history timestamps)."""
        if not self.stats:
            return
        when = np.frombuffer(self.stats_time, dtype=np.float64)
        times = np.frombuffer(self.row_time, dtype=np.float64)
        ok = np.isfinite(times)
        if ok.sum() >= 2 and np.all(np.diff(times[ok]) >= 0):
            at = np.interp(when, times[ok], steps_of[ok])
        else:
            at = when - when[0]  # no timeline to place them on: seconds since the first sample
        for key in sorted(self.stats):
            c = self.stats[key]
            rows = np.frombuffer(c.rows, dtype=np.int64)
            name = f"system/{key}"
            self.part.builder(name, name).extend(at[rows], np.frombuffer(c.values, dtype=np.float64), zeros[: len(rows)])
            self.part.step_sources[name] = "inferred"

    def _events(self, steps_of: np.ndarray) -> None:
        part = self.part
        last = float(np.max(steps_of)) if len(steps_of) else None
        start = self.run.get("starting_step", 0)
        if self.run.get("resumed") or start:
            part.event("restart", f"W&B run resumed at step {start}", None, float(start), starting_step=start)
        if self.preempted:
            part.event("preempted", "W&B run marked as preempting (the scheduler took its machine)", None, last)
        if self.exit_code is None:
            part.event(
                "killed",
                "the W&B run has no exit record: the process ended without wandb.finish() "
                "(killed, crashed hard, or still running)" + (f"; last history step {last:g}" if last is not None else ""),
                None,
                last,
                records=self.records,
            )
        elif self.exit_code != 0:
            part.event("run_status", f"W&B run exited with code {self.exit_code}", None, last, status="FAILED", exit_code=self.exit_code)
