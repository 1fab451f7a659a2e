"""TensorBoard event files (``events.out.tfevents.*``): scalars, histograms, text, hparams, restarts.

Layout (FORMATS.md §1): TFRecord framing (:mod:`.tensorboard_records`) around
serialized ``Event`` protobufs: ``wall_time``=1, ``step``=2, ``summary``=5 →
``Summary.value``=1 → ``Value{tag=1, simple_value=2, histo=5, tensor=8,
metadata=9}``, ``session_log``=7 → ``SessionLog{status=1 (START=1)}``.

What becomes what:

- **scalars**, old style ``simple_value`` (torch ``SummaryWriter``,
  tensorboardX, TF1) and new style rank-0 ``tensor`` under the ``scalars``
  plugin (TF2/Keras, torch ``new_style=True``): one series per tag, every
  point kept (no reservoir sampling: a NaN or a spike is never dropped). A
  fast path decodes the common ``simple_value`` record without the generic
  decoder.
- **histograms**: per-layer series (:func:`~.tensorboard_summaries.histogram_names`):
  ``grad_norm/<layer>`` = sqrt(sum_squares) of a gradient histogram,
  ``weight_norm/<layer>``, ``act_norm/<layer>``, and the matching
  ``*_zero_frac/<layer>`` when the buckets resolve zero. When no scalar gives
  a global gradient norm, ``grad_norm`` is derived from the gradient
  histograms at the steps where all of them were logged.
- **text**: a text that parses as settings (JSON, ``Namespace(...)``,
  key/value lines or table) becomes config (HF Trainer's ``args`` and
  ``model_config``); free text logged at several steps becomes samples; other
  text is kept as config ``text.<tag>``. **hparams** (``add_hparams``, the
  Keras hparams callback) become config.
- **restarts**: a ``SessionLog`` START, or a tag whose step goes back, is a
  ``restart`` event. As in TensorBoard, the points logged earlier at or after
  the restart step are superseded (the series shows the run as it
  continued); the event says how many and whether they held non-finite values.
- Several event files in one folder are one run written in pieces (a resumed
  run, ``reopen()``): the earliest file's reader reads them all, in the order
  of the timestamps in their names, as one part quoted as
  ``<folder>/events.out.tfevents.*``; the other files point to it.

A file that ends inside a record (a run still writing, a copy cut short) ends
reading with an issue. CRCs are checked when ``google_crc32c`` is installed.
Files have no lines, so points carry line 0 and evidence quotes ``file#step``.
A tag without a split of its own takes it from the folder (``train/``,
``validation/``). Tags under ``traindx/`` (a diagnosis logged back with
``--log-to tensorboard``) are not read.
"""

from __future__ import annotations

import re
from pathlib import Path

from .part import Part, ReadError, Source
from .tensorboard_events import EventReader
from .tensorboard_records import U64, Crc, crc_function

NAME = "tensorboard"
RANK = 85

PREFIX = "events.out.tfevents."
OWN_SUFFIX = ".traindx"  # the event file ``--log-to tensorboard`` writes
FOLDER_SPLITS = {
    "train": "train",
    "training": "train",
    "validation": "val",
    "val": "val",
    "valid": "val",
    "eval": "val",
    "evaluation": "val",
    "test": "test",
}
_TS = re.compile(r"^events\.out\.tfevents\.(\d+)")


def _crc_function() -> Crc | None:
    """The CRC-32C function used to check records (a seam for tests)."""
    return crc_function()


def _split_from_folder(path: Path) -> str | None:
    return FOLDER_SPLITS.get(path.parent.name.lower())


def event_chain(path: Path) -> list[Path]:
    """The non-empty event files of ``path``'s folder in writing order (the timestamp in their names).

    A file traindx wrote there (``--log-to tensorboard``, named ``*.traindx``) is no part of the run.
    """
    if not path.name.startswith(PREFIX) or path.name.endswith(OWN_SUFFIX):
        return [path]
    try:
        siblings = [
            p for p in path.parent.iterdir() if p.name.startswith(PREFIX) and not p.name.endswith(OWN_SUFFIX) and p.is_file() and p.stat().st_size > 0
        ]
    except OSError:
        return [path]
    if path.name not in {p.name for p in siblings}:
        siblings.append(path)

    def order(p: Path) -> tuple[int, str]:
        m = _TS.match(p.name)
        return (int(m.group(1)) if m else 0, p.name)

    return sorted(siblings, key=order)


def sniff(path: Path, head: bytes) -> float:
    if path.name.startswith(PREFIX):
        return 1.0
    if len(head) >= 24:
        (length,) = U64.unpack_from(head, 0)
        if 0 < length < 4096 and head[12] == 0x09 and b"brain.Event" in head[12 : 12 + length]:
            return 0.9
    return 0.0


def read(src: Source) -> Part:
    chain = event_chain(src.path)
    if len(chain) > 1 and chain[0].name != src.path.name:
        part = Part(src, NAME, format="TensorBoard events")
        part.issue(f"read together with {chain[0].name}: the {len(chain)} event files in this folder are one run, read in order")
        return part
    display = src.display
    if len(chain) > 1:
        parent = src.display.rsplit("/", 1)[0] if "/" in src.display else ""
        display = f"{parent}/{PREFIX}*" if parent else f"{PREFIX}*"
    part = Part(Source(src.path, display, src.size), NAME, format="TensorBoard events")
    reader = EventReader(part, _split_from_folder(src.path))
    crc = _crc_function()
    n = 0
    reader.several = len(chain) > 1
    for path in chain:
        reader.begin_file(path.name)
        label = f"{path.name}: " if len(chain) > 1 else ""
        try:
            with open(path, "rb") as f:
                n += reader.scan(f, crc, label)
        except OSError as err:
            if len(chain) == 1:
                raise
            part.issue(f"{label}not readable: {err.strerror or err}")
        reader.end_file()
    if n == 0 and not part.issues:
        raise ReadError("no TensorBoard records in the file")
    if n and n == reader.malformed:
        raise ReadError("not a TensorBoard event file: no record decodes")
    if reader.malformed:
        part.issue(f"{reader.malformed} of {n} records could not be decoded and were skipped")
    reader.finish()
    kinds = [k for k, c in (("simple_value", reader.simple), ("tensor", reader.tensor)) if c]
    extra = [k for k, c in (("histograms", reader.histograms), ("text", reader.n_texts)) if c]
    desc = []
    if kinds:
        desc.append(f"{' + '.join(kinds)} scalars")
    desc.extend(extra)
    if len(chain) > 1:
        desc.append(f"{len(chain)} files")
    if desc:
        part.format = f"TensorBoard events ({', '.join(desc)})"
    return part
