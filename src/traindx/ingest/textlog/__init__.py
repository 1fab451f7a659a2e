"""Printed training logs: stdout/stderr dumps of any trainer, read into series and events.

How a file is read (one module for each job):

1. **Lines** (:mod:`.lines`). The file is read in binary chunks; a line ends at
   ``\\n`` (so line numbers match ``grep -n``; ``\\r\\n`` and ``\\r\\r\\n`` end
   one line). A line longer than ``MAX_LINE_BYTES`` is skipped with a located
   issue, never held. Each line is *normalised* (:mod:`.normalize`): the text
   after its last ``\\r`` (the final progress-bar redraw) is kept, ANSI codes
   are dropped, and a launcher (``[rank3]:``), timestamp, glog or logger prefix
   is removed.
2. **Format** (:mod:`.detect`). Fingerprints are scored over the first
   ``HEAD_LINES`` normalised lines (``part.format``); the format orders the line
   rules and decides the fast path.
3. **Line rules** (:mod:`.rules` and the ``rules_*`` modules). Dedicated rules
   read the formats whose step semantics need care (nanoGPT, llm.c and its
   ``s:N trl:X`` fork, Megatron-LM, fairseq and metaseq, HF Trainer dicts,
   Keras, Lightning/tqdm and Rich bars, Caffe, mmdetection, yolact,
   gpt-2-simple, pandas epoch blocks). Everything else goes through a generic
   ``key=value`` / ``key: value`` / ``key value`` extractor (:mod:`.pairs`), so
   an unknown trainer still parses. NaN and inf are recognised on parsed
   values, never as a substring (``number of nan iterations: 0`` is a counter).
4. **Steps** (:mod:`.reader`). The trainer's own step is kept as printed
   (Megatron and llm.c are 1-based, fairseq uses ``num_updates``, mmdetection
   ``(epoch-1)*N+i``). A within-epoch counter that restarts every epoch becomes
   a global step. Lines with no step of their own (HF Trainer dicts) take the
   position of a nearby tqdm bar, else a line ordinal with
   ``part.step_source = "inferred"``.
5. **Events.** :mod:`traindx.ingest.logevents` finds errors, OOMs with sizes,
   loss-scale overflows, checkpoints, LR changes, Slurm cancellations and
   warnings; traceback blocks are parsed as blocks.
6. **Fast path** (:mod:`.fastpath`). When most lines of a big file share one
   template (``iter N: loss X, time Yms, mfu Z%``), whole chunks of such lines
   are parsed at once with ``numpy.fromstring`` after the template's literal
   text is blanked; the lines that do not fit go through the line rules.

Markdown files (logbooks, model cards) are read strictly: only lines that a
dedicated rule recognises give series, and events come only from fenced code.
"""

from __future__ import annotations

from pathlib import Path

from ..part import Part, Source
from . import detect
from .readfile import read_file

NAME = "textlog"
RANK = 10


def sniff(path: Path, head: bytes) -> float:
    """Low scores on purpose: a structured reader claims its format first."""
    return detect.sniff(path, head)


def read(src: Source) -> Part:
    """Read a printed training log (or a Markdown logbook, strictly) into a Part."""
    return read_file(src, NAME)
