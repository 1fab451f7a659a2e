"""MLflow file-store run folders (``mlruns/<experiment>/<run>/``), read as a whole.

A run folder holds ``meta.yaml`` (``run_name``, ``status`` as an int: 1
RUNNING, 2 SCHEDULED, 3 FINISHED, 4 FAILED, 5 KILLED, start/end times),
``metrics/<key>`` files with one ``<timestamp_ms> <value> <step>`` line per
point (a key with ``/`` is a nested folder; NaN is written ``nan``),
``params/<key>`` (the raw value) and ``tags/<key>``. The experiment folder's
own ``meta.yaml`` has no ``metrics/`` beside it, so it is never taken for a run.

Parts returned: one for the run (meta, params as config ``<key>``, tags as
config ``mlflow.tags.<key>``, and a ``run_status`` event when the run FAILED
or was KILLED), one per metric file (so each series quotes its own file and
line), and one per readable file under ``artifacts/`` (read by the ordinary
file readers; ``artifacts/traindx/``, a diagnosis logged back with
``--log-to mlflow``, is not). A run marked deleted (``lifecycle_stage:
deleted``, not yet moved to ``.trash``) is not read: its part holds only an
issue saying so. Deleted experiments live under ``mlruns/.trash/``, which
discovery never enters.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..run import ConfigValue
from .part import Part, ReadError, Source

NAME = "mlflow"
RANK = 80

STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
FAILED_STATUS = frozenset({"FAILED", "KILLED"})
MAX_ARTIFACTS = 200
MAX_VALUE_CHARS = 2000
MAX_LINE_ISSUES = 20
OWN_ARTIFACTS = "traindx/"  # what ``--log-to mlflow`` writes: never read back as run data
_META_LINE = re.compile(r"^([A-Za-z_][\w]*):\s*(.*?)\s*$")


def sniff_dir(path: Path) -> bool:
    try:
        return (path / "meta.yaml").is_file() and (path / "metrics").is_dir()
    except OSError:
        return False


def is_deleted(run_dir: Path) -> bool:
    """Whether a run folder's ``meta.yaml`` marks it deleted."""
    try:
        return _meta(run_dir / "meta.yaml").get("lifecycle_stage", ("", 0))[0].lower() == "deleted"
    except OSError:
        return False


def find_run(root: Path, run_id: str) -> Path | None:
    """The folder of run ``run_id`` under a file store (``mlruns/<exp>/<run_id>``), or None."""
    for cand in sorted(root.glob(f"*/{run_id}")) + ([root] if root.name == run_id else []):
        if ".trash" not in cand.parts and sniff_dir(cand):
            return cand
    return None


