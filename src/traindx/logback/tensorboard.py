"""``--log-to tensorboard``: the diagnosis as text summaries in a new event file of the run folder.

The file is ``events.out.tfevents.<unix time>.<host>.traindx`` in the folder
of the run's event files (their common parent when they sit in several, as
Keras' ``train/`` and ``validation/``). It holds the ``file_version`` record
and one event at the run's last step with two text summaries (plugin
``text``, a string tensor): ``traindx/summary`` and ``traindx/report`` (the
Markdown report). The traindx reader skips both the file and the tags, so a
later diagnosis of the folder is unchanged.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..ingest.protowire import enc_bytes, enc_double, enc_int
from ..ingest.tensorboard import OWN_SUFFIX, PREFIX
from ..ingest.tensorboard_records import encode_record
from ..ingest.tensorboard_summaries import DT_STRING
from . import LogBackError, one, summary_text

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis



def log(diagnosis: Diagnosis, paths: Sequence[Path]) -> str:
    from ..render.markdown import to_markdown

    folder = one("tensorboard", run_folders(paths), "folder with TensorBoard event files")
    step = _last_step(diagnosis)
    now = time.time()
    host = socket.gethostname().replace("/", "_") or "host"
    path = folder / f"{PREFIX}{int(now)}.{host}{OWN_SUFFIX}"
    texts = {"traindx/summary": summary_text(diagnosis), "traindx/report": to_markdown(diagnosis)}
    data = encode_record(enc_double(1, now) + enc_bytes(3, "brain.Event:2"))
    data += encode_record(event(now, step, texts))
    try:
        with open(path, "xb") as f:
            f.write(data)
    except OSError as e:
        raise LogBackError(f"cannot write {path}: {e.strerror or e}") from None
    return f"TensorBoard run {folder}: {path.name} (text summaries {', '.join(texts)} at step {step})"


def event(wall_time: float, step: int, texts: dict[str, str]) -> bytes:
    """An Event with one text summary per tag: ``Value{tag=1, tensor=8, metadata=9{plugin_data=1{plugin_name=1}}}``."""
    values = b""
    for tag, body in texts.items():
        tensor = enc_int(1, DT_STRING) + enc_bytes(2, b"") + enc_bytes(8, body)
        meta = enc_bytes(1, enc_bytes(1, "text"))
        values += enc_bytes(1, enc_bytes(1, tag) + enc_bytes(8, tensor) + enc_bytes(9, meta))
    return enc_double(1, wall_time) + enc_int(2, step) + enc_bytes(5, values)


def _last_step(diagnosis: Diagnosis) -> int:
    last = 0.0
    for s in diagnosis.run.series.values():
        if s.reader == "tensorboard" and len(s):
            last = max(last, float(s.steps[-1]))
    return int(last)


def run_folders(paths: Sequence[Path]) -> list[Path]:
    """The run folders holding event files: one run's ``train/`` and ``validation/`` count as their parent,
    and a folder inside another one (``add_hparams`` writes one) as that one."""
    from ..ingest.tensorboard import FOLDER_SPLITS

    folders = _folders(paths)
    top = [f for f in folders if not any(o != f and o in f.parents for o in folders)]
    parents = {f.parent for f in top}
    if len(top) > 1 and len(parents) == 1 and all(f.name.lower() in FOLDER_SPLITS for f in top):
        return [parents.pop()]
    return top


def _folders(paths: Sequence[Path]) -> list[Path]:
    found: set[Path] = set()
    for root in paths:
        root = Path(root)
        if root.is_file():
            if root.name.startswith(PREFIX) and not root.name.endswith(OWN_SUFFIX):
                found.add(root.parent.resolve())
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            if any(fn.startswith(PREFIX) and not fn.endswith(OWN_SUFFIX) for fn in filenames):
                found.add(Path(dirpath).resolve())
    return sorted(found)
