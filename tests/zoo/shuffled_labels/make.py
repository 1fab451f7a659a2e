"""A classifier whose training labels were shuffled separately from the inputs: it learns nothing real.

The script loads a 10-class data set (Gaussian classes in 32 dimensions, easy to learn: with the
shuffle fixed the same script reaches ~97% validation accuracy) and then "shuffles the training
set" with two separate calls, ``rng.shuffle(x_train); rng.shuffle(y_train)``, which draw two
different permutations: every training label now belongs to a random input. The validation set, loaded from its own file, is
intact. A 32-64-64-10 MLP trained with Adam (lr 1e-3, batch 32) for 20 epochs can only memorize
the random pairs: the training loss creeps down from ln(10) = 2.303 (to ~1.7 after 20 epochs,
training accuracy ~44%), while the validation accuracy stays at chance (7-12%) from the first
epoch to the last and the validation loss never goes below ln(10), rising above it once the
memorization sets in.

Artifacts in ``--out``: ``train.log`` (the console output of a Keras ``model.fit(...,
verbose=2)`` run: the model summary, then ``Epoch N/20`` and ``63/63 - 0s - 3ms/step - accuracy:
... - loss: ... - val_accuracy: ... - val_loss: ...`` per epoch) and ``config.yaml``.
"""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CONFIG = {
    "seed": 0,
    "data": {"train_file": "data/train.npz", "val_file": "data/val.npz", "n_train": 2000, "n_val": 500,
             "in_features": 32, "num_classes": 10, "shuffle_train": True},
    "model": {"units": [64, 64], "activation": "relu"},
    "compile": {"optimizer": "adam", "learning_rate": 0.001, "loss": "sparse_categorical_crossentropy",
                "metrics": ["accuracy"]},
    "fit": {"epochs": 20, "batch_size": 32, "verbose": 2},
}


def keras_value(v: float) -> str:
    """How Keras' progress bar prints a metric value."""
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


def summary_lines(sizes: list[int]) -> list[str]:
    """Keras 3 ``model.summary()`` for a stack of Dense layers."""
    widths = (33, 24, 15)

    def rule(left: str, fill: str, cross: str, right: str) -> str:
        return left + cross.join(fill * w for w in widths) + right

    top, mid = rule("┏", "━", "┳", "┓"), rule("┡", "━", "╇", "┩")
    sep, bot = rule("├", "─", "┼", "┤"), rule("└", "─", "┴", "┘")
    head = f"┃ {'Layer (type)':<31} ┃ {'Output Shape':<22} ┃ {'Param #':>13} ┃"
    lines = ['Model: "sequential"', top, head, mid]
    total = 0
    for i, (a, b) in enumerate(pairwise(sizes)):
        n = a * b + b
        total += n
        name = "dense" if i == 0 else f"dense_{i}"
        lines.append(f"│ {name + ' (Dense)':<31} │ {'(None, ' + str(b) + ')':<22} │ {n:>13,} │")
        lines.append(sep if i < len(sizes) - 2 else bot)
    kb = total * 4 / 1024
    lines += [f" Total params: {total:,} ({kb:.2f} KB)", f" Trainable params: {total:,} ({kb:.2f} KB)",
              " Non-trainable params: 0 (0.00 B)"]
    return lines


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_yaml(args.out / "config.yaml", cfg)
    zc.seed_everything(cfg["seed"])
    d = cfg["data"]
    x, y = zc.gaussian_blobs(d["n_train"] + d["n_val"], d["in_features"], d["num_classes"], seed=31, spread=0.8)
    x_train, y_train = x[:d["n_train"]].numpy().copy(), y[:d["n_train"]].numpy().copy()
    x_val, y_val = x[d["n_train"]:], y[d["n_train"]:]
    rng = np.random.default_rng(cfg["seed"])
    rng.shuffle(x_train)  # the bug: two calls, two different permutations
    rng.shuffle(y_train)
    x_tr, y_tr = torch.from_numpy(x_train), torch.from_numpy(y_train)

    sizes = [d["in_features"], *cfg["model"]["units"], d["num_classes"]]
    model = zc.mlp(sizes)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["compile"]["learning_rate"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    clock = zc.SimClock(seed=8)
    log = zc.TextLog(args.out / "train.log")
    log.print(f"Loaded {d['n_train']} training examples from {d['train_file']} and {d['n_val']} validation examples "
              f"from {d['val_file']}")
    for line in summary_lines(sizes):
        log.print(line)
    bs, epochs = cfg["fit"]["batch_size"], cfg["fit"]["epochs"]
    n_batches = -(-d["n_train"] // bs)
    for epoch in range(epochs):
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
        with torch.no_grad():
            logits = model(x_val)
            val_loss = float(F.cross_entropy(logits, y_val))
            val_acc = float((logits.argmax(1) == y_val).float().mean())
        step_ms = clock.jitter(17.0 if epoch == 0 else 3.0, 0.15)
        epoch_s = step_ms * n_batches / 1000.0
        clock.advance(step_ms * n_batches)
        log.print(f"Epoch {epoch + 1}/{epochs}")
        log.print(f"{n_batches}/{n_batches} - {epoch_s:.0f}s - {step_ms:.0f}ms/step - "
                  f"accuracy: {keras_value(correct / d['n_train'])} - loss: {keras_value(loss_sum / d['n_train'])} - "
                  f"val_accuracy: {keras_value(val_acc)} - val_loss: {keras_value(val_loss)}")
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
