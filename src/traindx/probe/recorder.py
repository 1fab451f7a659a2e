"""The framework-free core of the probe: per-step records assembled from what adapters report, written to the run log.

Adapters (the torch hooks of :func:`traindx.watch`, the HF Trainer and
Lightning callbacks) measure; the recorder only decides what goes into which
record and when it is written. It knows nothing of torch: values are numbers,
or objects a ``convert`` function turns into numbers when a batch of records is
written (the torch layer hands tensors over and reads them back in one go, so
that a GPU is not synchronised once per value).

A step record is opened when the step ends (the optimizer stepped) and closed
when its loss arrives or the next step ends, so the loss may be reported before
or after ``optimizer.step()``.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

from . import logformat as fmt
from .config import ProbeConfig
from .guard import Guard

log = logging.getLogger("traindx.probe")

Convert = Callable[[list[dict[str, Any]]], None]


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Recorder:
    """Assembles and writes the records of one rank's log."""

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        config: ProbeConfig,
        *,
        rank: int = 0,
        world_size: int = 1,
        convert: Convert | None = None,
        defer: int = 1,
    ) -> None:
        self.config = config
        self.rank = rank
        self.world_size = world_size
        self.dir = Path(log_dir)
        self.path = self.dir / fmt.log_name(rank)
        self.writer = fmt.LogWriter(self.path, flush_secs=config.flush_secs)
        self.guard = Guard(report=self._write_now)
        self.convert = convert
        self.defer = max(1, int(defer))
        self._queue: list[dict[str, Any]] = []
        self._last_drain = time.monotonic()
        self._open: dict[str, Any] | None = None  # the last step's record, waiting for its loss
        self._pending_loss: Any = None  # a loss reported before its step ended
        self.activity = False  # forward or backward work since the last step ended
        self.counts: dict[str, int] = {}
        self.last_step: int | None = None
        self.closed = False
        self.on_values: Callable[[dict[str, Any]], None] | None = None  # sees each step record once it holds numbers

    # -- header and notes ------------------------------------------------------------------
    def start(self, **info: Any) -> None:
        header: dict[str, Any] = {
            fmt.FORMAT_KEY: fmt.VERSION,
            "kind": "header",
            "rank": self.rank,
            "world_size": self.world_size,
            "started": _utc_now(),
            "pid": os.getpid(),
            "host": platform.node(),
            "python": platform.python_version(),
            "config": self.config.to_dict(),
        }
        header.update(info)
        self.writer.write(header, flush=True)

    def note(self, what: str, part: str, text: str, **data: Any) -> None:
        """A ``probe`` record: something the probe cannot see or stopped doing (logged too)."""
        log.info("traindx probe: %s", text)
        self._write_now({"kind": "probe", "what": what, "part": part, "text": text, **data})

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    # -- steps -------------------------------------------------------------------------------
    def step_ended(self, step: int, values: dict[str, Any]) -> None:
        """The optimizer finished ``step``: open its record with ``values`` (a pending loss goes in at once)."""
        if self._open is not None:
            self._finish(self._open)
        rec = {"kind": "step", "step": int(step)}
        rec.update({k: v for k, v in values.items() if v is not None})
        self.last_step = int(step)
        self.activity = False
        if self._pending_loss is not None:
            rec["loss"] = self._pending_loss
            self._pending_loss = None
            self._finish(rec)
        else:
            self._open = rec

    def loss(self, value: Any, step: int | None = None) -> None:
        """The loss of the step just ended (when no work happened since) or of the step in progress."""
        if self._open is not None and not self.activity and (step is None or step == self._open["step"]):
            self._open["loss"] = value
            rec, self._open = self._open, None
            self._finish(rec)
            return
        if self._open is not None:
            rec, self._open = self._open, None
            self._finish(rec)
        self._pending_loss = value

    def _finish(self, rec: dict[str, Any]) -> None:
        self._queue.append(rec)
        if len(self._queue) >= self.defer or time.monotonic() - self._last_drain >= self.config.flush_secs:
            self.drain()

    def drain(self) -> None:
        """Write the queued step records (numbers read back in one batch)."""
        self._last_drain = time.monotonic()
        if not self._queue:
            return
        batch, self._queue = self._queue, []
        if self.convert is not None:
            self.guard.call("convert", self.convert, batch)
        for rec in batch:
            if self.on_values is not None:
                self.guard.call("checks", self.on_values, rec)
            self.guard.call("writer", self.writer.write, rec)

    # -- cadence records and events ------------------------------------------------------------
    def layers(self, step: int, **tables: dict[str, float]) -> None:
        rec: dict[str, Any] = {"kind": "layers", "step": int(step)}
        rec.update({k: v for k, v in tables.items() if v})
        if len(rec) > 2:
            self._write_now(rec)

    def acts(self, step: int, **tables: dict[str, float]) -> None:
        rec: dict[str, Any] = {"kind": "acts", "step": int(step)}
        rec.update({k: v for k, v in tables.items() if v})
        if len(rec) > 2:
            self._write_now(rec)

    def event(self, kind: str, step: int | None, text: str, **data: Any) -> None:
        """An event record, written and flushed at once (with the queued steps before it)."""
        self.count(f"event:{kind}")
        rec = {"kind": "event", "event": kind, "step": step, "text": text, "data": data}
        self.drain()
        self._write_now(rec, flush=True)

    def _write_now(self, rec: dict[str, Any], flush: bool = False) -> None:
        if self.closed:
            return
        try:
            self.writer.write(rec, flush=flush)
        except Exception as e:  # noqa: BLE001 - a full disk must not stop training
            self.guard.disabled.setdefault("writer", str(e))

    def flush(self, *, close_open: bool = False) -> None:
        """Write what is queued (and, with ``close_open``, the step still waiting for its loss)."""
        if close_open and self._open is not None:
            rec, self._open = self._open, None
            self._queue.append(rec)
        self.drain()
        self.writer.flush()

    def close(self, **info: Any) -> None:
        if self.closed:
            return
        if self._open is not None:
            rec, self._open = self._open, None
            self._queue.append(rec)
        self.drain()
        end = {"kind": "end", "step": self.last_step, "ended": _utc_now(), "counts": dict(sorted(self.counts.items()))}
        if self.guard.disabled:
            end["disabled"] = dict(sorted(self.guard.disabled.items()))
        end.update(info)
        self._write_now(end, flush=True)
        self.closed = True
        self.writer.close()
