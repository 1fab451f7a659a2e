"""JSON Lines metric logs: one JSON object per line.

Covers fairseq/metaseq ``--log-format json`` files written as pure JSONL,
LLaMA-Factory ``trainer_log.jsonl`` (the step is ``current_steps``), W&B
``wandb-history.jsonl`` (``_step``, or the trainer's own ``train/global_step``)
and history exports. Values that are numeric strings (``"16.446"``, as fairseq
writes them) are converted; ``NaN``/``Infinity`` tokens are read by the
standard library parser. A line that is not valid JSON becomes a located
issue and the rest of the file is still read.

:class:`RecordSink` turns metric records (dicts) into points; the JSON-file
reader uses it for lists of records too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..run import to_float
from .part import Part, ReadError, Source
from .textio import is_binary, iter_lines, read_head

NAME = "jsonl"
RANK = 70

# Keys that carry the step, best first. ``epoch`` is the fallback unit.
STEP_KEYS: tuple[str, ...] = (
    "global_step",
    "trainer/global_step",
    "train/global_step",
    "step",
    "current_steps",
    "num_updates",
    "iteration",
    "iter",
    "it",
    "_step",
)
EPOCH_KEY = "epoch"
# Bookkeeping keys that are not metrics.
SKIP_KEYS = frozenset({"_timestamp", "_runtime", "timestamp", "_wandb", "percentage", "elapsed_time", "remaining_time"})
# Keys that are run settings logged beside the metrics.
CONFIG_KEYS = frozenset({"total_steps", "max_steps"})
# Keys of generated-text records; a file made of these belongs to the samples reader.
SAMPLE_KEYS = ("generation", "output", "completion", "response", "text", "pred", "prediction", "predict", "generated_text")

MAX_LINE_ISSUES = 20  # located issues per file; the rest are counted

_FORMATS = {
    "current_steps": "LLaMA-Factory trainer_log.jsonl",
    "_step": "W&B history",
    "trainer/global_step": "W&B history (trainer steps)",
    "train/global_step": "W&B history (trainer steps)",
    "num_updates": "fairseq JSON log",
}


def flatten_numbers(record: dict[str, Any], prefix: str = "", depth: int = 0) -> list[tuple[str, float]]:
    """(key, value) for every numeric leaf; nested dicts join with ``/``; media dicts and lists are skipped."""
    out: list[tuple[str, float]] = []
    for k, v in record.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            if depth < 3 and "_type" not in v:
                out.extend(flatten_numbers(v, key + "/", depth + 1))
            continue
        f = to_float(v)
        if f is not None:
            out.append((key, f))
    return out


class RecordSink:
    """Adds metric records (one dict per logged row) to a Part.

    The step key is chosen at the first record that has one (see
    :data:`STEP_KEYS`); a record without it reuses the last step seen. With no
    step key at all the record ordinal is the step (``step_source`` inferred);
    with only ``epoch`` the step unit is the epoch.
    """

    def __init__(self, part: Part) -> None:
        self.part = part
        self.step_key: str | None = None
        self.decided = False
        self.last_step: float | None = None
        self.index = 0
        self.missing_reported = False
        self.skip = frozenset(STEP_KEYS) | SKIP_KEYS | {EPOCH_KEY}

    def _decide(self, record: dict[str, Any]) -> None:
        for k in STEP_KEYS:
            if k in record and to_float(record[k]) is not None:
                self.step_key = k
                break
        else:
            if EPOCH_KEY in record and to_float(record[EPOCH_KEY]) is not None:
                self.step_key = EPOCH_KEY
                self.part.step_unit = "epoch"
            else:
                self.step_key = None
                self.part.step_source = "inferred"
        self.decided = True

    def add(self, record: dict[str, Any], line: int, lines: dict[str, int] | None = None) -> int:
        """Add the numeric values of ``record``; returns the number of points added.

        ``line`` is the record's line; ``lines`` optionally gives the line of
        each top-level key (a multi-line JSON document).
        """
        values = [(k, v) for k, v in flatten_numbers(record) if k not in self.skip]
        for k in CONFIG_KEYS:
            if k in record:
                self.part.set_config(k, record[k], (lines or {}).get(k, line))
        values = [(k, v) for k, v in values if k not in CONFIG_KEYS]
        if not values:
            return 0
        if not self.decided:
            self._decide(record)
        index = self.index
        self.index += 1
        if self.step_key is None:
            step: float | None = float(index)
        else:
            step = to_float(record.get(self.step_key))
            if step is None:
                step = self.last_step
                if step is None:
                    if not self.missing_reported:
                        self.part.issue(f"record has no {self.step_key!r} and no earlier step; skipped", line)
                        self.missing_reported = True
                    return 0
        self.last_step = step
        epoch = to_float(record.get(EPOCH_KEY)) if self.step_key != EPOCH_KEY else step
        if lines:
            for k, v in values:
                ln = lines.get(k) or lines.get(k.split("/", 1)[0]) or line
                self.part.point(k, step, v, ln, epoch=epoch)
        else:
            for k, v in values:
                self.part.point(k, step, v, line, epoch=epoch)
        return len(values)

    @property
    def format(self) -> str:
        return _FORMATS.get(self.step_key or "", "")


def first_object(head: bytes) -> dict[str, Any] | None:
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    for raw in text.splitlines()[:5]:
        s = raw.strip()
        if not s:
            continue
        if not (s.startswith("{") and s.endswith("}")):
            return None
        try:
            obj = json.loads(s)
        except ValueError:
            return None
        return obj if isinstance(obj, dict) else None
    return None


def is_sample_record(obj: dict[str, Any]) -> bool:
    """True for a record of generated text (and no more than a couple of numbers)."""
    has_text = any(isinstance(obj.get(k), str) for k in SAMPLE_KEYS)
    if not has_text:
        return False
    numbers = sum(1 for k, v in obj.items() if k not in STEP_KEYS and to_float(v) is not None and not isinstance(v, str))
    return numbers <= 2


def sniff(path: Path, head: bytes) -> float:
    name = path.name.lower()
    if is_binary(head):
        return 0.0
    obj = first_object(head)
    if name.endswith((".jsonl", ".ndjson", ".jsonlines")):
        if obj is not None and is_sample_record(obj):
            return 0.5
        return 0.8
    if obj is None:
        return 0.0
    if is_sample_record(obj):
        return 0.3
    # a .json/.log/.txt file whose first line is a whole object with numbers
    if any(to_float(v) is not None for v in obj.values()):
        # a second object line makes it JSONL rather than a one-line JSON document
        lines = [ln for ln in head.decode("utf-8", errors="replace").splitlines() if ln.strip()]
        if len(lines) >= 2 and lines[1].lstrip().startswith("{"):
            return 0.7
        return 0.4 if not name.endswith(".json") else 0.0
    return 0.0


def read(src: Source) -> Part:
    part = Part(src, NAME, format="JSON lines")
    head = read_head(src.path)
    if is_binary(head):
        raise ReadError("binary content where JSON lines were expected")
    sink = RecordSink(part)
    parsed = bad = 0
    first_bad: str | None = None

    def bad_line(msg: str, lineno: int) -> None:
        nonlocal bad, first_bad
        bad += 1
        first_bad = first_bad or msg
        if bad <= MAX_LINE_ISSUES:
            part.issue(msg, lineno)

    for lineno, line in iter_lines(src.path, part):
        s = line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except ValueError as e:
            bad_line(f"invalid JSON ({e.msg if isinstance(e, json.JSONDecodeError) else e}); line skipped", lineno)
            continue
        except RecursionError:
            bad_line("JSON nested too deeply; line skipped", lineno)
            continue
        if not isinstance(obj, dict):
            bad_line(f"a JSON {type(obj).__name__}, not an object; line skipped", lineno)
            continue
        parsed += 1
        sink.add(obj, lineno)
    if bad > MAX_LINE_ISSUES:
        part.issue(f"{bad - MAX_LINE_ISSUES} more lines were not JSON objects and were skipped")
    if parsed == 0:
        if bad:
            raise ReadError(f"no line is a JSON object ({first_bad or 'not JSON'})")
        raise ReadError("empty file")
    if sink.format:
        part.format = sink.format
    return part
