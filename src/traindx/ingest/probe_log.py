"""The traindx probe's run log (``probe-rank<N>.jsonl``, written by ``traindx.watch`` and its callbacks).

One JSON object per line after a header that names the format and its
version (see :mod:`traindx.probe.logformat`). Step records become the
canonical series (``loss/train``, ``grad_norm/pre_clip``, ``lr``,
``lr/group_N``, ``step_time``, ``data_wait``, ``memory/*``, ``loss_scale``);
cadence records the per-layer ones (``grad_norm/<param>``,
``update_ratio/<param>``, ``weight_norm/<param>``, ``dead_frac/<module>``,
``saturated_frac/<module>``, ``act_mean/<module>``, ``act_std/<module>``);
event records the probe's findings (``nan_origin``, ``grad_not_cleared``,
``params_not_updated``, ``eval_mode_in_training``, ``frozen_params``,
``rank_drift``), and ``probe`` records what the probe could not see
(``probe_note`` events).

A log still being written ends with at most one partial line: it is skipped
without an issue, and the run is marked as not ended. A header of a newer
version than this reader knows is refused with a clear reason. The batch
files the probe saves beside the log (``nan-batch-*.pt``) are claimed here and
skipped with what they are, so they are not mistaken for checkpoints.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..probe import logformat as fmt
from .part import Part, ReadError, Source
from .textio import is_binary, iter_lines, read_head

NAME = "probe_log"
RANK = 90

MAX_LINE_ISSUES = 20
_BATCH = re.compile(r"^nan-batch-step(-?\d+)-rank(\d+)\.pt$")

# step-record keys -> canonical series
STEP_SERIES = {
    "loss": "loss/train",
    "step_time": "step_time",
    "data_wait": "data_wait",
    "loss_scale": "loss_scale",
    "grad_norm_at_step": "grad_norm/post_clip",
}
MEMORY_SERIES = {
    "allocated": "memory/allocated",
    "reserved": "memory/reserved",
    "peak": "memory/peak",
    "rss": "memory/rss",
    "rss_peak": "memory/peak",
}
# cadence-record tables -> series prefix
TABLES = {
    "layers": ("grad_norm", "update_ratio", "weight_norm"),
    "acts": ("dead_frac", "saturated_frac", "act_mean", "act_std"),
}
HEADER_CONFIG = ("framework", "model", "wrapped", "compiled", "device", "optimizer", "scaler", "grad_norm", "memory", "world_size", "rank", "torch")


def sniff(path: Path, head: bytes) -> float:
    if _BATCH.match(path.name):
        return 0.99
    if is_binary(head):
        return 0.0
    first = head.split(b"\n", 1)[0]
    return 0.99 if fmt.header_version(first) is not None else 0.0


def read(src: Source) -> Part:
    m = _BATCH.match(src.path.name)
    if m:
        part = Part(src, NAME, format="traindx probe batch")
        part.issue(
            f"the batch of the first non-finite value (step {m.group(1)}, rank {m.group(2)}), saved by the probe for replay; "
            "load it with torch.load(path, weights_only=True)"
        )
        return part
    head = read_head(src.path)
    if is_binary(head):
        raise ReadError("binary content where a traindx probe log was expected")
    return _read_log(src)


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def _read_log(src: Source) -> Part:
    part = Part(src, NAME, format="traindx probe log")
    header: dict[str, Any] | None = None
    grad_series = "grad_norm/pre_clip"
    rank = 0
    bad = 0
    pending_bad: tuple[str, int] | None = None  # a bad line is only an issue when more lines follow it
    ended = False
    last_line = 0

    def issue(msg: str, n: int) -> None:
        nonlocal bad
        bad += 1
        if bad <= MAX_LINE_ISSUES:
            part.issue(msg, n)

    for n, line in iter_lines(src.path, part):
        s = line.strip()
        if not s:
            continue
        last_line = n
        if pending_bad is not None:
            issue(*pending_bad)
            pending_bad = None
        if header is None:
            v = fmt.header_version(s)
            if v is None:
                raise ReadError("not a traindx probe log: the first line is not its header")
            try:
                fmt.check_version(v)
            except fmt.UnsupportedVersion as e:
                raise ReadError(str(e)) from None
            header = json.loads(s)
            grad_series = "grad_norm/post_clip" if header.get("grad_norm") == "post_clip" else "grad_norm/pre_clip"
            rank = int(_num(header.get("rank")) or 0)
            _header_config(part, header, n)
            continue
        try:
            rec = json.loads(s)
        except ValueError:
            pending_bad = ("not a complete JSON record; line skipped", n)
            continue
        if not isinstance(rec, dict):
            issue("not a JSON object; line skipped", n)
            continue
        kind = rec.get("kind")
        if kind == "step":
            _step(part, rec, n, grad_series)
        elif kind in TABLES:
            _table(part, rec, n, TABLES[kind])
        elif kind == "event":
            _event(part, rec, n, rank)
        elif kind == "probe":
            text = str(rec.get("text") or rec.get("error") or rec.get("what") or "")
            if rec.get("what") == "disabled":
                text = f"probe part {rec.get('part')} turned off after an error: {rec.get('error', '')}"
            part.event("probe_note", text, n, _num(rec.get("step")), what=rec.get("what"), part=rec.get("part"), rank=rank)
        elif kind == "end":
            ended = True
            counts = rec.get("counts") if isinstance(rec.get("counts"), dict) else {}
            for k, v in sorted(counts.items()):
                part.set_summary(f"probe.{k}", v, n)
            if rec.get("first_nonfinite_step") is not None:
                part.set_summary("probe.first_nonfinite_step", rec.get("first_nonfinite_step"), n)
        elif kind == "header":
            issue("a second header inside the log (two runs appended to one file?); the records after it are read as the same run", n)
        else:
            issue(f"unknown record kind {kind!r}; line skipped", n)
    if header is None:
        raise ReadError("empty file")
    # a partial last line is the run still writing, not an error
    if bad > MAX_LINE_ISSUES:
        part.issue(f"{bad - MAX_LINE_ISSUES} more lines were not probe records and were skipped")
    part.set_summary("probe.ended", ended, last_line or None)
    if not ended:
        part.format = "traindx probe log (still being written, or the run stopped without closing the probe)"
    return part


def _header_config(part: Part, header: dict[str, Any], n: int) -> None:
    part.set_config("probe.version", header.get(fmt.FORMAT_KEY), n)
    for k in HEADER_CONFIG:
        v = header.get(k)
        if v is not None and not isinstance(v, (dict, list)):
            part.set_config(f"probe.{k}", v, n)
    cfg = header.get("config")
    if isinstance(cfg, dict):
        for k in ("every", "on_nonfinite", "detail"):
            if k in cfg:
                part.set_config(f"probe.{k}", cfg[k], n)
    params = header.get("params")
    if isinstance(params, dict) and _num(params.get("count")) is not None:
        part.set_config("probe.param_count", int(params["count"]), n)


def _step(part: Part, rec: dict[str, Any], n: int, grad_series: str) -> None:
    step = _num(rec.get("step"))
    if step is None:
        part.issue("step record without a step; line skipped", n)
        return
    g = _num(rec.get("grad_norm"))
    if g is not None:
        part.point("grad_norm", step, g, n, canonical=grad_series)
    for key, canon in STEP_SERIES.items():
        v = _num(rec.get(key))
        if v is not None:
            part.point(key, step, v, n, canonical=canon)
    lr = rec.get("lr")
    if isinstance(lr, list):
        for i, v in enumerate(lr):
            f = _num(v)
            if f is None:
                continue
            if i == 0:
                part.point("lr", step, f, n, canonical="lr")
            else:
                part.point(f"lr[{i}]", step, f, n, canonical=f"lr/group_{i}")
    elif _num(lr) is not None:
        part.point("lr", step, float(lr), n, canonical="lr")
    mem = rec.get("memory")
    if isinstance(mem, dict):
        for k, canon in MEMORY_SERIES.items():
            v = _num(mem.get(k))
            if v is not None:
                part.point(f"memory.{k}", step, v, n, canonical=canon)


def _table(part: Part, rec: dict[str, Any], n: int, prefixes: tuple[str, ...]) -> None:
    step = _num(rec.get("step"))
    if step is None:
        part.issue("record without a step; line skipped", n)
        return
    for prefix in prefixes:
        tab = rec.get(prefix)
        if not isinstance(tab, dict):
            continue
        for name, v in tab.items():
            f = _num(v)
            if f is None:
                continue
            series = f"{prefix}/{name}"
            part.point(series, step, f, n, canonical=series)


def _event(part: Part, rec: dict[str, Any], n: int, rank: int) -> None:
    kind = rec.get("event")
    if not isinstance(kind, str) or not kind:
        part.issue("event record without an event kind; line skipped", n)
        return
    data = rec.get("data") if isinstance(rec.get("data"), dict) else {}
    data = {k: v for k, v in data.items() if k not in ("kind", "text", "line", "step")}
    data["rank"] = rank
    part.event(kind, str(rec.get("text") or kind), n, _num(rec.get("step")), **data)
