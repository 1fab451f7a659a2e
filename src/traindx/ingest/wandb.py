"""W&B run files (``run-<id>.wandb``, offline and synced runs): history, config, summary, stats, console, exit.

The framing is in :mod:`.wandb_records`; each payload is a
``wandb_internal.Record`` decoded by hand (:mod:`.protowire`), field numbers
from wandb's ``wandb_internal.proto`` (stable from 0.16 to 0.31):

- ``history``=2 ``{item=1{key=1, nested_key=2, integer=5 (sint64),
  number=6, json=8, value_json=16}, step=2{num=1}}``: one row per
  ``wandb.log`` commit. NaN is written ``NaN``.
- ``summary``=3 and ``config``=5 ``{update=1{key=1, nested_key=2,
  value_json=16}, remove=2}``; ``stats``=7 ``{timestamp=2, item=3{key=1,
  value_json=16}}`` (system metrics); ``output``=4 and ``output_raw``=13
  ``{line=3}`` (console); ``metric``=12 ``{name=1, glob_name=2,
  step_metric=4}`` (``define_metric``); ``run``=17 ``{run_id=1, entity=2,
  project=3, config=4, summary=5, run_group=6, job_type=7, display_name=8,
  tags=10, starting_step=14, resumed=18}``; ``exit``=18 ``{exit_code=1}``;
  ``header``=21 ``{version_info=1{producer=1, min_consumer=2}}``;
  ``preempting``=23.

What becomes what: every numeric history key a series (underscore keys are
wandb's own and skipped). The step is the run's own step key when it logs one
(the ``define_metric`` step metric; else ``trainer/global_step``,
``train/global_step``, ``global_step``, ``iter``... when present in nearly
every row and never going back), else wandb's ``_step``. System stats that
diagnosis uses (GPU utilisation and memory, host CPU and memory; not disk,
network, power or temperature) become ``system/<key>`` series placed at the
step the run had reached at their time (interpolated from the history
timestamps, marked inferred). Config and
summary keys are flattened with ``.``. A nonzero exit code is a
``run_status`` FAILED event; **no exit record is a ``killed`` event**: the
process ended without ``wandb.finish()`` (killed, crashed hard, or still
running). A resumed run is a ``restart`` event. Console lines are read by the
text-log reader only when no ``files/output.log`` sits beside the file
(otherwise that file is read and would count twice); their events quote
``run-<id>.wandb#console:<line>``. A file has no lines, so points carry line
0 and evidence quotes ``file#step``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .part import Part, ReadError, Source
from .wandb_decode import RecordReader
from .wandb_records import MAGIC, iter_payloads

NAME = "wandb"
RANK = 85


def sniff(path: Path, head: bytes) -> float:
    if head.startswith(MAGIC):
        return 1.0
    return 0.6 if path.suffix == ".wandb" else 0.0


def _console_part(src: Source, lines: list[str]) -> Part:
    """The console lines read by the text-log reader, as a part of their own."""
    from .textlog.detect import detect_format, detect_text
    from .textlog.reader import Reader

    part = Part(Source(src.path, f"{src.display}#console", src.size), "textlog", format="W&B console output")
    reader = Reader(part, markdown=False)
    fmt, _ = detect_format([detect_text(x) for x in lines[:2000]])
    reader.set_format(fmt)
    for i, line in enumerate(lines, 1):
        reader.feed(i, line)
    reader.finish()
    return part


def read(src: Source) -> Part:
    part = Part(src, NAME, format="W&B run file")
    reader = RecordReader(part)
    try:
        with open(src.path, "rb") as f:
            for payload in iter_payloads(f, part):
                reader.record(payload)
    except OSError as e:
        raise ReadError(f"not readable: {e.strerror or e}") from None
    if reader.records == 0:
        raise ReadError("W&B run file with no records")
    if reader.malformed:
        part.issue(f"{reader.malformed} of {reader.records} records could not be decoded and were skipped")
    consumer = reader.header.get("min_consumer", "")
    if consumer and consumer.split(".")[0].isdecimal() and int(consumer.split(".")[0]) >= 1:
        part.issue(f"written for readers of version {consumer} or later; read with the record layout of wandb 0.x, values may be missing")
    reader.finish()
    version = reader.header.get("producer", "").split("+")[0]
    part.format = f"W&B run file{' (wandb ' + version + ')' if version else ''}"
    lines = "".join(reader.console).splitlines()
    if lines and not (src.path.parent / "files" / "output.log").is_file():
        _merge_console(part, _console_part(src, lines))
    return part


def _merge_console(part: Part, console: Part) -> None:
    """Console series join the run file's part (raw names marked ``(console)``); events and samples keep their console lines."""
    from . import names

    for raw, b in console.series.items():
        canon = b.canonical or names.canonical(raw)
        steps = np.asarray(b.steps, dtype=np.float64)
        part.builder(f"{raw} (console)", canon).extend(steps, np.asarray(b.values, dtype=np.float64), np.zeros(len(steps), dtype=np.int64))
        if raw in console.units:
            part.units[f"{raw} (console)"] = console.units[raw]
        part.step_sources[f"{raw} (console)"] = console.step_sources.get(raw, console.step_source)
    part.events.extend(console.events)
    part.samples.extend(console.samples)
    part.issues.extend(console.issues)
