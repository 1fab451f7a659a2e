"""The probe's run log: one JSON object per line, one file per rank, appendable, versioned.

A log starts with a header line that names the format and its version::

    {"traindx_probe": 1, "kind": "header", "rank": 0, "world_size": 1, ...}

and goes on with records, each a JSON object with a ``kind``:

- ``step``: the per-step scalars (``loss``, ``grad_norm``, ``lr`` as a list per
  param group, ``step_time``, ``data_wait``, ``memory`` as a dict of bytes,
  ``loss_scale``, ``nonfinite`` when the step's gradients were not finite);
- ``layers``: every N steps, ``grad_norm``, ``update_ratio`` and
  ``weight_norm`` as dicts keyed by parameter name;
- ``acts``: every N steps, ``dead_frac``, ``saturated_frac``, ``act_mean`` and
  ``act_std`` keyed by module name;
- ``event``: something found while watching (``event`` is its kind:
  ``nan_origin``, ``grad_not_cleared``, ``params_not_updated``,
  ``eval_mode_in_training``, ``frozen_params``, ``rank_drift``), with a
  ``text`` and a ``data`` dict;
- ``probe``: what the probe itself could not do (a part disabled after an
  error, a blind spot such as a compiled model), so a missing series is
  explained rather than silent;
- ``end``: written when the probe is closed, with counters for the run.

Readers must skip a last line that is not complete yet (the run is still
writing) and refuse a header whose version is newer than they know.
Nothing here imports torch.
"""

from __future__ import annotations

import json
import os
import time
import weakref
from pathlib import Path
from typing import IO, Any

FORMAT_KEY = "traindx_probe"
VERSION = 1
LOG_PREFIX = "probe-rank"
LOG_SUFFIX = ".jsonl"
BATCH_PREFIX = "nan-batch-"

KINDS = ("header", "step", "layers", "acts", "event", "probe", "end")


class UnsupportedVersion(Exception):
    """The log was written by a newer probe whose format this version cannot read."""


def log_name(rank: int) -> str:
    """The file name of one rank's log."""
    return f"{LOG_PREFIX}{rank}{LOG_SUFFIX}"


def batch_name(step: int, rank: int) -> str:
    """The file name of the batch saved at the first non-finite value."""
    return f"{BATCH_PREFIX}step{step}-rank{rank}.pt"


def is_log_name(name: str) -> bool:
    return name.startswith(LOG_PREFIX) and name.endswith(LOG_SUFFIX)


def header_version(line: str | bytes) -> int | None:
    """The format version a first line declares, or None when it is not a probe header."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    s = line.strip().lstrip("\ufeff")
    if not s.startswith("{") or FORMAT_KEY not in s:
        return None
    try:
        obj = json.loads(s)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    v = obj.get(FORMAT_KEY)
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return v


def check_version(version: int) -> None:
    """Raise :class:`UnsupportedVersion` for a version this code cannot read."""
    if version > VERSION:
        raise UnsupportedVersion(
            f"probe log format version {version} is newer than this traindx reads (version {VERSION}); upgrade traindx"
        )
    if version < 1:
        raise UnsupportedVersion(f"probe log format version {version} is not a valid version")


def clean(v: Any) -> Any:
    """A value JSON can hold: numbers stay numbers (NaN and infinities as the tokens Python's json reads), tuples become lists."""
    if isinstance(v, float):
        return v
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


class LogWriter:
    """Appends records to one log file; flushes at most every ``flush_secs`` seconds and on demand.

    Lines are written whole, so a reader that sees the file at any moment finds
    complete records followed by at most one partial line.
    """

    def __init__(self, path: Path, flush_secs: float = 1.0) -> None:
        self.path = path
        self.flush_secs = flush_secs
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] | None = open(path, "a", encoding="utf-8")
        # a writer dropped without close() (a loop stopped by an exception) still closes its file quietly
        self._finalizer = weakref.finalize(self, self._f.close)
        self._last_flush = time.monotonic()
        self._dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=True, ensure_ascii=False).encode

    @property
    def closed(self) -> bool:
        return self._f is None

    def write(self, record: dict[str, Any], *, flush: bool = False) -> None:
        f = self._f
        if f is None:
            return
        try:
            line = self._dumps(record)
        except (TypeError, ValueError):
            line = self._dumps(clean(record))
        f.write(line + "\n")
        now = time.monotonic()
        if flush or now - self._last_flush >= self.flush_secs:
            f.flush()
            self._last_flush = now

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()
            try:
                os.fsync(self._f.fileno())
            except OSError:
                pass

    def close(self) -> None:
        if self._f is not None:
            try:
                self._f.flush()
            finally:
                self._f.close()
                self._f = None
                self._finalizer.detach()


def iter_records(path: Path) -> tuple[dict[str, Any], list[tuple[int, dict[str, Any]]]]:
    """(header, [(line, record)...]) of a log, skipping lines that are not complete JSON objects.

    For tools that read the probe's own logs (``traindx grads``, memory figures);
    diagnosis goes through :mod:`traindx.ingest.probe_log`. Raises ValueError when
    the file is not a probe log and :class:`UnsupportedVersion` when it is too new.
    """
    header: dict[str, Any] | None = None
    records: list[tuple[int, dict[str, Any]]] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if not s:
                continue
            if header is None:
                v = header_version(s)
                if v is None:
                    raise ValueError(f"{path.name}: not a traindx probe log (no header line)")
                check_version(v)
                header = json.loads(s)
                continue
            try:
                obj = json.loads(s)
            except ValueError:
                continue
            if isinstance(obj, dict):
                records.append((n, obj))
    if header is None:
        raise ValueError(f"{path.name}: empty file")
    return header, records


def find_logs(path: Path) -> list[Path]:
    """The probe logs at ``path`` (a log file, or a folder searched recursively), in rank order."""
    if path.is_file():
        return [path] if is_log_name(path.name) else []
    found = [p for p in path.rglob(f"{LOG_PREFIX}*{LOG_SUFFIX}") if p.is_file()]

    def key(p: Path) -> tuple[str, int, int, str]:
        digits = p.name[len(LOG_PREFIX) : -len(LOG_SUFFIX)]
        return (str(p.parent), 0 if digits.isdigit() else 1, int(digits) if digits.isdigit() else 0, p.name)

    return sorted(found, key=key)
