"""The failure zoo (tests/zoo): small real training runs, each with a ground-truth label.

Every case folder holds ``make.py`` (a CPU training script), ``run/`` (the artifacts it wrote,
committed) and ``label.yaml`` (what a diagnosis must find). These tests do not use traindx: they
read the committed files with the standard library (csv, json, re and a small TensorBoard event
reader below) and check that

- every case has its files and a valid label (ids from the fixed vocabularies);
- the failure the label names is really in the numbers (one small, specific assertion per case),
  so that a regenerated run cannot silently stop showing it;
- ``make.py`` reproduces its artifacts byte for byte (one cheap case always; every case under
  ``-m slow``), when run with the torch build that made them.
"""

from __future__ import annotations

import ast
import csv
import importlib.metadata
import importlib.util
import json
import math
import re
import statistics
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

ZOO = Path(__file__).resolve().parent / "zoo"
CASES = sorted(p.name for p in ZOO.iterdir() if p.is_dir() and (p / "make.py").is_file())
CHEAP_CASE = "missing_zero_grad"

SYMPTOMS = {
    "loss_divergence", "loss_spike", "nan_inf", "loss_plateau", "slow_convergence", "loss_oscillation",
    "train_val_gap", "val_loss_rising", "gradient_explosion", "gradient_vanishing", "dead_units",
    "loss_scale_collapse", "oom_error", "memory_growth", "throughput_drop", "metric_drop", "degenerate_outputs",
    "suspicious_eval", "minority_class_failure", "zero_variance_warning", "run_crashed", "loss_at_zero",
}
CAUSES = {
    "lr_too_high", "lr_too_low", "lr_schedule", "exploding_gradients", "vanishing_gradients", "dead_relu",
    "poor_initialization", "overfitting", "underfitting", "data_pipeline_bug", "data_leakage", "class_imbalance",
    "distribution_shift", "mode_collapse", "architecture_imbalance", "mixed_precision_overflow", "out_of_memory",
    "memory_leak", "dataloader_bottleneck", "catastrophic_forgetting", "missing_zero_grad", "numerical_instability",
    "act_variance_collapse", "insufficient_data", "no_parameter_update",
}
STATUSES = {"diagnosis_complete", "healthy", "needs_more_data"}
LABEL_KEYS = {"symptoms", "cause", "onset", "must_not", "status", "made_with", "notes"}
MAX_ARTIFACT_BYTES = 200_000
LN10 = math.log(10)


# ---------------------------------------------------------------------------------------------
# small readers


def run_dir(case: str) -> Path:
    return ZOO / case / "run"


def label(case: str) -> dict:
    return yaml.safe_load((ZOO / case / "label.yaml").read_text(encoding="utf-8"))


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def num(text: str) -> float:
    return float(text)


def rolling_mean(values: list[float], window: int) -> list[float]:
    out = []
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1): i + 1]
        out.append(sum(chunk) / len(chunk))
    return out


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) for each field of a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield field, wire, value


def read_tb_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalar summaries (``simple_value``) of every event file in ``folder``: tag -> [(step, value)]."""
    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[i:i + 8])
            event = data[i + 12:i + 12 + length]
            i += 12 + length + 4
            step, values = 0, []
            for field, _, value in _fields(event):
                if field == 2:
                    step = value
                elif field == 5:
                    for f2, _, v2 in _fields(value):
                        if f2 == 1:
                            tag, simple = None, None
                            for f3, _, v3 in _fields(v2):
                                if f3 == 1:
                                    tag = v3.decode()
                                elif f3 == 2:
                                    (simple,) = struct.unpack("<f", v3)
                            if tag is not None and simple is not None:
                                values.append((tag, simple))
            for tag, simple in values:
                out.setdefault(tag, []).append((step, simple))
    return out


LOG_KV = re.compile(r"(\w+)=(\S+)")


def kv_lines(path: Path, must_contain: str) -> list[dict[str, str]]:
    """``key=value`` pairs of every line containing ``must_contain``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [dict(LOG_KV.findall(line)) for line in lines if must_contain in line]


# ---------------------------------------------------------------------------------------------
# (1) files and labels


