"""A divergence that starts at a schedule switch (sequence length, batch size, the LR itself) is
pinned on that switch: the LR rules cite it with its line and name the key and a value to change."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.engine import run_checks
from traindx.ingest.names import canonical, is_schedule
from traindx.reasoning.facts import Facts, step_change
from traindx.run import Run, Series

ZOO = Path(__file__).parent / "zoo"


def write_log(path: Path, rows: list[dict[str, float]]) -> None:
    """One ``key=value`` line per step, written through ``logging`` as a training script would."""
    log = logging.getLogger(f"schedule_test_{path.parent.name}")
    log.propagate = False
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        for r in rows:
            log.info(" ".join(f"{k}={v:g}" if k != "loss" else f"{k}={v:.4f}" for k, v in r.items()))
    finally:
        log.removeHandler(handler)
        handler.close()


def curve(steps: int, onset: int, seed: int = 0) -> list[float]:
    """A loss that falls to about 2.5, then climbs back towards 4.5 from ``onset`` on."""
    rng = np.random.default_rng(seed)
    out = []
    for s in range(1, steps + 1):
        v = 2.5 + 1.5 * math.exp(-s / 120)
        if s >= onset:
            v += 2.0 * (1 - math.exp(-(s - onset) / 150))
        out.append(v + float(rng.normal(0, 0.03)))
    return out


def make_run(tmp_path: Path, name: str, *, switch_at: int | None, onset: int = 500, config: str = "learning_rate: 3.0e-4\n", lr=None, extra=None) -> Path:
    run = tmp_path / name
    run.mkdir()
    rows = []
    for s, loss in enumerate(curve(1000, onset), start=1):
        row: dict[str, float] = {"step": s}
        if switch_at is not None or extra is None:
            row["seq_len"] = 512 if switch_at is not None and s >= switch_at else 128
        if extra is not None:
            row.update(extra(s))
        row["loss"] = loss
        row["lr"] = lr(s) if lr is not None else 3e-4
        rows.append(row)
    write_log(run / "train.log", rows)
    if config:
        (run / "config.yaml").write_text(config)
    return run


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def cause(d: dict, cid: str) -> dict:
    got = [c for c in d["root_causes"] if c["id"] == cid]
    assert got, [c["id"] for c in d["root_causes"]]
    return got[0]


def test_seq_len_switch_at_the_onset_is_cited_with_its_line_and_named_in_the_fix(tmp_path: Path) -> None:
    run = make_run(tmp_path, "switch", switch_at=500)
    d = traindx.diagnose([run]).to_dict()
    top = d["root_causes"][0]
    assert top["id"] == "lr_too_high"
    assert 0.8 <= top["confidence"] < 0.9  # circumstantial: the pattern fits, the LR's own blame is inferred
    assert d["status"] == "diagnosis_complete"
    line = line_of(run / "train.log", "step=500 ")
    switch = [e for e in top["evidence"] if e["text"].startswith("seq_len 128 -> 512")]
    assert switch and switch[0]["source"] == f"train.log:{line}" and switch[0]["step"] == 500
    assert f"train.log:{line - 1}" in switch[0]["text"]  # the last point at the old value
    assert "seq_len switching 128 -> 512 at step 500" in top["confidence_basis"]
    assert "seq_len switch at step 500" in top["issue"]
    fix = top["fix"]
    assert "Ramp seq_len from 128 to 512 over 100 steps instead of switching at step 500" in fix
    assert "lower learning_rate from 3e-04 to 1e-04 at the switch" in fix
    assert "seq_len" in top["verify"] and "512" in top["if_not"]


def test_same_climb_without_a_switch_keeps_the_plain_lr_story(tmp_path: Path) -> None:
    run = make_run(tmp_path, "plain", switch_at=None)
    top = traindx.diagnose([run]).to_dict()["root_causes"][0]
    assert top["id"] == "lr_too_high" and top["confidence"] < 0.8
    assert not any("seq_len" in e["text"] for e in top["evidence"])
    assert "seq_len" not in top["fix"] and top["fix"].startswith("Reduce learning_rate from 3e-04")


def test_switch_long_before_the_onset_does_not_coincide(tmp_path: Path) -> None:
    run = make_run(tmp_path, "early", switch_at=200)
    top = traindx.diagnose([run]).to_dict()["root_causes"][0]
    assert top["id"] == "lr_too_high"
    assert not any("seq_len" in e["text"] for e in top["evidence"])
    assert "seq_len" not in top["fix"]


def test_batch_size_cut_scales_the_lr_with_the_batch(tmp_path: Path) -> None:
    run = make_run(tmp_path, "batch", switch_at=None, extra=lambda s: {"batch_size": 64 if s < 500 else 16}, config="learning_rate: 1.0e-3\n", lr=lambda s: 1e-3)
    top = traindx.diagnose([run]).to_dict()["root_causes"][0]
    assert top["id"] == "lr_too_high"
    assert any(e["text"].startswith("batch_size 64 -> 16 at step 500") for e in top["evidence"])
    assert "Ramp batch_size from 64 to 16 over 100 steps" in top["fix"]
    assert "lower learning_rate from 0.001 to 2.5e-04 at the switch" in top["fix"]  # 1e-3 x 16/64


def test_lr_jump_at_the_onset_is_an_lr_schedule_cause_naming_key_and_value(tmp_path: Path) -> None:
    run = make_run(tmp_path, "restart", switch_at=None, lr=lambda s: 1e-4 if s < 500 else 1e-3, config="learning_rate: 1.0e-4\n")
    d = traindx.diagnose([run]).to_dict()
    top = d["root_causes"][0]
    assert top["id"] == "lr_schedule" and top["confidence"] > 0.9
    line = line_of(run / "train.log", "step=500 ")
    jump = top["evidence"][0]
    assert jump["text"].startswith("lr 0.0001 -> 0.001 at step 500") and jump["source"] == f"train.log:{line}"
    assert "the LR jumped 0.0001 -> 0.001 at step 500" in top["confidence_basis"]
    assert top["fix"].startswith("Keep learning_rate at 1e-04 past step 500 instead of jumping to 0.001")
    assert cause(d, "lr_too_high")["confidence"] < top["confidence"]


def test_curriculum_zoo_case_keeps_its_label_and_cites_the_switch() -> None:
    run = ZOO / "curriculum_divergence_epoch7" / "run"
    d = traindx.diagnose([run]).to_dict()
    assert d["root_causes"][0]["id"] == "exploding_gradients"
    lr = cause(d, "lr_too_high")
    assert lr["confidence"] < 0.7  # the gradient blow-up at the switch is the direct evidence, not the LR
    line = line_of(run / "train.log", "step=301 ")
    assert any(e["text"].startswith("seq_len 20 -> 100 at step 301") and e["source"] == f"train.log:{line}" for e in lr["evidence"])
    assert "Ramp seq_len from 20 to 100" in lr["fix"] and "optimizer.lr from 0.01 to 0.0033" in lr["fix"]


def series(name: str, values: list[float]) -> Series:
    n = len(values)
    return Series(name, np.arange(1, n + 1, dtype=float), np.asarray(values, dtype=float), "train.log", name, np.arange(1, n + 1))


def test_step_change_needs_a_level_switch_not_a_ramp_or_noise() -> None:
    flat = [128.0] * 50 + [512.0] * 50
    got = step_change(series("seq_len", flat), 45, 55)
    assert got is not None and (got.before, got.after, got.step) == (128, 512, 51)
    assert step_change(series("seq_len", flat), 60, 70) is None  # not in the window
    ramp = [128.0 + 8 * (i // 2) for i in range(100)]  # small rungs: each under 10% of the range
    assert step_change(series("seq_len", ramp), 1, 100) is None
    rng = np.random.default_rng(1)
    noisy = list(rng.integers(20, 40, 100).astype(float))  # a token-bucketed batch size
    noisy[50] = 60.0
    assert step_change(series("batch_size", noisy), 45, 55) is None


def test_schedule_names_map_to_one_name_each() -> None:
    assert {canonical(n) for n in ("seq_len", "max_seq_len", "context_length", "block_size", "sequence_length")} == {"seq_len"}
    assert canonical("global batch size") == canonical("train_batch_size") == "batch_size"
    assert canonical("curriculum_stage") == canonical("difficulty") == "curriculum_stage"
    assert all(is_schedule(n) for n in ("seq_len", "batch_size", "curriculum_stage", "mixture/web"))
    assert not any(is_schedule(canonical(n)) for n in ("loss", "lr", "grad_norm", "epoch"))


def facts_with(config: dict) -> Facts:
    from traindx.run import ConfigValue

    run = Run()
    run.config = {k: ConfigValue(k, v, "config.yaml", i) for i, (k, v) in enumerate(sorted(config.items()), start=1)}
    return Facts(run)


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"muon_lr": 0.02, "adam_lr": 0.008, "min_lr": 1e-5}, "muon_lr"),
        ({"optimizer.head_lr": 0.001, "optimizer.warmup_init_lr": 1e-7}, "optimizer.head_lr"),
        ({"learning_rate": 3e-4, "muon_lr": 0.02}, "learning_rate"),  # the plain key first
        ({"min_lr": 1e-5, "final_lr": 1e-6, "scale_lr": True}, "the learning rate"),
    ],
)
def test_lr_keys_match_keys_ending_in_lr(config: dict, key: str) -> None:
    assert facts_with(config).lr_key == key


def test_fix_names_muon_lr_when_that_is_the_configured_lr(tmp_path: Path) -> None:
    run = make_run(tmp_path, "muon", switch_at=500, config="optimizer:\n  muon_lr: 0.02\n  min_lr: 0.0001\n")
    log = run / "train.log"
    log.write_text("\n".join(" ".join(p for p in line.split() if not p.startswith("lr=")) for line in log.read_text().splitlines()) + "\n")
    top = traindx.diagnose([run]).to_dict()["root_causes"][0]
    assert top["id"] == "lr_too_high"
    assert "lower optimizer.muon_lr from 0.02 to 0.0066 at the switch" in top["fix"]


def test_onset_window_reaches_back_half_a_smoothing_window(tmp_path: Path) -> None:
    run = traindx.load_run(make_run(tmp_path, "win", switch_at=500))
    d = next(s for s in run_checks(run)[0] if s.id == "loss_divergence")
    lo, hi = Facts(run).onset_window(d)
    assert d.step is not None and lo < 500 < d.step <= hi
    assert lo > d.data["best_step"]


def test_curriculum_stage_switch_is_blended_in_not_ramped(tmp_path: Path) -> None:
    run = make_run(tmp_path, "stage", switch_at=None, extra=lambda s: {"stage": 1 if s < 500 else 2})
    top = traindx.diagnose([run]).to_dict()["root_causes"][0]
    assert top["id"] == "lr_too_high"
    assert any(e["text"].startswith("stage 1 -> 2 at step 500") for e in top["evidence"])
    assert top["fix"].startswith("Blend the stage 2 data in over 100 steps (mixed with stage 1) instead of switching at step 500")

