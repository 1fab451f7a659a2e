"""A ReLU MLP trained with Adam at lr 0.1 (an SGD-sized learning rate): its hidden units die.

A 3-hidden-layer ReLU MLP (20-128-128-128-10) learns a 10-class synthetic classification task with
Adam. ``lr=0.1`` is ten to a hundred times what Adam needs here. The second update is huge (the
loss jumps to ~39), it pushes the pre-activations of most units in hidden layers 2 and 3 below
zero for every input, and a ReLU that is negative everywhere gets no gradient, so it never comes
back. The fraction of dead units (units whose output is 0 on every example of a fixed probe batch
of 1000 validation inputs) passes 70% at step 3 in layer 2 (step 50 in layer 3) and is 100% in
both layers from step 70 on; from then on only the output bias learns, and the loss sits at the
entropy of the class prior. The same script with ``lr=1e-3`` keeps fewer than 10% of the units
dead and reaches a validation accuracy near 64%.

Artifacts in ``--out``: TensorBoard events in ``tb/`` (``train/loss``, ``train/grad_norm``,
``train/lr`` and ``dead_frac/layer1..3`` at steps 1-5 and every 10 steps; ``val/loss`` and
``val/acc`` every 100 steps) and ``config.yaml``.
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
    "data": {"task": "teacher_classification", "in_features": 20, "num_classes": 10, "n_train": 5000, "n_val": 1000},
    "model": {"type": "mlp", "sizes": [20, 128, 128, 128, 10], "activation": "relu"},
    "optimizer": {"name": "adam", "lr": 0.1, "betas": [0.9, 0.999], "weight_decay": 0.0},
    "batch_size": 128,
    "max_steps": 1000,
    "log_every": 10,
    "eval_every": 100,
}
STEP_MS = 3.1


def dead_fractions(model: nn.Sequential, probe: torch.Tensor) -> list[float]:
    """Per hidden layer, the fraction of ReLU units that output 0 for every probe example."""
    out: list[float] = []
    h = probe
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                out.append(float((h.max(0).values <= 0).float().mean()))
    return out


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_yaml(args.out / "config.yaml", cfg)
    zc.seed_everything(cfg["seed"])
    d = cfg["data"]
    x, y = zc.teacher_classification(d["n_train"] + d["n_val"], d["in_features"], d["num_classes"], seed=7)
    x_tr, y_tr, x_val, y_val = x[:d["n_train"]], y[:d["n_train"]], x[d["n_train"]:], y[d["n_train"]:]
    model = zc.mlp(cfg["model"]["sizes"], nn.ReLU)
    o = cfg["optimizer"]
    opt = torch.optim.Adam(model.parameters(), lr=o["lr"], betas=tuple(o["betas"]), weight_decay=o["weight_decay"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    clock = zc.SimClock(seed=5)
    clock.advance(2380)
    with zc.tensorboard_writer(args.out / "tb", clock) as tb:
        for step in range(1, cfg["max_steps"] + 1):
            idx = torch.randint(0, d["n_train"], (cfg["batch_size"],), generator=gen)
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf")))
            opt.step()
            clock.advance(clock.jitter(STEP_MS))
            if step % cfg["log_every"] == 0 or step <= 5:
                t = clock.unix
                tb.add_scalar("train/loss", float(loss.detach()), step, walltime=t)
                tb.add_scalar("train/grad_norm", grad_norm, step, walltime=t)
                tb.add_scalar("train/lr", o["lr"], step, walltime=t)
                for i, frac in enumerate(dead_fractions(model, x_val), start=1):
                    tb.add_scalar(f"dead_frac/layer{i}", frac, step, walltime=t)
            if step % cfg["eval_every"] == 0:
                with torch.no_grad():
                    logits = model(x_val)
                    val_loss = float(F.cross_entropy(logits, y_val))
                    val_acc = float((logits.argmax(1) == y_val).float().mean())
                clock.advance(clock.jitter(14.0))
                tb.add_scalar("val/loss", val_loss, step, walltime=clock.unix)
                tb.add_scalar("val/acc", val_acc, step, walltime=clock.unix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