@pytest.mark.parametrize("case", CASES)
def test_case_has_script_artifacts_and_a_valid_label(case: str) -> None:
    folder = ZOO / case
    assert (folder / "label.yaml").is_file()
    files = [p for p in run_dir(case).rglob("*") if p.is_file()]
    assert files, f"{case}: run/ is empty"
    for p in files:
        assert p.stat().st_size < MAX_ARTIFACT_BYTES, f"{p} is {p.stat().st_size} bytes"
    lab = label(case)
    assert set(lab) <= LABEL_KEYS and {"symptoms", "cause", "onset", "must_not", "status", "notes"} <= set(lab)
    assert set(lab["symptoms"]) <= SYMPTOMS and set(lab["must_not"]) <= SYMPTOMS
    assert not set(lab["symptoms"]) & set(lab["must_not"])
    assert lab["status"] in STATUSES
    assert isinstance(lab["notes"], str) and len(lab["notes"]) > 200
    if lab["cause"] is None:
        assert lab["symptoms"] == [] and lab["onset"] is None
        assert set(lab["must_not"]) == SYMPTOMS, "a run with no failure must forbid every symptom"
        assert lab["status"] in {"healthy", "needs_more_data"}
    else:
        assert lab["cause"] in CAUSES and lab["symptoms"]
        # needs_more_data when the cause's own signal cannot be in the logs (a constant LR lines up with nothing)
        assert lab["status"] in {"diagnosis_complete", "needs_more_data"}
        assert lab["onset"]["unit"] in {"step", "epoch"} and isinstance(lab["onset"]["at"], int)


def test_every_case_folder_is_a_case() -> None:
    stray = [p.name for p in ZOO.iterdir() if p.is_dir() and p.name not in CASES and p.name != "__pycache__"]
    assert not stray
    assert len(CASES) >= 18


# ---------------------------------------------------------------------------------------------
# (1) the failure is in the numbers


def check_lr_too_high_no_warmup(run: Path, lab: dict) -> None:
    recs = read_jsonl(run / "metrics.jsonl")
    train = [r for r in recs if "loss" in r]
    val = [r for r in recs if "val_loss" in r]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["warmup_steps"] == 0 and cfg["lr_schedule"] == "constant"
    assert {r["lr"] for r in train} == {cfg["optimizer"]["lr"]}
    smooth = rolling_mean([r["loss"] for r in train], 10)
    best = min(range(len(smooth)), key=smooth.__getitem__)
    assert train[best]["step"] <= 300 and smooth[best] < 0.5 * train[0]["loss"]  # it did learn first
    onset = lab["onset"]["at"]
    after = [s for r, s in zip(train, smooth) if r["step"] >= onset]
    assert min(after) > 1.1 * smooth[best]  # and then climbed for good
    assert smooth[-1] > 3 * smooth[best]
    grad = [r["grad_norm"] for r in train]
    assert statistics.median(grad[-40:]) > 3 * statistics.median(grad[10:40])
    best_val = min(val, key=lambda r: r["val_loss"])
    assert best_val["step"] <= onset and val[-1]["val_loss"] > 3 * best_val["val_loss"]


def check_lr_too_high_warmup(run: Path, lab: dict) -> None:
    tb = read_tb_scalars(next((run / "runs").iterdir()))
    loss, lr = tb["train/loss"], dict(tb["train/learning_rate"])
    grad = dict(tb["train/grad_norm"])
    best_step, best = min(loss, key=lambda sv: sv[1])
    peak = max(lr.values())
    assert best_step <= 100 and lr[best_step] < 0.4 * peak
    onset = lab["onset"]["at"]
    assert all(v > 1.08 * best for s, v in loss if s >= onset)  # never back near the best
    assert max(v for s, v in loss) > 1.25 * best
    steps = sorted(lr)
    peak_step = steps[[lr[s] for s in steps].index(peak)]
    assert all(lr[a] <= lr[b] for a, b in pairwise(steps) if b <= peak_step)  # a warmup
    early = statistics.median(g for s, g in grad.items() if 30 <= s <= best_step + 30)
    assert max(g for s, g in grad.items() if s >= onset) > 5 * early
    evals = tb["eval/loss"]
    assert min(evals, key=lambda sv: sv[1])[0] <= 100 and evals[-1][1] > 1.1 * min(v for _, v in evals)


