"""MLflow SQLite tracking stores (``mlflow.db``, the default store since MLflow 3.7).

The file is opened read-only (``file:...?mode=ro``), so reading never writes,
locks for writing or migrates it. Tables used (FORMATS.md §5): ``runs``
(``status`` as text), ``metrics(key, value, timestamp, run_uuid, step,
is_nan)`` where a NaN is stored as ``value=0, is_nan=1`` and ±inf as ±max
float, ``params``, ``tags`` and ``experiments``.

A store can hold many runs while a Part is one run: the most recently started
run that is not deleted is read, and an issue names how many others were left
(:func:`read_run` reads a run chosen by id, for ``--run-id``).
A database has no lines, so points carry line 0 and evidence quotes
``file#step``. Params become config ``<key>``, tags ``mlflow.tags.<key>``,
and a FAILED or KILLED status a ``run_status`` event.
"""

from __future__ import annotations

import math
import sqlite3
import sys
from pathlib import Path
from typing import Any

from .mlflow import FAILED_STATUS
from .part import Part, ReadError, Source

NAME = "mlflow_sqlite"
RANK = 80

SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_FLOAT = sys.float_info.max


def sniff(path: Path, head: bytes) -> float:
    if not head.startswith(SQLITE_MAGIC):
        return 0.0
    if path.name.lower() == "mlflow.db":
        return 0.95
    return 0.5 if path.suffix.lower() in (".db", ".sqlite", ".sqlite3") else 0.2


def _connect(path: Path) -> sqlite3.Connection:
    # Read-only is not enough for a database in WAL mode: SQLite would still create -shm and -wal files
    # beside it. With no -wal file present nothing is writing to it, so it is opened as immutable.
    with open(path, "rb") as f:
        head = f.read(20)
    wal_mode = len(head) == 20 and head[18] == 2
    immutable = wal_mode and not Path(f"{path}-wal").exists()
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
    try:
        con = sqlite3.connect(uri, uri=True)
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.Error as e:
        raise ReadError(f"not a readable SQLite database: {e}") from None
    return con


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"PRAGMA table_info({table})")}  # table names are ours, not user input


def read(src: Source) -> Part:
    return read_run(src)


def read_run(src: Source, run_id: str | None = None) -> Part:
    """The run ``run_id`` of the store (ReadError when it has none such), or its latest started run."""
    con = _connect(src.path)
    try:
        return _read(con, src, run_id)
    except sqlite3.Error as e:
        raise ReadError(f"MLflow store not readable: {e}") from None
    finally:
        con.close()


def list_runs(path: Path) -> list[tuple[str, str, str]]:
    """(run id, run name, artifact uri) of the live runs of a store, the latest started first."""
    con = _connect(path)
    try:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "runs" not in tables:
            return []
        art = "artifact_uri" if "artifact_uri" in _columns(con, "runs") else "''"
        return [(r[0], r[1] or "", r[5] or "") for r in _runs(con, f", {art}")]
    except sqlite3.Error as e:
        raise ReadError(f"MLflow store not readable: {e}") from None
    finally:
        con.close()


def _runs(con: sqlite3.Connection, extra: str = "") -> list[tuple]:
    live = "WHERE lifecycle_stage IS NULL OR lifecycle_stage != 'deleted'" if "lifecycle_stage" in _columns(con, "runs") else ""
    return con.execute(f"SELECT run_uuid, name, status, start_time, experiment_id{extra} FROM runs {live} ORDER BY start_time DESC, run_uuid").fetchall()


def _read(con: sqlite3.Connection, src: Source, wanted: str | None = None) -> Part:
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"runs", "metrics"} <= tables:
        if wanted:
            raise ReadError("not an MLflow store: no 'runs' and 'metrics' tables")
        part = Part(src, NAME)
        part.issue("SQLite database without MLflow 'runs' and 'metrics' tables")
        return part
    part = Part(src, NAME, format="MLflow tracking store (SQLite)")
    runs = _runs(con)
    if wanted:
        runs = [r for r in runs if r[0] == wanted]
        if not runs:
            raise ReadError(f"no live run {wanted} in this MLflow store")
    if not runs:
        part.issue("MLflow store holds no run")
        return part
    run_id, name, status, start_time, experiment_id = runs[0]
    if len(runs) > 1:
        part.issue(f"store holds {len(runs)} runs; read the latest started, {name or run_id} ({run_id})")
    for key, value in (("mlflow.run_id", run_id), ("mlflow.run_name", name), ("mlflow.start_time", start_time), ("mlflow.status", status)):
        if value is not None:
            part.set_config(key, value)
    if "experiments" in tables and experiment_id is not None:
        row = con.execute("SELECT name FROM experiments WHERE experiment_id = ?", (experiment_id,)).fetchone()
        if row:
            part.set_config("mlflow.experiment.name", row[0])
    _read_metrics(con, part, run_id)
    for table, prefix in (("params", ""), ("tags", "mlflow.tags.")):
        if table in tables:
            for key, value in con.execute(f"SELECT key, value FROM {table} WHERE run_uuid = ? ORDER BY key", (run_id,)):
                part.set_config(prefix + key, value)
    if isinstance(status, str) and status.upper() in FAILED_STATUS:
        last = max((float(max(b.steps)) for b in part.series.values() if len(b)), default=None)
        part.event("run_status", f"MLflow run {name + ' ' if name else ''}ended with status {status.upper()}", None, last, status=status.upper())
    return part


def _value(value: Any, is_nan: Any) -> float | None:
    if is_nan:
        return math.nan
    if value is None:
        return None
    v = float(value)
    if abs(v) == MAX_FLOAT:  # how the store keeps +-inf
        return math.copysign(math.inf, v)
    return v


def _read_metrics(con: sqlite3.Connection, part: Part, run_id: str) -> None:
    nan_col = "is_nan" if "is_nan" in _columns(con, "metrics") else "0"
    rows = con.execute(
        f"SELECT key, step, value, {nan_col} FROM metrics WHERE run_uuid = ? ORDER BY key, step, timestamp",
        (run_id,),
    )
    bad = 0
    for key, step, value, is_nan in rows:
        try:  # SQLite lets any column hold text: a row that is not numbers is skipped
            v = _value(value, is_nan)
            s = float(step or 0)
        except (TypeError, ValueError, OverflowError):
            bad += 1
            continue
        if v is None:
            continue
        part.point(key, s, v, 0)
    if bad:
        part.issue(f"{bad} metric row(s) whose value or step is not a number were skipped")
