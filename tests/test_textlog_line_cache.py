"""The printed-log reader's line cache: repeated lines read exactly as without it.

The reader remembers, per raw line text, what normalising, the line rules and the
event signatures made of it. Everything that depends on where the line is (its
number, the step and epoch at that point, an open traceback) must still come from
the reading state, one event per occurrence.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from traindx.ingest import textlog
from traindx.ingest.part import Part, Source
from traindx.ingest.textlog import reader as reader_mod

OVERFLOW = (
    "[2024-09-15 00:13:28,307] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! "
    "Rank 0 Skipping step. Attempted loss scale: 65536, reducing to 32768"
)
WARNING = "/usr/lib/python3/site-packages/torch/nn/modules/module.py:1501: UserWarning: some deprecated thing is used here"
SHARD = "Loading data shard 17 of 64 from /data/shards ..."


def read(path: Path) -> Part:
    return textlog.read(Source(path, path.name, path.stat().st_size))


def _nan_safe(a: np.ndarray) -> list[Any]:
    return ["nan" if math.isnan(v) else v for v in a.tolist()]


def snapshot(part: Part) -> dict[str, Any]:
    """Everything a reader hands on, in comparable form."""
    series = {}
    for raw, b in part.series.items():
        s = b.build(canonical=raw, source="", step_unit="step", step_source="logged", reader="")
        ep = None if s.epochs is None else _nan_safe(s.epochs)
        series[raw] = (b.canonical, _nan_safe(s.steps), _nan_safe(s.values), s.lines.tolist(), ep)
    return {
        "format": part.format,
        "step_unit": part.step_unit,
        "step_source": part.step_source,
        "units": dict(part.units),
        "series": series,
        "events": [(e.kind, e.text, e.line, e.step, e.data) for e in part.events],
        "config": {k: (c.value, c.line) for k, c in part.config.items()},
        "summary": {k: (c.value, c.line) for k, c in part.summary.items()},
        "issues": [(i.message, i.line) for i in part.issues],
    }


def read_both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], dict[str, Any]]:
    monkeypatch.setattr(reader_mod, "CACHE_ENABLED", True)
    cached = snapshot(read(path))
    monkeypatch.setattr(reader_mod, "CACHE_ENABLED", False)
    plain = snapshot(read(path))
    monkeypatch.setattr(reader_mod, "CACHE_ENABLED", True)
    return cached, plain


def repeated_log() -> tuple[str, list[int], list[int], list[float]]:
    """A log whose overflow, warning and shard lines repeat word for word between steps.

    Returns the text, the line numbers of the overflow lines, those of the warnings,
    and the step in force at each overflow line."""
    out: list[str] = []
    overflow_lines: list[int] = []
    warning_lines: list[int] = []
    overflow_steps: list[float] = []
    step = 0
    for i in range(600):
        r = i % 6
        if r == 0:
            step += 10
            out.append(f"step={step} loss={3.0 - i / 1000:.4f} lr=1.0e-04")
        elif r == 1:
            out.append(OVERFLOW)
            overflow_lines.append(len(out))
            overflow_steps.append(float(step))
        elif r == 2:
            out.append(WARNING)
            warning_lines.append(len(out))
        elif r == 3:
            out.append(SHARD)
        elif r == 4:
            out.append(f" {i % 100:2d}%|##4       | {i}/600 [01:23<02:05,  2.40it/s, loss={3.0 - i / 1000:.3f}]")
        else:
            out.append("")
        if i == 300:
            # a traceback cut by the same warning text: the block ends there and the warning is read
            out += ["Traceback (most recent call last):", '  File "train.py", line 3, in <module>', WARNING, ""]
            warning_lines.append(len(out) - 1)
    return "\n".join(out) + "\n", overflow_lines, warning_lines, overflow_steps


@pytest.mark.parametrize("fast", [True, False])
def test_repeated_event_lines_one_event_per_occurrence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    text, overflow_lines, warning_lines, overflow_steps = repeated_log()
    p = tmp_path / "repeat.log"
    p.write_text(text, encoding="utf-8")
    monkeypatch.setattr(textlog.fastpath, "ENABLED", fast)
    cached, plain = read_both(p, monkeypatch)
    assert cached == plain
    ov = [e for e in cached["events"] if e[0] == "loss_scale_overflow"]
    assert [e[2] for e in ov] == overflow_lines
    assert [e[3] for e in ov] == overflow_steps
    assert len({e[3] for e in ov}) == 100  # each at its own step, not the step of its first occurrence
    warns = [e for e in cached["events"] if e[0] == "warning"]
    assert [e[2] for e in warns] == warning_lines
    assert [e[2] for e in cached["events"] if e[0] == "exception"] == [warning_lines[50] - 2]  # the cut traceback
    # the overflow messages give one loss-scale point per occurrence, at its step and line
    ls = cached["series"]["loss_scale (overflow)"]
    assert ls[1] == overflow_steps and ls[3] == overflow_lines and set(ls[2]) == {32768.0}


def test_cache_keeps_rule_records_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras evaluate lines repeat word for word and the reading state renames their values;
    a cached record must not carry one occurrence's renaming into the next."""
    lines = []
    for ep in range(1, 4):
        lines.append(f"Epoch {ep}/3")
        lines.append(f"100/100 [==============================] - 2s 20ms/step - loss: {1.0 / ep:.4f} - accuracy: 0.{ep}000")
    for _ in range(3):
        lines.append("10/10 [==============================] - 0s 5ms/step - loss: 0.3000 - accuracy: 0.9000")
    p = tmp_path / "keras.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cached, plain = read_both(p, monkeypatch)
    assert cached == plain
    assert not any(k.startswith("evaluate evaluate") for k in cached["series"])


def test_corpus_text_logs_same_with_and_without_cache(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checked = 0
    for path in sorted(corpus.rglob("*")):
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        with open(path, "rb") as f:
            head = f.read(65536)
        if textlog.sniff(path, head) < 0.3:
            continue
        cached, plain = read_both(path, monkeypatch)
        assert cached == plain, path
        checked += 1
    assert checked >= 10


def test_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_mod, "LINE_CACHE", 8)
    monkeypatch.setattr(textlog.fastpath, "ENABLED", False)
    text, overflow_lines, _, _ = repeated_log()
    p = tmp_path / "bounded.log"
    p.write_text(text, encoding="utf-8")
    cached, plain = read_both(p, monkeypatch)
    assert cached == plain
    assert [e[2] for e in cached["events"] if e[0] == "loss_scale_overflow"] == overflow_lines
    assert np.all(np.diff(overflow_lines) > 0)