def check_exploding_gradients_rnn(run: Path, lab: dict) -> None:
    rows = [r for r in kv_lines(run / "train.log", " loss=")]
    loss = [num(r["loss"]) for r in rows]
    grad = [num(r["grad_norm"]) for r in rows]
    steps = [int(r["step"]) for r in rows]
    assert steps == list(range(1, len(rows) + 1))
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["grad_clip"] is None and cfg["optimizer"]["lr"] == 0.01
    onset = lab["onset"]["at"]
    i = steps.index(onset)
    assert grad[i] > 10 * statistics.median(grad[i - 30:i])  # the first spike: >10x the recent median
    assert max(loss[i:i + 2]) > 5 * min(loss[i - 5:i])  # and the loss jumps with it
    worst = max(range(len(grad) - 1), key=lambda k: grad[k] if math.isfinite(grad[k]) else -1.0)
    assert grad[worst] > 1000 * statistics.median(grad[:worst])
    assert not math.isfinite(loss[-1]) and all(math.isfinite(v) for v in loss[:-1])
    assert "ERROR - loss is nan at step" in (run / "train.log").read_text()
    val = [num(r["val_loss"]) for r in kv_lines(run / "train.log", "val_loss=")]
    k = val.index(min(val))
    assert all(v > 3 * val[k] for v in val[k + 1:])  # never back


def check_vanishing_gradients_sigmoid(run: Path, lab: dict) -> None:
    path = run / "lightning_logs" / "version_0" / "metrics.csv"
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")  # csv.DictWriter's line ends
    rows = read_csv(path)
    header = list(rows[0])
    assert header == sorted(header) and "step" in header
    hp = yaml.safe_load((path.parent / "hparams.yaml").read_text())
    first, last = "grad_2.0_norm/net.0.weight", f"grad_2.0_norm/net.{2 * hp['depth']}.weight"
    train = [r for r in rows if r[first]]
    assert train and all(num(r[first]) < 1e-3 * num(r[last]) for r in train)
    assert all(num(r[first]) < 1e-10 for r in train)
    epoch_loss = [num(r["train_loss_epoch"]) for r in rows if r["train_loss_epoch"]]
    assert max(epoch_loss) - min(epoch_loss) < 0.1 and all(abs(v - LN10) < 0.15 for v in epoch_loss)
    assert max(num(r["val_acc"]) for r in rows if r["val_acc"]) < 0.2


def check_dead_relu(run: Path, lab: dict) -> None:
    tb = read_tb_scalars(run / "tb")
    for layer in ("dead_frac/layer2", "dead_frac/layer3"):
        series = tb[layer]
        first_high = next(s for s, v in series if v > 0.7)
        assert first_high <= 70 and series[-1][1] == 1.0
    assert lab["onset"]["at"] == next(s for s, v in tb["dead_frac/layer2"] if v > 0.7)
    loss = [v for s, v in tb["train/loss"] if s >= 100]
    assert max(rolling_mean(loss, 10)[10:]) - min(rolling_mean(loss, 10)[10:]) < 0.1  # stalled
    assert all(v <= 0.15 for _, v in tb["val/acc"])
    assert max(v for _, v in tb["train/loss"][:5]) > 10  # the update that killed them


def check_overfitting(run: Path, lab: dict) -> None:
    rows = read_csv(run / "training.log")
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    val = [num(r["val_loss"]) for r in rows]
    loss = [num(r["loss"]) for r in rows]
    best = val.index(min(val))
    assert best == lab["onset"]["at"] - 1 and best <= 5
    assert all(v > val[best] for v in val[best + 1:]) and val[-1] > 1.8 * val[best]
    fives = [statistics.mean(val[k:k + 5]) for k in range(best + 1, len(val) - 4, 5)]
    assert all(b > a for a, b in pairwise(fives))  # rising for the rest of the run
    assert loss[-1] < 0.05 * loss[best] and num(rows[-1]["accuracy"]) == 1.0
    assert num(rows[-1]["val_accuracy"]) < num(rows[best]["val_accuracy"])


def check_lr_too_low(run: Path, lab: dict) -> None:
    state = json.loads((run / "trainer_state.json").read_text())
    hist = state["log_history"]
    train = [e for e in hist if "loss" in e]
    evals = [e for e in hist if "eval_loss" in e]
    losses = [e["loss"] for e in train]
    assert max(e["learning_rate"] for e in train) <= 1e-7
    assert max(losses) - min(losses) < 0.02 and abs(losses[0] - math.log(50)) < 0.05  # at chance, flat
    assert abs(evals[0]["eval_loss"] - evals[-1]["eval_loss"]) < 0.01
    assert all(0.5 < e["grad_norm"] < 5 for e in train)  # healthy gradients
    for ckpt in ("checkpoint-200", "checkpoint-400"):
        part = json.loads((run / ckpt / "trainer_state.json").read_text())["log_history"]
        assert hist[:len(part)] == part


