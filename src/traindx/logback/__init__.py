"""Log a diagnosis back into the tracking system the run came from (``traindx diagnose ... --log-to``).

This is the one place traindx writes next to a run, and only when the user
asks for it with ``--log-to``:

- ``mlflow``: ``diagnosis.json``, ``report.md`` and ``report.html`` (and the
  PNG plots when ``--out`` wrote them) become artifacts under ``traindx/`` of
  the run, and the tags ``traindx.status`` and ``traindx.top_cause`` are set.
  A file-store run folder is written directly (``artifacts/traindx/``,
  ``tags/``); a tracking server through its REST API; a SQLite store through
  MLflow's own client (it must be installed).
- ``wandb``: the same files are copied into the run's ``files/.traindx/``
  folder (a hidden folder, so that reading the run folder again does not read
  the report as run data). W&B uploads a run's ``files/`` when an offline run
  is synced; for a run already online, upload them from there.
- ``tensorboard``: a new event file ``events.out.tfevents.<time>.<host>.traindx``
  in the run folder holds two text summaries, ``traindx/summary`` and
  ``traindx/report`` (the Markdown report), at the run's last step; the
  Text tab of TensorBoard shows them.

The run is found among the inputs given to ``diagnose`` (or is the
``mlflow://`` run fetched); when they hold several runs of the system asked
for, nothing is written and the message lists them.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis
    from ..ingest.mlflow_server import TrackingRef

SYSTEMS = ("mlflow", "wandb", "tensorboard")
FOLDER = "traindx"
REPORT_FILES = ("diagnosis.json", "report.md", "report.html")


class LogBackError(Exception):
    """The diagnosis could not be logged back: one line saying why."""


def tags(diagnosis: Diagnosis) -> dict[str, str]:
    """``traindx.status`` and ``traindx.top_cause`` (``none`` when no cause was ranked)."""
    top = diagnosis.root_causes[0].id if diagnosis.root_causes else "none"
    return {"traindx.status": diagnosis.status, "traindx.top_cause": top}


def summary_text(diagnosis: Diagnosis) -> str:
    """One paragraph: the status, the top cause with its confidence, the symptoms."""
    lines = [f"traindx status: **{diagnosis.status}**"]
    if diagnosis.root_causes:
        h = diagnosis.root_causes[0]
        lines.append(f"top cause: **{h.id}** (confidence {h.confidence:.2f})")
    if diagnosis.symptoms:
        lines.append("symptoms: " + ", ".join(sorted({s.id for s in diagnosis.symptoms})))
    return "\n\n".join(lines)


def report_files(diagnosis: Diagnosis, folder: Path, out: Path | None = None) -> list[Path]:
    """The files to attach: those ``--out`` wrote (plots included), else fresh ones written into ``folder``."""
    if out is not None and (out / "diagnosis.json").is_file():
        return sorted(p for p in out.iterdir() if p.is_file() and (p.name in REPORT_FILES or p.suffix == ".png"))
    from ..report import write_reports

    write_reports(diagnosis, folder, plots=False)
    return sorted(folder / name for name in REPORT_FILES if (folder / name).is_file())


def log_back(
    diagnosis: Diagnosis,
    system: str,
    *,
    paths: Sequence[Path] = (),
    tracking: TrackingRef | None = None,
    out: Path | None = None,
) -> str:
    """Log ``diagnosis`` into the run among ``paths`` (or the ``tracking`` run); returns what was written."""
    if system not in SYSTEMS:
        raise LogBackError(f"--log-to {system}: unknown system (one of {', '.join(SYSTEMS)})")
    with tempfile.TemporaryDirectory(prefix="traindx-logback-") as tmp:
        files = report_files(diagnosis, Path(tmp), out)
        if system == "mlflow":
            from . import mlflow

            return mlflow.log(diagnosis, files, paths, tracking)
        if system == "wandb":
            from . import wandb

            return wandb.log(diagnosis, files, paths)
        from . import tensorboard

        return tensorboard.log(diagnosis, paths)


def one(system: str, found: list[Path], what: str) -> Path:
    """The single target found, or a LogBackError naming none or all of them."""
    found = sorted(set(found))
    if not found:
        raise LogBackError(f"--log-to {system}: no {what} among the inputs")
    if len(found) > 1:
        shown = ", ".join(str(p) for p in found[:5]) + (", ..." if len(found) > 5 else "")
        raise LogBackError(f"--log-to {system}: the inputs hold {len(found)} ({shown}); give the one {what} to log to")
    return found[0]


def copy_files(files: Sequence[Path], dest: Path) -> list[str]:
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, dest / f.name)
    except OSError as e:
        raise LogBackError(f"cannot write into {dest}: {e.strerror or e}") from None
    return [f.name for f in files]
