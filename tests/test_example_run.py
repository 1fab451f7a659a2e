"""The bundled example run (examples/lr_schedule_divergence): it diverges, and it is reproducible.

The fast tests read the committed artifacts and check that the divergence the README describes is
really in the data, so a regenerated example cannot silently stop diverging. The slow tests rerun
the training script and compare bytes, and check that the lower peak LR the README recommends
trains to the end.
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lr_schedule_divergence"
ARTIFACTS = ("train.log", "metrics.csv", "config.yaml")
HEADER = ["step", "epoch", "loss", "grad_norm", "lr", "val_loss"]
WINDOW = 25  # steps in the rolling mean of the training loss

TRAIN_LINE = re.compile(
    r"^\S+ \S+ INFO train step=(\d+) epoch=(\d+) loss=(\S+) grad_norm=(\S+) lr=(\S+)$"
)


def read_metrics(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == HEADER
        return list(reader)


def rolling_mean(values: list[float], window: int) -> list[float]:
    out = []
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1): i + 1]
        out.append(sum(chunk) / len(chunk))
    return out


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return read_metrics(EXAMPLE / "metrics.csv")


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((EXAMPLE / "config.yaml").read_text(encoding="utf-8"))


def test_rows_are_one_per_optimizer_step(rows: list[dict[str, str]], config: dict) -> None:
    steps = [int(r["step"]) for r in rows]
    assert steps == list(range(1, len(rows) + 1))
    assert len(rows) < config["lr_schedule"]["total_steps"]  # the run stopped early
    evals = [int(r["step"]) for r in rows if r["val_loss"]]
    assert evals == [s for s in steps if s % config["eval_every"] == 0]


def test_lr_column_follows_the_configured_schedule(rows: list[dict[str, str]], config: dict) -> None:
    sched = config["lr_schedule"]
    assert sched["name"] == "linear_warmup_cosine"
    for r in rows:
        step = int(r["step"])
        assert step <= sched["warmup_steps"]  # the run never left the warmup
        assert float(r["lr"]) == pytest.approx(sched["peak_lr"] * step / sched["warmup_steps"], rel=1e-7)


def test_loss_falls_then_climbs_for_good_while_the_lr_ramps_up(rows: list[dict[str, str]], config: dict) -> None:
    loss = [float(r["loss"]) for r in rows]
    lr = [float(r["lr"]) for r in rows]
    smooth = rolling_mean(loss, WINDOW)
    finite = [i for i, v in enumerate(smooth) if math.isfinite(v)]
    best = min(finite, key=lambda i: smooth[i])
    peak_step = config["lr_schedule"]["warmup_steps"]

    # A real fall first: the smoothed minimum is well into the run and far below the start.
    assert int(rows[best]["step"]) >= 100
    assert smooth[best] < 0.25 * loss[0]
    # The minimum comes before the LR peak, at an LR well below it.
    assert int(rows[best]["step"]) < peak_step
    assert lr[best] < 0.6 * config["lr_schedule"]["peak_lr"]

    # Sustained climb, not a spike: once the smoothed loss is 1.5x its minimum it never comes back
    # near the minimum, and it happens at a higher LR than the minimum.
    onset = next(i for i in range(best, len(smooth)) if not smooth[i] < 1.5 * smooth[best])
    assert lr[onset] > lr[best]
    assert all(not v < 1.2 * smooth[best] for v in smooth[onset:])

    # The end: far above the minimum (the last finite loss), and the run ends non-finite.
    last_finite = [v for v in loss if math.isfinite(v)][-1]
    assert last_finite > 100 * smooth[best]
    assert not math.isfinite(loss[-1])


def test_grad_norm_grows_with_the_loss(rows: list[dict[str, str]]) -> None:
    loss = [float(r["loss"]) for r in rows]
    grad = [float(r["grad_norm"]) for r in rows]
    early = statistics.median(grad[:100])
    last_finite = [g for g in grad if math.isfinite(g)][-1]
    assert last_finite > 100 * early
    # Not only at the very end: from the onset of the climb to the first NaN the gradient norm
    # already runs well above where it was while the loss was still falling.
    smooth = rolling_mean(loss, WINDOW)
    best = min((i for i, v in enumerate(smooth) if math.isfinite(v)), key=lambda i: smooth[i])
    onset = next(i for i in range(best, len(smooth)) if not smooth[i] < 1.5 * smooth[best])
    first_nan = next(i for i, v in enumerate(loss) if not math.isfinite(v))
    assert statistics.median(grad[onset:first_nan]) > 1.5 * statistics.median(grad[50:best])


def test_val_loss_confirms_the_divergence(rows: list[dict[str, str]]) -> None:
    val = [float(r["val_loss"]) for r in rows if r["val_loss"]]
    best = min(range(len(val)), key=lambda i: val[i])
    assert 0 < best < len(val) - 1
    assert val[-1] > 100 * val[best]


def test_train_log_and_metrics_csv_agree(rows: list[dict[str, str]]) -> None:
    lines = (EXAMPLE / "train.log").read_text(encoding="utf-8").splitlines()
    logged = [m.groups() for m in map(TRAIN_LINE.match, lines) if m]
    assert len(logged) == len(rows)
    for (step, epoch, loss, grad, lr), r in zip(logged, rows):
        assert (int(step), int(epoch)) == (int(r["step"]), int(r["epoch"]))
        for printed, exact in ((loss, r["loss"]), (grad, r["grad_norm"]), (lr, r["lr"])):
            a, b = float(printed), float(exact)
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-3, abs=1e-4)
    assert any(" WARNING non-finite loss at step=" in line for line in lines)
    assert " ERROR loss has been non-finite " in lines[-1]


def run_example(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--out", str(out), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )


def require_same_torch() -> None:
    """Skip unless torch is installed and is the build that wrote the committed train.log."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    first = (EXAMPLE / "train.log").read_text(encoding="utf-8").splitlines()[0]
    match = re.search(r"INFO torch (\S+),", first)
    assert match, first
    have = importlib.metadata.version("torch")
    if have != match.group(1):
        pytest.skip(f"committed run was made with torch {match.group(1)}, this is torch {have}")


@pytest.mark.slow
def test_rerun_reproduces_the_committed_artifacts_byte_for_byte(tmp_path: Path) -> None:
    require_same_torch()
    done = run_example(tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]  # the script gives up on the NaN loss
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(ARTIFACTS)
    for name in ARTIFACTS:
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), f"{name} differs"


@pytest.mark.slow
def test_lower_peak_lr_trains_to_the_end(tmp_path: Path) -> None:
    require_same_torch()
    done = run_example(tmp_path, "--peak-lr", "0.2")
    assert done.returncode == 0, done.stderr[-2000:]
    fixed = read_metrics(tmp_path / "metrics.csv")
    total = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))["lr_schedule"]["total_steps"]
    assert len(fixed) == total
    loss = [float(r["loss"]) for r in fixed]
    assert all(math.isfinite(v) for v in loss)
    smooth = rolling_mean(loss, WINDOW)
    assert smooth[-1] < 1.1 * min(smooth[WINDOW:])  # still at its best when the schedule ends
    diverged = rolling_mean([float(r["loss"]) for r in read_metrics(EXAMPLE / "metrics.csv")], WINDOW)
    assert smooth[-1] < min(v for v in diverged if math.isfinite(v))
    assert "WARNING" not in (tmp_path / "train.log").read_text(encoding="utf-8")