def check_shuffled_labels(run: Path, lab: dict) -> None:
    epochs = re.findall(r"accuracy: (\S+) - loss: (\S+) - val_accuracy: (\S+) - val_loss: (\S+)",
                        (run / "train.log").read_text(encoding="utf-8"))
    acc, loss, val_acc, val_loss = ([num(e[k]) for e in epochs] for k in range(4))
    assert len(epochs) == 20
    assert all(v <= 0.15 for v in val_acc)  # chance on 10 balanced classes, from the first epoch on
    assert all(v > LN10 - 0.01 for v in val_loss)
    assert loss[-1] < 0.8 * loss[0] and acc[-1] > 3 * max(val_acc)  # memorizing the shuffled pairs


def check_missing_zero_grad(run: Path, lab: dict) -> None:
    tree = ast.parse((run / "train.py").read_text())
    called = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert {"backward", "step"} <= called and "zero_grad" not in called
    assert "zero_grad" not in (run / "train.py").read_text()  # not even mentioned
    rows = kv_lines(run / "train.log", "grad_norm")
    text = (run / "train.log").read_text()
    grad = [num(g) for g in re.findall(r"grad_norm (\S+)", text)]
    loss = [num(v) for v in re.findall(r"\| loss (\S+)", text)]
    assert len(grad) == len(loss) == 60 and not any(rows)  # this log is "key value", not key=value
    increases = sum(b > a for a, b in pairwise(grad))
    assert increases >= 0.9 * (len(grad) - 1) and grad[-1] > 10 * grad[0]
    assert max(loss[10:]) > 3 * min(loss[10:])  # erratic
    val_acc = [num(v) for v in re.findall(r"val_acc (\S+)", text)]
    assert max(val_acc) - val_acc[-1] > 0.2


def check_loss_scale_collapse(run: Path, lab: dict) -> None:
    text = (run / "train.log").read_text()
    rows = kv_lines(run / "train.log", " loss_scale=")
    scale = [num(r["loss_scale"]) for r in rows]
    loss = [num(r["loss"]) for r in rows]
    assert all(b <= a for a, b in pairwise(scale))  # never grows back
    halvings = sum(abs(b - a / 2) <= 1e-5 * a for a, b in pairwise([65536.0, *scale]))
    assert halvings >= 25 and scale[-1] < 1e-4
    assert text.count("optimizer step skipped") == halvings
    assert lab["onset"]["at"] == next(int(r["step"]) for r in rows if num(r["loss_scale"]) <= 1.0)
    assert not math.isfinite(loss[-1]) and all(not math.isfinite(v) for v in loss[-3:])
    finite = [v for v in loss if math.isfinite(v)]
    assert min(finite) < 0.3 * finite[0]  # it was learning while the scale fell
    assert "fell below min_loss_scale" in text.splitlines()[-1]


def check_oscillation(run: Path, lab: dict) -> None:
    tb = read_tb_scalars(run / "runs" / "linreg")
    loss = [v for _, v in tb["Loss/train"]]
    assert len(loss) == 1000 and all(math.isfinite(v) for v in loss)
    floor = statistics.median(sorted(loss)[:100])
    tail = loss[100:]
    swings = sum(1 for a, b in pairwise(tail) if a < 3 * floor <= b)
    assert swings >= 20 and max(tail) > 100 * floor
    assert all(statistics.median(loss[i:i + 100]) < 100 * floor for i in range(100, 1000, 100))  # bounded
    assert loss[-1] < 10 * floor  # no divergence
    val = [v for _, v in tb["Loss/val"]]
    assert max(val[2:]) > 10 * min(val)


def check_forgetting_two_tasks(run: Path, lab: dict) -> None:
    rows = read_csv(run / "lightning_logs" / "version_0" / "metrics.csv")
    switch = min(int(r["step"]) for r in rows if r["task_id"] == "1.0")
    evals = [r for r in rows if r["val_acc_task_a"]]
    before = [num(r["val_acc_task_a"]) for r in evals if int(r["step"]) < switch]
    after = [(int(r["step"]), num(r["val_acc_task_a"]), num(r["val_acc_task_b"]))
             for r in evals if int(r["step"]) >= switch]
    assert min(before) > 0.9
    assert lab["onset"]["at"] == after[0][0] and after[0][1] < min(before) - 0.2
    assert after[-1][1] < 0.3 and after[-1][2] > 0.95


