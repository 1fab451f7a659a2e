"""Regenerate the committed tracking-system fixtures with the real writers (not run by the tests).

Needs torch, tensorboardX, mlflow and wandb (``requirements-test.txt``)::

    python tests/data/tracking/make_fixtures.py

Writes, next to this file:

- ``tb/torch/``: a run of ``torch.utils.tensorboard.SummaryWriter``: scalars
  with a NaN and an inf, gradient and weight histograms (a third of one
  gradient exactly zero), the HF-style ``args`` JSON text, sample texts;
  ``add_hparams`` adds its own subfolder.
- ``tb/tbx/``: scalars (a NaN), a key/value text and gradient histograms through tensorboardX.
- ``tb/restart/``: one run in three event files: steps 0-99 (NaN at 95),
  then ``purge_step=50`` (a SessionLog START) and steps 50-149, then 150-159.
- ``mlruns/``: an MLflow file store (``MLFLOW_ALLOW_FILE_STORE=true``): a
  FAILED run with a NaN point, a soft-deleted run, and a deleted experiment
  whose run sits in ``.trash``.
- ``wandb/``: an offline W&B run of 300 steps (NaN at step 150, a
  ``define_metric`` step key) that finished, and ``wandb_killed/``: one
  SIGKILLed half-way through. Only the ``.wandb`` file and ``files/output.log``
  are kept.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WANDB_RUN = """
import math, os, sys, time
import wandb
steps, kill_at = int(sys.argv[1]), int(sys.argv[2])
run = wandb.init(project="traindx-fixture", dir=sys.argv[3], config={"lr": 0.05, "optimizer": {"name": "adamw", "betas": [0.9, 0.95]}, "batch_size": 32})
run.define_metric("trainer/global_step")
run.define_metric("*", step_metric="trainer/global_step")
for i in range(steps):
    loss = math.nan if i == 150 else 2.0 * math.exp(-i / 100) + 0.01 * (i % 7)
    row = {"train/loss": loss, "train/lr": 0.05, "trainer/global_step": 10 * i}
    if i % 25 == 0:
        row["eval/loss"] = 2.1 * math.exp(-i / 120)
    run.log(row)
    if i % 50 == 0:
        print(f"step {10 * i}: loss {loss:.4f}", flush=True)
    if i == kill_at:
        print("READY", flush=True)
        time.sleep(60)
run.summary["best_eval"] = 0.5
run.finish()
"""


def tensorboard_torch(dest: Path) -> None:
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    w = SummaryWriter(str(dest))
    w.add_text("args", json.dumps({"learning_rate": 0.001, "per_device_train_batch_size": 8, "lr_scheduler_type": "cosine"}), 0)
    for s in range(20):
        loss = math.nan if s == 12 else (math.inf if s == 13 else 2.0 / (s + 1))
        w.add_scalar("train/loss", loss, s)
        w.add_scalar("train/learning_rate", 1e-3, s)
        if s % 5 == 0:
            w.add_scalar("eval/loss", 2.5 / (s + 1), s)
            g = rng.normal(size=300)
            g[:100] = 0.0
            w.add_histogram("grad/fc1.weight", g, s)
            w.add_histogram("grad/fc2.weight", rng.normal(size=100) * 0.1, s)
            w.add_histogram("fc1.weight", rng.normal(size=300), s)
            w.add_text("samples", f"generated at step {s}: the the the", s)
    w.add_hparams({"lr": 0.001, "batch_size": 8, "optimizer": "adamw", "amp": True}, {"hparam/final_loss": 0.1})
    w.close()


def tensorboard_tbx(dest: Path) -> None:
    import numpy as np
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(1)
    w = SummaryWriter(str(dest))
    w.add_text("hparams", "lr: 0.01\nbatch_size: 16\noptimizer: sgd", 0)
    for s in range(15):
        w.add_scalar("loss", math.nan if s == 7 else 1.0 / (s + 1), s)
        w.add_scalar("val/accuracy", 0.5 + s / 100, s)
        if s % 3 == 0:
            w.add_histogram("gradients/layer1", rng.normal(size=300), s)
    w.close()


def tensorboard_restart(dest: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(dest))
    for s in range(100):
        w.add_scalar("loss", math.nan if s == 95 else 3.0 - s / 100, s)
    w.close()
    time.sleep(1.1)  # the timestamp in the next file's name must be later
    w = SummaryWriter(str(dest), purge_step=50)
    for s in range(50, 150):
        w.add_scalar("loss", 2.0 - s / 200, s)
    w.close()
    time.sleep(1.1)
    w = SummaryWriter(str(dest))
    for s in range(150, 160):
        w.add_scalar("loss", 1.2 - s / 1000, s)
    w.close()


def mlflow_file_store(dest: Path) -> None:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=dest.resolve().as_uri())
    exp = c.create_experiment("tracking-fixture")
    run = c.create_run(exp, run_name="failing")
    rid = run.info.run_id
    metrics = [Metric("loss", math.nan if s == 30 else 2.0 / (s + 1), 1_700_000_000_000 + s, s) for s in range(40)]
    metrics += [Metric("eval/loss", 2.2 / (s + 1), 1_700_000_000_000 + s, s) for s in range(0, 40, 10)]
    c.log_batch(rid, metrics=metrics, params=[Param("lr", "0.1"), Param("optimizer", "sgd")], tags=[RunTag("purpose", "traindx fixture")])
    c.set_terminated(rid, "FAILED")
    gone = c.create_run(exp, run_name="deleted-run")
    c.log_metric(gone.info.run_id, "loss", 99.0, step=0)
    c.set_terminated(gone.info.run_id, "FINISHED")
    c.delete_run(gone.info.run_id)
    old = c.create_experiment("old-experiment")
    trashed = c.create_run(old, run_name="trashed-run")
    c.log_metric(trashed.info.run_id, "loss", 42.0, step=0)
    c.set_terminated(trashed.info.run_id, "FINISHED")
    c.delete_experiment(old)


def wandb_run(dest: Path, kill_at: int | None) -> None:
    tmp = dest.parent / f"_{dest.name}_tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DISABLE_GIT="true")
    steps = 300
    proc = subprocess.Popen(
        [sys.executable, "-c", WANDB_RUN, str(steps), str(-1 if kill_at is None else kill_at), str(tmp)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    if kill_at is None:
        proc.wait(timeout=120)
    else:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "READY":
                break
        time.sleep(1.0)  # let wandb-core write what it has
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    (run_dir,) = [p for p in (tmp / "wandb").iterdir() if p.name.startswith("offline-run-")]
    out = dest / run_dir.name
    shutil.rmtree(dest, ignore_errors=True)
    (out / "files").mkdir(parents=True)
    (wandb_file,) = run_dir.glob("*.wandb")
    shutil.copy(wandb_file, out / wandb_file.name)
    log = run_dir / "files" / "output.log"
    if log.is_file():
        shutil.copy(log, out / "files" / "output.log")
    shutil.rmtree(tmp)


def main() -> None:
    for sub in ("tb", "mlruns", "wandb", "wandb_killed"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    tensorboard_torch(HERE / "tb" / "torch")
    tensorboard_tbx(HERE / "tb" / "tbx")
    tensorboard_restart(HERE / "tb" / "restart")
    mlflow_file_store(HERE / "mlruns")
    wandb_run(HERE / "wandb", None)
    wandb_run(HERE / "wandb_killed", 200)


if __name__ == "__main__":
    main()
