"""Sequential training on two tasks: after the switch to task B, the accuracy on task A collapses.

A 32-256-256-10 ReLU MLP is trained with Adam (lr 1e-3, batch 32) for 4 epochs on task A, then for
4 epochs on task B, as a continual-learning script does: one ``Trainer``, the datamodule hands out
task B's data from epoch 4 on (``reload_dataloaders_every_n_epochs=1``), and nothing protects
task A (no replay, no regularization). Both tasks use the same 10 labels, but each class of task
B sits somewhere else in input space (Gaussian classes around new centres). Validation runs every
25 training batches on both tasks' held-out sets. Task A reaches ~97% accuracy; within 25 steps of
the switch it falls to ~65%, and it keeps falling to ~25% while task B climbs to ~99%.

Artifacts in ``--out``, as a PyTorch Lightning run with ``CSVLogger`` leaves them:
``lightning_logs/version_0/metrics.csv`` and ``hparams.yaml``. Logged: ``train_loss`` with
``on_step=True, on_epoch=True``, ``task_id`` on step, and ``val_loss_task_a``, ``val_acc_task_a``,
``val_loss_task_b``, ``val_acc_task_b`` (two validation dataloaders, logged with
``add_dataloader_idx=False``); ``log_every_n_steps=25``, ``val_check_interval=25``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HPARAMS = {"seed": 0, "hidden": [256, 256], "in_features": 32, "num_classes": 10, "lr": 0.001, "batch_size": 32,
           "epochs_per_task": 4, "tasks": ["a", "b"], "n_train_per_task": 3200, "n_val_per_task": 800,
           "log_every_n_steps": 25, "val_check_interval": 25}


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    hp = HPARAMS
    zc.seed_everything(hp["seed"])
    n_tr, n_val = hp["n_train_per_task"], hp["n_val_per_task"]
    data = {}
    for name, seed in (("a", 21), ("b", 23)):
        x, y = zc.gaussian_blobs(n_tr + n_val, hp["in_features"], hp["num_classes"], seed=seed, spread=0.8)
        data[name] = (x[:n_tr], y[:n_tr], x[n_tr:], y[n_tr:])
    model = zc.mlp([hp["in_features"], *hp["hidden"], hp["num_classes"]])
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])
    logger = zc.LightningCSV(args.out)
    logger.log_hyperparams(hp)
    gen = torch.Generator().manual_seed(hp["seed"])
    bs = hp["batch_size"]
    step = 0
    epoch = 0
    for task_id, task in enumerate(hp["tasks"]):
        x_tr, y_tr, _, _ = data[task]
        for _ in range(hp["epochs_per_task"]):
            perm = torch.randperm(n_tr, generator=gen)
            losses: list[float] = []
            for batch_idx, start in enumerate(range(0, n_tr, bs)):
                idx = perm[start:start + bs]
                loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                if (step + 1) % hp["log_every_n_steps"] == 0:
                    row = {"epoch": epoch, "task_id": float(task_id), "train_loss_step": zc.f32(loss)}
                    logger.log_metrics(row, step)
                if (batch_idx + 1) % hp["val_check_interval"] == 0:
                    metrics: dict = {"epoch": epoch}
                    with torch.no_grad():
                        for name in hp["tasks"]:
                            _, _, xv, yv = data[name]
                            logits = model(xv)
                            metrics[f"val_acc_task_{name}"] = zc.f32((logits.argmax(1) == yv).float().mean())
                            metrics[f"val_loss_task_{name}"] = zc.f32(F.cross_entropy(logits, yv))
                    logger.log_metrics(metrics, step)
                step += 1
            logger.log_metrics({"epoch": epoch, "train_loss_epoch": zc.f32(sum(losses) / len(losses))}, step - 1)
            epoch += 1
    logger.finalize()
    return 0


if __name__ == "__main__":
    sys.exit(main())
