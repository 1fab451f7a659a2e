"""Whole-document ``.json`` files, recognised by structure.

- Keras ``History.history`` (a dict of per-epoch lists; the epoch is the list
  index, 0-based like Keras' CSVLogger), also nested as ``{"history": ..., "params": ...}``.
- A list of per-epoch or per-step records (skorch ``history.json``, history
  exports). skorch's per-batch ``batches`` lists become per-batch series named
  ``batch <key>`` with the canonical name ``<canonical>/batch`` and a global
  batch index (0-based) as the step.
- W&B ``wandb-summary.json`` (final values, to the run summary) and
  ``wandb-metadata.json`` (a few host and program facts, to config ``wandb.*``).
- HF ``all_results.json``-style result files (a flat dict of numbers, to the summary).
- JSON configs (``config.json``, ``args.json``, ``training_args.json``,
  ``adapter_config.json``, ``hparams.json``...), flattened to ``a.b.c`` keys.

Anything else gives an empty part with the reason as an issue. Every value
keeps the line of its key (:class:`JsonLocator` finds it in one forward scan
of the text).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import names
from .jsonl import STEP_KEYS, RecordSink
from .part import Part, ReadError, Source
from .textio import is_binary, read_head, read_text

NAME = "jsonfile"
RANK = 75

MAX_CONFIG_LEAVES = 5000  # a bigger dict is data (a vocabulary, a weight map), not a config
HF_STATE_NAMES = ("trainer_state.json",)
WANDB_METADATA_KEYS = (
    "os", "python", "program", "codePath", "args", "host", "startedAt", "state",
    "cuda", "gpu", "gpu_count", "cpu_count", "cpu_count_logical", "memory",
)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_SCALAR = re.compile(r'[^,\]\}\s]+')
_SKIP_TO_VALUE = " \t\r\n,:[]{}"


class JsonLocator:
    """Finds the line of each key and list element of a parsed JSON text.

    The parsed object is walked in document order while a cursor moves forward
    through the text: the next string token after a value is the next key, so
    one pass over the text gives every line. A one-line file (or a duplicate
    key that breaks the alignment) simply gives line 1 / the best found line.
    """

    __slots__ = ("text", "pos", "line", "flat")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        # a file with no inner line break has every value on line 1
        self.flat = text.count("\n", 0, len(text.rstrip())) == 0

    def _advance(self, new: int) -> None:
        if new > self.pos:
            self.line += self.text.count("\n", self.pos, new)
            self.pos = new

    def key(self, k: str) -> int:
        """The line of key ``k`` (the next key in document order); the cursor moves past it."""
        if self.flat:
            return 1
        text = self.text
        i = text.find('"', self.pos)
        if i < 0:
            return 0
        m = _STRING.match(text, i)
        if m is None:
            return 0
        tok = m.group()
        if tok != json.dumps(k) and tok != json.dumps(k, ensure_ascii=False):
            try:
                same = json.loads(tok) == k
            except ValueError:
                same = False
            if not same:  # out of step (a duplicate key): search for it forward
                for cand in (json.dumps(k), json.dumps(k, ensure_ascii=False)):
                    j = text.find(cand + ":", self.pos)
                    if j < 0:
                        j = text.find(cand + " :", self.pos)
                    if j >= 0:
                        self._advance(j)
                        line = self.line
                        self._advance(j + len(cand))
                        return line
                return 0
        self._advance(i)
        line = self.line
        self._advance(m.end())
        return line

    def skip(self, v: Any) -> None:
        """Move the cursor past value ``v`` (which starts after the cursor)."""
        if self.flat:
            return
        if isinstance(v, dict):
            for k, vv in v.items():
                self.key(k)
                self.skip(vv)
        elif isinstance(v, list):
            for vv in v:
                self.skip(vv)
        elif isinstance(v, str):
            i = self.text.find('"', self.pos)
            if i >= 0:
                m = _STRING.match(self.text, i)
                self._advance(m.end() if m else i + 1)
        # numbers, true/false/null hold no quote: the next key search passes them

    def element(self, v: Any) -> int:
        """The line of the next scalar list element ``v``; the cursor moves past it."""
        if self.flat:
            return 1
        text, n = self.text, len(self.text)
        i = self.pos
        while i < n and text[i] in _SKIP_TO_VALUE:
            i += 1
        self._advance(i)
        line = self.line
        if isinstance(v, (dict, list)):
            self.skip(v)
        elif isinstance(v, str):
            self.skip(v)
        else:
            m = _SCALAR.match(text, i)
            if m:
                self._advance(m.end())
        return line


def load_json(src: Source) -> tuple[str, Any]:
    """The text and parsed value of a JSON file; ReadError with a one-line reason otherwise."""
    head = read_head(src.path)
    if is_binary(head):
        raise ReadError("binary content where JSON was expected")
    text = read_text(src.path)
    if not text.strip():
        raise ReadError("empty file")
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as e:
        where = "end of file (truncated?)" if e.pos >= len(text.rstrip()) else f"line {e.lineno} column {e.colno}"
        raise ReadError(f"invalid JSON: {e.msg} at {where}") from None
    except RecursionError:
        raise ReadError("invalid JSON: nested too deeply") from None


def flatten(obj: Any, loc: JsonLocator, prefix: str = "", out: list[tuple[str, Any, int]] | None = None) -> list[tuple[str, Any, int]]:
    """(dotted key, leaf value, line) for a dict; lists are kept whole as values."""
    if out is None:
        out = []
    for k, v in obj.items():
        line = loc.key(k)
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            flatten(v, loc, key + ".", out)
        else:
            out.append((key, v, line))
            loc.skip(v)
    return out


def _count_leaves(obj: Any, limit: int) -> int:
    n = 0
    stack = [obj]
    while stack and n <= limit:
        o = stack.pop()
        if isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, list):
            n += 1 if len(o) < 64 else len(o)
        else:
            n += 1
    return n


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_history_dict(obj: Any) -> bool:
    if not isinstance(obj, dict) or not obj:
        return False
    lists = [v for v in obj.values() if isinstance(v, list)]
    if len(lists) != len(obj):
        return False
    return any(lst and all(_is_number(x) or x is None for x in lst) for lst in lists)


def _is_records(obj: Any) -> bool:
    return isinstance(obj, list) and bool(obj) and all(isinstance(r, dict) for r in obj[:50])


def _is_results(name: str, obj: Any) -> bool:
    if not isinstance(obj, dict) or not obj or len(obj) > 500:
        return False
    if not any(w in name for w in ("result", "metric", "summary", "score")):
        return False
    return all(_is_number(v) or isinstance(v, str) for v in obj.values()) and any(_is_number(v) for v in obj.values())


def _config_prefix(name: str, obj: dict[str, Any]) -> str:
    if name == "adapter_config.json":
        return "adapter."
    if name == "generation_config.json":
        return "generation."
    if name == "config.json" and ("model_type" in obj or "architectures" in obj):
        return "model."
    return ""


def sniff(path: Path, head: bytes) -> float:
    name = path.name.lower()
    if not name.endswith(".json") or name in HF_STATE_NAMES:
        return 0.0
    if is_binary(head):
        return 0.1  # still ours to report: a .json that is not JSON
    return 0.5


def read(src: Source) -> Part:
    text, obj = load_json(src)
    name = src.path.name.lower()
    part = Part(src, NAME)
    loc = JsonLocator(text)
    if name == "wandb-summary.json" and isinstance(obj, dict):
        _read_summary(part, obj, loc, skip_private=True)
        part.format = "W&B summary"
    elif name == "wandb-metadata.json" and isinstance(obj, dict):
        _read_wandb_metadata(part, obj, loc)
        part.format = "W&B metadata"
    elif _is_history_dict(obj):
        _read_history_dict(part, obj, loc)
    elif isinstance(obj, dict) and _is_history_dict(obj.get("history")):
        for k, v in obj.items():
            line = loc.key(k)
            if k == "history":
                _read_history_dict(part, v, loc)
            elif k == "params" and isinstance(v, dict):
                for key, value, ln in flatten(v, loc, "keras.params."):
                    part.set_config(key, value, ln)
            else:
                if not isinstance(v, (dict, list)):
                    part.set_config(f"keras.{k}", v, line)
                loc.skip(v)
    elif _is_records(obj):
        _read_records(part, obj, loc)
    elif _is_results(name, obj):
        _read_summary(part, obj, loc, skip_private=False)
        part.format = "results JSON"
    elif isinstance(obj, dict) and obj:
        if _count_leaves(obj, MAX_CONFIG_LEAVES) > MAX_CONFIG_LEAVES:
            part.issue(f"JSON object with more than {MAX_CONFIG_LEAVES:,} values: data, not a run config")
        else:
            for key, value, line in flatten(obj, loc, _config_prefix(name, obj)):
                part.set_config(key, value, line)
            part.format = "JSON config"
    else:
        part.issue(f"JSON {type(obj).__name__} of no known training-artifact structure")
    return part


def _read_summary(part: Part, obj: dict[str, Any], loc: JsonLocator, *, skip_private: bool) -> None:
    for key, value, line in flatten(obj, loc):
        if skip_private and key.startswith("_"):
            continue
        if isinstance(value, (dict, list)):
            continue
        part.set_summary(key, value, line)


def _read_wandb_metadata(part: Part, obj: dict[str, Any], loc: JsonLocator) -> None:
    lines = {}
    for k, v in obj.items():
        lines[k] = loc.key(k)
        loc.skip(v)
    for k in WANDB_METADATA_KEYS:
        if k not in obj or obj[k] is None:
            continue
        v = obj[k]
        if isinstance(v, dict):
            for kk, vv in v.items():
                if not isinstance(vv, (dict, list)):
                    part.set_config(f"wandb.{k}.{kk}", vv, lines[k])
        else:
            part.set_config(f"wandb.{k}", v, lines[k])
    devices = obj.get("gpu_devices") or obj.get("gpu_nvidia")
    if isinstance(devices, list) and devices and isinstance(devices[0], dict):
        mem = devices[0].get("memory_total", devices[0].get("memoryTotal"))
        if mem is not None:
            part.set_config("wandb.gpu_memory_total", mem, lines.get("gpu_devices", lines.get("gpu_nvidia")))


def _read_history_dict(part: Part, obj: dict[str, Any], loc: JsonLocator) -> None:
    part.format = "Keras History (dict of per-epoch lists)"
    part.step_unit = "epoch"
    for k, values in obj.items():
        loc.key(k)
        for i, v in enumerate(values):
            line = loc.element(v)
            if _is_number(v):
                part.point(k, float(i), float(v), line, epoch=float(i))


def _read_records(part: Part, records: list[Any], loc: JsonLocator) -> None:
    skorch = any(isinstance(r, dict) and isinstance(r.get("batches"), list) for r in records[:5])
    part.format = "skorch history" if skorch else "list of metric records"
    sink = RecordSink(part)
    batch_index: dict[str, int] = {}
    for rec in records:
        if not isinstance(rec, dict):
            loc.skip(rec)
            part.issue(f"a {type(rec).__name__} among the records; skipped", loc.line if not loc.flat else 1)
            continue
        lines: dict[str, int] = {}
        first = 0
        for k, v in rec.items():
            line = loc.key(k)
            first = first or line
            if k == "batches" and isinstance(v, list):
                _read_batches(part, v, loc, rec, batch_index)
            else:
                lines[k] = line
                loc.skip(v)
        sink.add(rec, first or 1, lines=lines)


def _read_batches(part: Part, batches: list[Any], loc: JsonLocator, rec: dict[str, Any], counters: dict[str, int]) -> None:
    """skorch per-batch dicts: one series per key, stepped by a global batch index."""
    epoch = rec.get("epoch")
    ep = float(epoch) if _is_number(epoch) else None
    for b in batches:
        if not isinstance(b, dict):
            loc.skip(b)
            continue
        for k, v in b.items():
            line = loc.key(k)
            loc.skip(v)
            if not _is_number(v) or k.endswith("batch_size") or k in STEP_KEYS:
                continue
            i = counters.get(k, 0)
            counters[k] = i + 1
            raw = f"batch {k}"
            part.point(raw, float(i), float(v), line, epoch=ep, canonical=names.canonical(k) + "/batch")
            part.units[raw] = "step"