def _meta(path: Path) -> dict[str, tuple[str, int]]:
    """Top-level ``key: value`` pairs of a file-store ``meta.yaml`` with their lines (values unquoted)."""
    out: dict[str, tuple[str, int]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = _META_LINE.match(line.rstrip("\r\n"))
            if not m:
                continue
            v = m.group(2)
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            out[m.group(1)] = (v, n)
    return out


def _files(root: Path) -> list[tuple[str, Path]]:
    """(key, path) of every file under ``root``; nested folders join into ``a/b`` keys."""
    out: list[tuple[str, Path]] = []
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        for fn in sorted(filenames):
            key = fn if rel == Path(".") else f"{rel.as_posix()}/{fn}"
            out.append((key, Path(dirpath) / fn))
    out.sort()
    return out


def _read_small(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(MAX_VALUE_CHARS + 1)
    return text[:MAX_VALUE_CHARS]


def read_dir(src: Source) -> list[Part]:
    root = src.path
    meta_path = root / "meta.yaml"
    try:
        meta = _meta(meta_path)
    except OSError as e:
        raise ReadError(f"MLflow run meta.yaml not readable: {e.strerror or e}") from None
    run = Part(Source(meta_path, f"{src.display}/meta.yaml"), NAME, format="MLflow run (file store)")
    stage, stage_line = meta.get("lifecycle_stage", ("", 0))
    if stage.lower() == "deleted":
        run.issue("MLflow run marked deleted (lifecycle_stage: deleted); its metrics were not read", stage_line)
        return [run]
    for key in ("run_name", "run_id", "experiment_id", "lifecycle_stage", "user_id", "start_time", "end_time"):
        if key in meta and meta[key][0] not in ("", "null"):
            value, line = meta[key]
            run.set_config(f"mlflow.{key}", int(value) if value.isdecimal() else value, line)
    metric_parts = [_read_metric(key, path, src.display) for key, path in _files(root / "metrics")]
    metric_parts = [p for p in metric_parts if p.n_points or p.issues]
    status_name = ""
    if "status" in meta:
        raw, line = meta["status"]
        status_name = STATUS.get(int(raw), raw) if raw.isdecimal() else raw.upper()
        run.set_config("mlflow.status", status_name, line)
        if status_name in FAILED_STATUS:
            last = _last_step(metric_parts)
            name = meta.get("run_name", ("", 0))[0]
            run.event(
                "run_status",
                f"MLflow run {name + ' ' if name else ''}ended with status {status_name}",
                line,
                last,
                status=status_name,
            )
    _read_values(run, root / "params", f"{src.display}/params", "")
    _read_values(run, root / "tags", f"{src.display}/tags", "mlflow.tags.")
    return [run, *metric_parts, *_read_artifacts(root / "artifacts", f"{src.display}/artifacts")]


def _read_values(part: Part, folder: Path, display: str, prefix: str) -> None:
    """Params or tags: one file per key; each value cites its own file."""
    for key, path in _files(folder):
        try:
            value = _read_small(path)
        except OSError as e:
            part.issue(f"{key}: not readable: {e.strerror or e}")
            continue
        full = prefix + key
        if full not in part.config:
            part.config[full] = ConfigValue(key=full, value=value, source=f"{display}/{key}", line=1)


def _read_metric(key: str, path: Path, run_display: str) -> Part:
    part = Part(Source(path, f"{run_display}/metrics/{key}"), NAME, format="MLflow metric file")
    bad = 0
    ordinal_steps = False
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                cells = line.split()
                if not cells:
                    continue
                try:
                    if len(cells) == 3:
                        value, step = float(cells[1]), float(int(cells[2]))
                    elif len(cells) == 2:  # the oldest stores wrote no step
                        value, step = float(cells[1]), float(n - 1)
                        ordinal_steps = True
                    else:
                        raise ValueError
                except (ValueError, OverflowError):
                    bad += 1
                    if bad <= MAX_LINE_ISSUES:
                        part.issue("not a '<timestamp> <value> <step>' line; skipped", n)
                    continue
                part.point(key, step, value, n)
    except OSError as e:
        part.issue(f"not readable: {e.strerror or e}")
    if bad > MAX_LINE_ISSUES:
        part.issue(f"{bad - MAX_LINE_ISSUES} more malformed lines skipped")
    if ordinal_steps:
        part.step_source = "inferred"
    return part


def _last_step(parts: list[Part]) -> float | None:
    last: float | None = None
    for p in parts:
        for b in p.series.values():
            if len(b):
                m = float(max(b.steps))
                last = m if last is None else max(last, m)
    return last


def _read_artifacts(folder: Path, display: str) -> list[Part]:
    """Files saved as run artifacts (a skorch ``history.json``, a log), read by the file readers."""
    files = _files(folder)
    if not files:
        return []
    from .discover import choose_reader

    parts: list[Part] = []
    files = [(k, p) for k, p in files if not k.startswith(OWN_ARTIFACTS)]
    for key, path in files[:MAX_ARTIFACTS]:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        best, _ = choose_reader(Source(path, f"{display}/{key}", size))
        if best is None:
            continue
        sub = Source(path, f"{display}/{key}", size)
        try:
            part = best.read(sub)
        except ReadError as e:
            part = Part(sub, best.NAME)
            part.issue(f"not read: {e}")
        except Exception as e:  # noqa: BLE001 - user data must never crash the run folder
            part = Part(sub, best.NAME)
            part.issue(f"not read: {type(e).__name__}: {e}")
        parts.append(part)
    return parts
