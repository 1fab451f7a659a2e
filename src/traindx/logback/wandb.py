"""``--log-to wandb``: the diagnosis files copied into the run's ``files/.traindx/`` folder.

The run is the folder of the one ``run-*.wandb`` file among the inputs
(``wandb/offline-run-*/`` or a synced ``wandb/run-*/``). The folder is hidden
so that a later ``traindx diagnose`` of the run folder does not read the
report as run data. ``wandb sync`` of an offline run uploads its ``files/``;
for a run already synced, upload the files from there (``wandb.Api``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..ingest.wandb_records import MAGIC
from . import copy_files, one

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis

HIDDEN = ".traindx"


def log(diagnosis: Diagnosis, files: Sequence[Path], paths: Sequence[Path]) -> str:
    run_dir = one("wandb", _runs(paths), "W&B run folder (with a run-*.wandb file)")
    written = copy_files(files, run_dir / "files" / HIDDEN)
    return f"W&B run {run_dir}: files/{HIDDEN}/{{{', '.join(written)}}}"


def _is_run_file(p: Path) -> bool:
    if p.suffix != ".wandb":
        return False
    try:
        with open(p, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _runs(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for root in paths:
        root = Path(root)
        if root.is_file():
            if _is_run_file(root):
                found.append(root.parent.resolve())
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith(".") and n != "latest-run")
            for fn in filenames:
                if _is_run_file(Path(dirpath) / fn):
                    found.append(Path(dirpath).resolve())
    return found