def check_degenerate_samples(run: Path, lab: dict) -> None:
    text = (run / "samples.txt").read_text(encoding="utf-8")
    blocks = re.findall(r"step (\d+):\n(.*?)\n---------------\n", text, flags=re.DOTALL)
    assert len(blocks) == 12
    for step, sample in blocks:
        longest = max(len(m.group(0)) for m in re.finditer(r"(.)\1*", sample, flags=re.DOTALL))
        if int(step) == 0:
            assert longest < 5
        else:
            assert longest >= 20, (step, sample)
    last = [s for st, s in blocks if int(st) == 500]
    assert all(re.fullmatch(r"(KING|QUEEN):{50,}.*", s, flags=re.DOTALL) for s in last)
    evals = re.findall(r"step (\d+): train loss (\S+), val loss (\S+)", (run / "train.log").read_text())
    assert num(evals[-1][1]) < 0.02 and num(evals[-1][2]) < 0.02


def check_zero_variance_warning(run: Path, lab: dict) -> None:
    lines = (run / "train.log").read_text(encoding="utf-8").splitlines()
    warn = [i for i, line in enumerate(lines) if "UserWarning: var(): degrees of freedom is <= 0" in line]
    assert len(warn) == 1 and " WARNING py.warnings: /home/user/act/train.py:" in lines[warn[0]]
    assert lines[warn[0] + 1].strip() == "halt_var = probs.var(dim=1).mean()"
    before = [dict(LOG_KV.findall(line)) for line in lines[:warn[0]] if "halt_var=" in line]
    after = [dict(LOG_KV.findall(line)) for line in lines[warn[0]:] if "halt_var=" in line]
    assert all(r["halt_var"] != "nan" for r in before)
    assert sum(r["halt_var"] == "nan" for r in after) >= 5
    assert int(before[-1]["step"]) < lab["onset"]["at"] <= int(after[0]["step"])
    assert float(before[0]["avg_ponder_steps"]) > 3 and all(float(r["avg_ponder_steps"]) < 1.1 for r in after)


def check_missing_artifacts(run: Path, lab: dict) -> None:
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml", "train.log"]
    text = (run / "train.log").read_text()
    assert len(text.splitlines()) < 15
    assert not re.search(r"\b(loss|acc|accuracy|grad_norm|step)\b\s*[=:]", text, flags=re.IGNORECASE)


def check_healthy_noisy(run: Path, lab: dict) -> None:
    recs = read_jsonl(run / "metrics.jsonl")
    train = [r["loss"] for r in recs if "loss" in r]
    val = [r["val_loss"] for r in recs if "val_loss" in r]
    smooth = rolling_mean(train, 20)
    assert smooth[-1] < 0.2 * smooth[19]
    jumps = [abs(b - a) / a for a, b in pairwise(train)]
    assert statistics.median(jumps) > 0.1  # noisy
    assert val[-1] < 0.25 * val[0] and all(b < 1.05 * a for a, b in pairwise(val))
    grad = [r["grad_norm"] for r in recs if "grad_norm" in r]
    medians = [statistics.median(grad[k:k + 50]) for k in range(20, len(grad) - 49, 50)]
    assert max(medians) < 3 * min(medians)  # no trend in the gradient norm


def check_healthy_warmup_bump(run: Path, lab: dict) -> None:
    trl = [num(m) for m in re.findall(r"trl:(\S+)", (run / "main.log").read_text())]
    tel = [num(m) for m in re.findall(r"tel:(\S+)", (run / "main.log").read_text())]
    assert len(trl) == 600 and all(math.isfinite(v) for v in trl)
    smooth = rolling_mean(trl, 20)
    low_before = min(smooth[100:170])
    bump = max(smooth[170:220])
    assert bump > 1.07 * low_before  # a visible bump near the end of the warmup ...
    assert min(smooth[220:300]) < low_before  # ... that the run recovers from
    assert smooth[-1] < 0.3 * low_before
    assert all(b < a for a, b in pairwise(tel)) and tel[-1] < 0.15 * tel[0]
    stdout = (run / "train.log").read_text()
    assert stdout.count("(+nanz)") == 2 * 128  # llm.c's outlier window fills after 128 steps


def check_healthy_small_gap(run: Path, lab: dict) -> None:
    rows = read_csv(run / "training.log")
    for r in rows[-5:]:
        loss, val = num(r["loss"]), num(r["val_loss"])
        assert abs(val - loss) / val < 0.05
        assert abs(num(r["accuracy"]) - num(r["val_accuracy"])) < 0.02
    assert num(rows[-1]["val_loss"]) < 0.25 * num(rows[0]["val_loss"])


