"""A wide MLP trained for many epochs on 500 noisy examples: it memorizes them and overfits.

A 20-512-512-10 ReLU MLP (about 280k parameters) learns a 10-class synthetic classification task
from only 500 training examples, 20% of whose labels are replaced by random ones, with Adam (lr 1e-3,
batch 32, no weight decay, no dropout, no early stopping) for 50 epochs. The validation loss is best
after 3 epochs (epoch 2 in the 0-based file); from then on the training loss keeps falling towards
zero and the training accuracy reaches 100% (noisy labels included), while the validation loss climbs for the rest of
the run to about twice its best and the validation accuracy slips.

Artifacts in ``--out``: ``training.log`` as Keras' ``CSVLogger`` writes it (``epoch`` 0-based, then
the sorted metric names ``accuracy,loss,val_accuracy,val_loss``; ``loss`` and ``accuracy`` are the
means over the epoch's batches, the ``val_*`` ones are measured on 2000 held-out examples at the
end of each epoch) and ``config.json``.
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
    "data": {"task": "teacher_classification", "in_features": 20, "num_classes": 10, "n_train": 500,
             "n_val": 2000, "label_noise": 0.2},
    "model": {"layers": [{"units": 512, "activation": "relu"}, {"units": 512, "activation": "relu"},
                         {"units": 10, "activation": None}], "dropout": 0.0},
    "compile": {"optimizer": "adam", "learning_rate": 0.001, "loss": "sparse_categorical_crossentropy",
                "metrics": ["accuracy"]},
    "fit": {"epochs": 50, "batch_size": 32, "shuffle": True, "callbacks": ["CSVLogger"]},
}


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_json(args.out / "config.json", cfg)
    zc.seed_everything(cfg["seed"])
    d = cfg["data"]
    x, y = zc.teacher_classification(d["n_train"] + d["n_val"], d["in_features"], d["num_classes"], seed=11,
                                     label_noise=d["label_noise"])
    x_tr, y_tr, x_val, y_val = x[:d["n_train"]], y[:d["n_train"]], x[d["n_train"]:], y[d["n_train"]:]
    model = zc.mlp([d["in_features"], 512, 512, d["num_classes"]], nn.ReLU)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["compile"]["learning_rate"])
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
