"""Train a small MLP classifier; the training loop never clears the gradients.

A 32-128-128-10 ReLU MLP learns a 10-class task (Gaussian classes in 32 dimensions) with plain SGD
(lr 0.01, batch 64). The loop calls ``loss.backward()`` and ``optimizer.step()`` but never
``optimizer.zero_grad()``, so every ``.grad`` is the running sum of all the gradients computed so
far and each step moves the weights by the whole history. At first this looks like a fast
optimizer (the loss drops faster than a correct loop's), then the accumulated gradient overshoots:
the gradient norm (of the accumulated ``.grad``) grows steadily for the whole run, the loss swings
up and down, and the validation accuracy, after an early peak, falls back.

This file is self-contained: it is also the run's ``train.py`` (written under a plain docstring).

Artifacts in ``--out``: ``train.log`` (``logging`` lines every 10 steps and a validation line every
100 steps), ``config.json`` and ``train.py`` (this script, under a plain docstring).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
CLOCK_START_S = 1767225600  # simulated clock: 2026-01-01 00:00:00 UTC

CONFIG = {
    "seed": 0,
    "data": {"n_train": 10000, "n_val": 2000, "in_features": 32, "num_classes": 10, "spread": 0.5, "data_seed": 11},
    "model": {"hidden": [128, 128]},
    "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.0},
    "batch_size": 64,
    "max_steps": 600,
    "log_every": 10,
    "eval_every": 100,
}


class SimClock:
    """Milliseconds since the start, advanced by the loop (reproducible timestamps)."""

    def __init__(self) -> None:
        self.ms = 0
        self.rng = random.Random(9)

    def tick(self, base_ms: float) -> None:
        self.ms += round(base_ms * (1.0 + 0.03 * self.rng.uniform(-1.0, 1.0)))


class ClockFormatter(logging.Formatter):
    def __init__(self, clock: SimClock) -> None:
        super().__init__("%(asctime)s | %(levelname)s | %(message)s")
        self.clock = clock

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(CLOCK_START_S + self.clock.ms // 1000))
        return f"{stamp}.{self.clock.ms % 1000:03d}"


def get_data(cfg: dict) -> tuple[torch.Tensor, ...]:
    d = cfg["data"]
    gen = torch.Generator().manual_seed(d["data_seed"])
    n = d["n_train"] + d["n_val"]
    centres = torch.randn(d["num_classes"], d["in_features"], generator=gen) * d["spread"]
    y = torch.arange(n) % d["num_classes"]
    y = y[torch.randperm(n, generator=gen)]
    x = centres[y] + torch.randn(n, d["in_features"], generator=gen)
    k = d["n_train"]
    return x[:k], y[:k], x[k:], y[k:]


def build_model(cfg: dict) -> nn.Module:
    h1, h2 = cfg["model"]["hidden"]
    d = cfg["data"]
    return nn.Sequential(nn.Linear(d["in_features"], h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                         nn.Linear(h2, d["num_classes"]))


def train(cfg: dict, out: Path) -> None:
    random.seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    clock = SimClock()
    log = logging.getLogger("train")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.FileHandler(out / "train.log", mode="w", encoding="utf-8")
    handler.setFormatter(ClockFormatter(clock))
    log.addHandler(handler)

    x_tr, y_tr, x_val, y_val = get_data(cfg)
    model = build_model(cfg)
    optimizer = torch.optim.SGD(model.parameters(), lr=cfg["optimizer"]["lr"], momentum=cfg["optimizer"]["momentum"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    log.info("torch %s | %d train / %d val examples | %d parameters", torch.__version__, len(x_tr), len(x_val),
             sum(p.numel() for p in model.parameters()))
    log.info("optimizer: SGD(lr=%s, momentum=%s) | batch_size=%d | max_steps=%d", cfg["optimizer"]["lr"],
             cfg["optimizer"]["momentum"], cfg["batch_size"], cfg["max_steps"])
    clock.tick(1500)

    model.train()
    steps_per_epoch = len(x_tr) // cfg["batch_size"]
    for step in range(1, cfg["max_steps"] + 1):
        idx = torch.randint(0, len(x_tr), (cfg["batch_size"],), generator=gen)
        logits = model(x_tr[idx])
        loss = F.cross_entropy(logits, y_tr[idx])
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf"))
        optimizer.step()
        clock.tick(2.4)
        if step % cfg["log_every"] == 0:
            log.info("epoch %d | step %d | loss %.4f | grad_norm %.4f | lr %.4f", step // steps_per_epoch, step,
                     loss.item(), grad_norm.item(), cfg["optimizer"]["lr"])
        if step % cfg["eval_every"] == 0:
            model.eval()
            with torch.no_grad():
                val_logits = model(x_val)
                val_loss = F.cross_entropy(val_logits, y_val).item()
                val_acc = (val_logits.argmax(1) == y_val).float().mean().item()
            model.train()
            clock.tick(6.0)
            log.info("epoch %d | step %d | val_loss %.4f | val_acc %.4f", step // steps_per_epoch, step,
                     val_loss, val_acc)
    log.info("done")
    handler.close()
    log.removeHandler(handler)


def script_as_shipped() -> str:
    """This file as the run's ``train.py``: the same code under a plain docstring (no description of the bug)."""
    source = Path(__file__).read_text(encoding="utf-8")
    body = source.split('"""', 2)[2].lstrip("\n")
    doc = '"""Train an MLP classifier on the blobs data set; log loss, gradient norm and validation metrics."""'
    return doc + "\n\n" + body


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE / "run")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n", encoding="utf-8")
    (args.out / "train.py").write_text(script_as_shipped(), encoding="utf-8")
    train(CONFIG, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
