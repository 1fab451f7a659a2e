"""A healthy classifier: a small MLP on plenty of data, with a small, stable train/validation gap.

A 32-64-64-10 ReLU MLP learns a 10-class task (each class a unit-variance Gaussian around its own
centre in 32 dimensions; the classes overlap, so about 13% of the examples cannot be classified
correctly by any model) from 20,000 training examples with plain SGD (lr 0.01, batch 32) for 15
epochs. Both losses fall quickly in the first epochs and then flatten at the noise floor; the
training loss ends a few per cent below the validation loss and the accuracies differ by
less than one point. Nothing is wrong with this run: it is the twin of the ``overfitting`` case.

Artifacts in ``--out``: ``training.log`` as Keras' ``CSVLogger`` writes it (``epoch`` 0-based, then
``accuracy,loss,val_accuracy,val_loss``; the training metrics are means over the epoch's batches,
the validation ones are measured on 5000 held-out examples at the end of each epoch) and
``config.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

CONFIG = {
    "seed": 0,
    "data": {"task": "gaussian_blobs", "in_features": 32, "num_classes": 10, "spread": 0.5, "n_train": 20000,
             "n_val": 5000},
    "model": {"layers": [{"units": 64, "activation": "relu"}, {"units": 64, "activation": "relu"},
                         {"units": 10, "activation": None}], "dropout": 0.0},
    "compile": {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.0, "loss": "sparse_categorical_crossentropy",
                "metrics": ["accuracy"]},
    "fit": {"epochs": 15, "batch_size": 32, "shuffle": True, "callbacks": ["CSVLogger"]},
}


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_json(args.out / "config.json", cfg)
    zc.seed_everything(cfg["seed"])
    d = cfg["data"]
    x, y = zc.gaussian_blobs(d["n_train"] + d["n_val"], d["in_features"], d["num_classes"], seed=11, spread=d["spread"])
    x_tr, y_tr, x_val, y_val = x[:d["n_train"]], y[:d["n_train"]], x[d["n_train"]:], y[d["n_train"]:]
    model = zc.mlp([d["in_features"], 64, 64, d["num_classes"]], nn.ReLU)
    opt = torch.optim.SGD(model.parameters(), lr=cfg["compile"]["learning_rate"], momentum=cfg["compile"]["momentum"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    bs = cfg["fit"]["batch_size"]
    log = zc.KerasCSV(args.out / "training.log")
    for epoch in range(cfg["fit"]["epochs"]):
        model.train()
        perm = torch.randperm(d["n_train"], generator=gen)
        loss_sum, correct = 0.0, 0
        for start in range(0, d["n_train"], bs):
            idx = perm[start:start + bs]
            logits = model(x_tr[idx])
            loss = F.cross_entropy(logits, y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y_tr[idx]).sum())
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = F.cross_entropy(logits, y_val)
            val_acc = (logits.argmax(1) == y_val).float().mean()
        log.on_epoch_end(epoch, {"accuracy": zc.f32(correct / d["n_train"]), "loss": zc.f32(loss_sum / d["n_train"]),
                                 "val_accuracy": zc.f32(val_acc), "val_loss": zc.f32(val_loss)})
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
