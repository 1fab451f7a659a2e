"""Regenerate the committed fixtures of the structured-file reader tests with the real writers.

Not run by the tests. Needs ``lightning`` and ``mlflow-skinny`` (see
``requirements-fixtures.txt`` in this folder), e.g.::

    pip install --target /tmp/fixpkgs -r tests/data/structured/requirements-fixtures.txt
    PYTHONPATH=/tmp/fixpkgs python tests/data/structured/make_fixtures.py

Writes ``lightning/`` (a Lightning CSVLogger run: sparse metrics.csv with a
NaN-valued column, hparams.yaml), ``mlruns/`` (an MLflow file store: one
KILLED run with a NaN point, a nested metric key, params and tags) and
``sqlite/mlflow.db`` (an MLflow SQLite store: an older FINISHED run and a later
FAILED one with NaN and inf values; needs ``sqlalchemy`` and ``alembic`` too).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent


def make_lightning() -> None:
    import lightning as L
    import torch
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)

    class Tiny(L.LightningModule):
        def __init__(self, lr: float = 0.05) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            self.log("lr", self.hparams.lr, on_step=True, on_epoch=False)
            if self.global_step == 3:
                self.log("odd_metric", math.nan, on_step=True, on_epoch=False)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    x = torch.randn(64, 4)
    y = x.sum(dim=1, keepdim=True)
    train = DataLoader(TensorDataset(x, y), batch_size=8)
    val = DataLoader(TensorDataset(x[:16], y[:16]), batch_size=8)
    out = HERE / "_lightning_tmp"
    shutil.rmtree(out, ignore_errors=True)
    trainer = L.Trainer(
        max_epochs=3,
        logger=CSVLogger(str(out), name="", version=0),
        log_every_n_steps=2,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(Tiny(), train, val)
    dest = HERE / "lightning"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    for name in ("metrics.csv", "hparams.yaml"):
        found = next(out.rglob(name))
        shutil.copy(found, dest / name)
    shutil.rmtree(out)


def make_mlflow() -> None:
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow

    dest = HERE / "mlruns"
    shutil.rmtree(dest, ignore_errors=True)
    mlflow.set_tracking_uri(dest.as_uri())
    mlflow.set_experiment("fixture-experiment")
    with mlflow.start_run(run_name="fixture-run") as run:
        mlflow.log_params({"learning_rate": 0.001, "optimizer": "SGD", "nested/param": "x"})
        mlflow.set_tag("purpose", "traindx reader test")
        for step in range(5):
            loss = math.nan if step == 3 else 2.0 / (step + 1)
            mlflow.log_metric("loss", loss, step=step * 10)
            mlflow.log_metric("val/loss", 3.0 - step * 0.1, step=step * 10)
        mlflow.log_metric("final accuracy", 0.5, step=0)
        run_id = run.info.run_id
    mlflow.tracking.MlflowClient().set_terminated(run_id, status="KILLED")


def make_mlflow_sqlite() -> None:
    import sqlite3
    import tempfile

    import mlflow

    dest = HERE / "sqlite" / "mlflow.db"
    dest.parent.mkdir(exist_ok=True)
    dest.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "mlflow.db"
        mlflow.set_tracking_uri(f"sqlite:///{db}")
        mlflow.set_experiment("sqlite-fixture")
        with mlflow.start_run(run_name="older-run"):
            mlflow.log_metric("loss", 5.0, step=0)
        with mlflow.start_run(run_name="failing-run") as run:
            mlflow.log_params({"learning_rate": 0.5, "batch_size": 8})
            mlflow.set_tag("purpose", "traindx reader test")
            for step, loss in enumerate([2.0, 1.5, math.inf, math.nan]):
                mlflow.log_metric("loss", loss, step=step * 100)
                mlflow.log_metric("grad_norm", 1.0 + step, step=step * 100)
            mlflow.log_metric("eval_loss", -math.inf, step=300)
            run_id = run.info.run_id
        mlflow.tracking.MlflowClient().set_terminated(run_id, status="FAILED")
        shutil.copy(db, dest)
        con = sqlite3.connect(dest)
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("PRAGMA page_size=512")  # 65 mostly empty tables: small pages keep the file small
        con.execute("VACUUM")
        con.close()


if __name__ == "__main__":
    make_lightning()
    make_mlflow()
    make_mlflow_sqlite()
