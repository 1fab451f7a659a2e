"""The fast path with several templates reads a mixed log exactly as the line rules do."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from traindx.ingest import textlog
from traindx.ingest.part import Part, Source
from traindx.ingest.textlog import lines as textlog_lines
from traindx.ingest.textlog.normalize import normalize
from traindx.ingest.textlog.reader import Reader
from traindx.ingest.textlog.rules import sample_rule
from traindx.ingest.textlog.template import learn_templates


def read(path: Path) -> Part:
    return textlog.read(Source(path, path.name, path.stat().st_size))


def _series(part: Part) -> dict[str, tuple]:
    out = {}
    for raw, b in part.series.items():
        # every point as read, in the builder's (step, line) order: nothing hidden by de-duplication
        epochs = np.asarray(b.epochs, dtype=np.float64) if b.has_epochs else None
        out[raw] = (b.canonical, np.asarray(b.steps), np.asarray(b.values), np.asarray(b.lines), epochs)
    return out


def assert_same(fast: Part, slow: Part) -> None:
    fs, ss = _series(fast), _series(slow)
    assert list(fs) == list(ss)
    for raw in fs:
        a, b = fs[raw], ss[raw]
        assert a[0] == b[0], raw
        assert np.array_equal(a[1], b[1]), raw
        assert np.array_equal(a[2], b[2], equal_nan=True), raw
        assert np.array_equal(a[3], b[3]), raw
        assert (a[4] is None) == (b[4] is None), raw
        if a[4] is not None:
            assert np.array_equal(a[4], b[4], equal_nan=True), raw
    ev = [(e.kind, e.text, e.line, e.step, e.data) for e in fast.events]
    assert ev == [(e.kind, e.text, e.line, e.step, e.data) for e in slow.events]
    assert fast.config == slow.config and fast.summary == slow.summary
    assert fast.issues == slow.issues
    assert (fast.format, fast.step_unit, fast.step_source) == (slow.format, slow.step_unit, slow.step_source)
    assert fast.units == slow.units and fast.step_sources == slow.step_sources


def compare(path: Path, monkeypatch) -> Part:
    monkeypatch.setattr(textlog_lines, "CHUNK_BYTES", 64 * 1024)  # many chunks, many chunk edges
    fast = read(path)
    monkeypatch.setattr(textlog.fastpath, "ENABLED", False)
    slow = read(path)
    monkeypatch.setattr(textlog.fastpath, "ENABLED", True)
    assert_same(fast, slow)
    return fast


def mixed_lines(n: int, *, k_change_at: int | None = None) -> list[str]:
    out = []
    for i in range(1, n + 1):
        r = i % 20
        loss = "nan" if 9000 < i < 9040 else f"{2 + 8 * math.exp(-i / 5000):.4f}"
        if r == 0:
            out.append(f"{{'loss': {loss}, 'grad_norm': {0.5 + i % 7 / 10:.4f}, 'learning_rate': 5e-05, 'epoch': {i / 1e4:.2f}}}")
        elif r == 5:
            out.append(f" {i % 100:2d}%|##4       | {i}/{n} [01:23<02:05,  2.40it/s, loss={loss}, lr=1e-4]")
        elif r == 7:
            out.append(f"[2024-09-15 00:13:28,307] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: {2 ** (16 + i % 3)}, reducing to {2 ** (15 + i % 3)}")
        elif r == 9:
            out.append("/usr/lib/python3/site-packages/torch/nn/modules/module.py:1501: UserWarning: some deprecated thing is used here")
        elif r == 11:
            extra = f", lr {1e-4:.2e}" if k_change_at is not None and i > k_change_at else ""
            out.append(f"step {i}: train loss {loss}, val loss {2.1 + 8 * math.exp(-i / 5000):.4f}{extra}")
        elif r == 13:
            extra = f" grad_norm={0.1 * (i % 9):.4f}" if k_change_at is not None and i > k_change_at else ""
            out.append(f"2024-01-01 12:{i // 60 % 60:02d}:{i % 60:02d},123 - INFO - train - step={i} loss={loss} lr=1.0e-04{extra}")
        elif r == 15:
            out.append("Loading data shard 17 of 64 from /data/shards ...")
        else:
            mfu = "-100.00" if i < 5 else f"{30 + i % 10 / 10:.2f}"
            out.append(f"iter {i}: loss {loss}, time {90 + i % 10:.2f}ms, mfu {mfu}%")
        # odd lines inside template runs
        if i == 4001:
            out.append("iter 4001: loss 1e309, time 1ms")
        if i == 4003:
            out.append("step 4003: train loss 2.5, val loss 2.6 (best so far)")
        if i == 4005:
            out.append("{'loss': 2.5, 'grad_norm': 0.5, 'learning_rate': 5e-05, 'epoch': 0.40, 'note': 1}")
        if i == 6001:
            out.append("2024-01-01 12:00:00,123 - WARNING - train - step=6001 loss=nan lr=1.0e-04")
        if i == 7000:
            out.append("Traceback (most recent call last):")
            out.append('  File "train.py", line 10, in <module>')
            out.append("RuntimeError: CUDA error: an illegal memory access was encountered")
        if i == 8000:
            out.append("Epoch 3: starting")
    return out


def test_mixed_log_learns_several_templates(tmp_path):
    lines = mixed_lines(2000)
    part = Part(source=Source(tmp_path / "x.log", "x.log"), reader="textlog")
    reader = Reader(part)
    samples = []
    for line in lines:
        norm = normalize(line)
        rec = sample_rule(norm, reader.order) if norm.offset >= 0 and norm.text else None
        if rec is not None:
            samples.append((line, norm, rec))
    tpls = learn_templates(samples, len(lines), None)
    anchors = [t.anchor for t in tpls]
    assert anchors[0] == b"iter" and len(tpls) >= 3
    assert b"step" in anchors and b"{'loss':" in anchors


@pytest.mark.parametrize("k_change_at", [None, 12000])
def test_multi_template_fast_path_matches_line_rules(tmp_path, monkeypatch, k_change_at):
    p = tmp_path / "mixed.log"
    p.write_text("\n".join(mixed_lines(24000, k_change_at=k_change_at)) + "\n", encoding="utf-8")
    part = compare(p, monkeypatch)
    loss = part.series["loss"]
    assert len(loss) > 15000
    assert "train loss" in part.series and "val loss" in part.series
    assert any(e.kind == "loss_scale_overflow" for e in part.events)
    tl = dict(zip(part.series["train loss"].lines, part.series["train loss"].values))
    assert math.isnan(next(v for ln, v in tl.items() if 9000 < ln < 9100))


def test_multi_template_with_few_lines_per_chunk_of_second_template(tmp_path, monkeypatch):
    # the second template fades out after the head: chunks with too few of its lines go line by line
    lines = mixed_lines(3000)
    for i in range(3001, 20001):
        lines.append(f"iter {i}: loss {2 + 8 * math.exp(-i / 5000):.4f}, time 90.00ms, mfu 30.00%")
        if i % 997 == 0:
            lines.append(f"step {i}: train loss {2.2:.4f}, val loss {2.3:.4f}")
            lines.append("/x/train.py:1: UserWarning: something")
    p = tmp_path / "fade.log"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    compare(p, monkeypatch)