def check_curriculum_divergence_epoch7(run: Path, lab: dict) -> None:
    rows = kv_lines(run / "train.log", " loss=")
    steps = [int(r["step"]) for r in rows]
    assert steps == list(range(1, 601))
    loss = [num(r["loss"]) for r in rows]
    grad = [num(r["grad_norm"]) for r in rows]
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["grad_clip"] is None and [c["from_epoch"] for c in cfg["curriculum"]] == [1, 7]
    onset = lab["onset"]["at"]
    i = steps.index(onset)
    assert rows[i]["epoch"] == "7" and rows[i - 1]["epoch"] == "6"
    assert {r["seq_len"] for r in rows[:i]} == {"20"} and {r["seq_len"] for r in rows[i:]} == {"100"}
    assert max(grad[i:i + 5]) > 30 * statistics.median(grad[i - 50:i])  # the grad-norm spike at the switch
    best = min(loss[:i])
    assert best < 0.05 and max(loss[i:i + 5]) > 50 * best  # the loss jumps with it ...
    val = [num(r["val_loss"]) for r in kv_lines(run / "train.log", "val_loss=")]
    assert len(val) == 12 and max(val[:6]) < 0.5 and min(val[6:]) > 0.8  # ... and never comes back


def check_embedding_heavy_colons(run: Path, lab: dict) -> None:
    header_len = struct.unpack("<Q", (run / "model.safetensors").read_bytes()[:8])[0]
    header = json.loads((run / "model.safetensors").read_bytes()[8:8 + header_len])
    sizes = {k: math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__"}
    emb = sizes["transformer.wte.weight"] + sizes["transformer.wpe.weight"]
    assert "transformer.lm_head.weight" not in sizes  # tied: stored once
    assert emb / sum(sizes.values()) > 0.9
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["vocab_size"] == 4096 and cfg["tie_word_embeddings"] is True
    text = (run / "samples.txt").read_text(encoding="utf-8")
    blocks = re.findall(r"step (\d+):\n(.*?)\n---------------\n", text, flags=re.DOTALL)
    assert len(blocks) == 10
    for step, sample in blocks:
        colons = re.fullmatch(r"(KING|QUEEN):{50,}", sample) is not None
        assert colons == (int(step) >= lab["onset"]["at"]), (step, sample)
    log = (run / "train.log").read_text()
    evals = re.findall(r"step (\d+): train loss (\S+), val loss (\S+)", log)
    unigram = num(re.search(r"unigram entropy of the corpus: (\S+)", log).group(1))
    assert num(evals[0][1]) > 8 and 0.85 * unigram < num(evals[-1][1]) < unigram


CHECKS: dict[str, Callable[[Path, dict], None]] = {
    name[len("check_"):]: fn for name, fn in globals().items() if name.startswith("check_")
}


def test_every_case_has_a_data_check() -> None:
    assert sorted(CHECKS) == CASES


@pytest.mark.parametrize("case", CASES)
def test_the_labelled_failure_is_in_the_committed_numbers(case: str) -> None:
    CHECKS[case](run_dir(case), label(case))


# ---------------------------------------------------------------------------------------------
# (2), (3) reruns are byte-identical


def committed_torch(case: str) -> str:
    return label(case)["made_with"]["torch"]


def rerun_and_compare(case: str, out: Path) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    have = importlib.metadata.version("torch")
    if have != committed_torch(case):
        pytest.skip(f"{case} was made with torch {committed_torch(case)}, this is torch {have}")
    for module in ("numpy", "yaml"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{case}/make.py needs {module}, which is not installed")
    source = (ZOO / case / "make.py").read_text()
    if "tensorboard_writer" in source and importlib.util.find_spec("tensorboard") is None:
        pytest.skip(f"{case}/make.py writes TensorBoard events and tensorboard is not installed")
    done = subprocess.run([sys.executable, str(ZOO / case / "make.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    want = {p.relative_to(run_dir(case)): p for p in run_dir(case).rglob("*") if p.is_file()}
    got = {p.relative_to(out): p for p in out.rglob("*") if p.is_file()}
    assert sorted(got) == sorted(want)
    for rel, path in want.items():
        assert got[rel].read_bytes() == path.read_bytes(), f"{case}: {rel} differs"


def test_cheap_case_reruns_byte_for_byte(tmp_path: Path) -> None:
    rerun_and_compare(CHEAP_CASE, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_every_case_reruns_byte_for_byte(case: str, tmp_path: Path) -> None:
    rerun_and_compare(case, tmp_path)
