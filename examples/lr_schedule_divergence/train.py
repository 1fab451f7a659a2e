"""A small regression MLP whose learning-rate warmup overshoots, trained on CPU.

This is an ordinary training script, the kind the README quick start diagnoses. A three-layer
tanh MLP learns a synthetic tabular regression task (targets made by a fixed random "teacher"
network, plus noise) with SGD + momentum. The learning rate ramps up linearly for
``warmup_steps`` to ``peak_lr`` and then follows a cosine decay to ``min_lr`` at ``total_steps``.

With the default ``--peak-lr 0.5`` the warmup pushes the LR past what this model can take: the
loss falls while the LR is small, then climbs once the LR gets high, the gradient norm grows with
it, and the run ends in NaN (the script stops after 10 non-finite steps and exits with status 1).
``--peak-lr 0.2`` trains the same model to the end.

What it writes into ``--out`` (default: this folder):

- ``train.log``: the script's ``logging`` output. Its timestamps come from a simulated clock that
  starts at 2026-01-01 00:00:00 UTC and advances a fixed number of milliseconds per training step
  and per evaluation, so that two runs give the same bytes; they do not measure real time.
- ``metrics.csv``: one row per optimizer step (``step,epoch,loss,grad_norm,lr,val_loss``;
  ``val_loss`` is filled only on the steps where the validation set was evaluated).
- ``config.yaml``: the hyperparameters of the run.

The gradient norm is the value returned by ``torch.nn.utils.clip_grad_norm_`` with
``max_norm=inf``: it is measured and logged, never clipped.

Everything is seeded, single-threaded and runs with ``torch.use_deterministic_algorithms(True)``,
so the three files are byte-identical across runs with the same torch build on the same machine.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

HERE = Path(__file__).resolve().parent

# Simulated clock: 2026-01-01 00:00:00 UTC, then fixed costs in milliseconds.
CLOCK_START_S = 1767225600
STARTUP_MS = 1830
STEP_MS = 41
EVAL_MS = 212

NAN_PATIENCE = 10  # consecutive non-finite losses before the script gives up


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    """The hyperparameters of the run, in the order they are written to config.yaml."""
    return {
        "seed": args.seed,
        "data": {
            "task": "synthetic_regression",
            "n_features": 32,
            "n_train": 8192,
            "n_val": 1024,
            "feature_scales": [1.0, 0.1],
            "teacher_hidden": 64,
            "teacher_gain": 1.5,
            "noise_std": 0.1,
            "data_seed": 1234,
        },
        "model": {
            "type": "mlp",
            "in_features": 32,
            "hidden_sizes": [256, 256],
            "activation": "tanh",
            "out_features": 1,
        },
        "loss": "mse",
        "optimizer": {
            "name": "sgd",
            "momentum": 0.9,
            "nesterov": False,
            "weight_decay": 0.0,
        },
        "lr_schedule": {
            "name": "linear_warmup_cosine",
            "warmup_steps": args.warmup_steps,
            "peak_lr": args.peak_lr,
            "min_lr": args.min_lr,
            "total_steps": args.total_steps,
        },
        "batch_size": 256,
        "eval_every": 25,
        "grad_clip": None,
        "log_every": 1,
    }


class StepClock:
    """A clock in whole milliseconds that the training loop advances by fixed amounts."""

    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms

    def advance(self, ms: int) -> None:
        self.ms += ms


class StepClockFormatter(logging.Formatter):
    """The usual ``asctime levelname message`` layout, with the time read from a StepClock."""

    def __init__(self, clock: StepClock) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self.clock = clock

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(CLOCK_START_S + self.clock.ms // 1000))
        return f"{stamp},{self.clock.ms % 1000:03d}"


def setup_logging(log_path: Path, clock: StepClock) -> logging.Logger:
    log = logging.getLogger("lr_schedule_divergence")
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in list(log.handlers):
        log.removeHandler(handler)
    formatter = StepClockFormatter(clock)
    for handler in (logging.FileHandler(log_path, mode="w", encoding="utf-8"), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(formatter)
        log.addHandler(handler)
    return log


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


def make_data(cfg: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Correlated tabular features and a noisy nonlinear target.

    The target is a fixed random tanh network (the "teacher") applied to 32 independent Gaussian
    factors, standardized, plus Gaussian noise. The model does not see the factors themselves but
    a correlated mix of them: rescaled over one decade (``feature_scales``: 1.0 down to 0.1), mixed
    by a random rotation and standardized per column.
    """
    d = cfg["data"]
    gen = torch.Generator().manual_seed(d["data_seed"])
    n = d["n_train"] + d["n_val"]
    x = torch.randn(n, d["n_features"], generator=gen)
    w1 = torch.randn(d["n_features"], d["teacher_hidden"], generator=gen) * (d["teacher_gain"] / math.sqrt(d["n_features"]))
    w2 = torch.randn(d["teacher_hidden"], 1, generator=gen) / math.sqrt(d["teacher_hidden"])
    y = torch.tanh(x @ w1) @ w2
    y = (y - y.mean()) / y.std()
    y = y + d["noise_std"] * torch.randn(n, 1, generator=gen)
    hi, lo = d["feature_scales"]
    scales = torch.logspace(math.log10(hi), math.log10(lo), d["n_features"])
    rotation, _ = torch.linalg.qr(torch.randn(d["n_features"], d["n_features"], generator=gen))
    x = (x * scales) @ rotation
    x = x / x.std(0)
    k = d["n_train"]
    return x[:k], y[:k], x[k:], y[k:]


def make_model(cfg: dict[str, Any]) -> nn.Module:
    m = cfg["model"]
    sizes = [m["in_features"], *m["hidden_sizes"]]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.Tanh()]
    layers.append(nn.Linear(sizes[-1], m["out_features"]))
    return nn.Sequential(*layers)


def lr_at(step: int, sched: dict[str, Any]) -> float:
    """LR for optimizer step ``step`` (1-based): linear warmup to the peak, then cosine to min_lr."""
    warmup, peak, floor, total = sched["warmup_steps"], sched["peak_lr"], sched["min_lr"], sched["total_steps"]
    if step <= warmup:
        return peak * step / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))


def fmt_csv(value: float) -> str:
    return f"{value:.8g}"


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module) -> float:
    model.eval()
    loss = float(loss_fn(model(x), y))
    model.train()
    return loss


def log_header(log: logging.Logger, cfg: dict[str, Any], *, n_train: int, n_val: int, steps_per_epoch: int, n_params: int) -> None:
    """The lines a training script prints before its first step: versions, data, model, optimizer."""
    m, opt_cfg, sched = cfg["model"], cfg["optimizer"], cfg["lr_schedule"]
    log.info("torch %s, seed=%d, threads=%d, deterministic algorithms on", torch.__version__, cfg["seed"], torch.get_num_threads())
    log.info("data: %d train / %d val examples, %d features, %d steps per epoch",
             n_train, n_val, cfg["data"]["n_features"], steps_per_epoch)
    sizes = "-".join(str(s) for s in [m["in_features"], *m["hidden_sizes"], m["out_features"]])
    log.info("model: mlp %s (%s), %d parameters", sizes, m["activation"], n_params)
    log.info("optimizer: sgd momentum=%s weight_decay=%s; lr schedule: linear warmup to %.3e over %d steps, cosine to %.3e at step %d",
             opt_cfg["momentum"], opt_cfg["weight_decay"], sched["peak_lr"], sched["warmup_steps"], sched["min_lr"], sched["total_steps"])


def train(cfg: dict[str, Any], out: Path) -> int:
    """Run the training loop, writing the artifacts as it goes; 0 when it finished, 1 when it gave up."""
    clock = StepClock(0)
    log = setup_logging(out / "train.log", clock)
    (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    seed_everything(cfg["seed"])

    x_tr, y_tr, x_val, y_val = make_data(cfg)
    model = make_model(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    opt_cfg, sched, bs = cfg["optimizer"], cfg["lr_schedule"], cfg["batch_size"]
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr_at(1, sched), momentum=opt_cfg["momentum"],
        nesterov=opt_cfg["nesterov"], weight_decay=opt_cfg["weight_decay"],
    )
    loss_fn = nn.MSELoss()
    steps_per_epoch = len(x_tr) // bs

    log_header(log, cfg, n_train=len(x_tr), n_val=len(x_val), steps_per_epoch=steps_per_epoch, n_params=n_params)
    clock.advance(STARTUP_MS)
    log.info("eval step=0 epoch=0 val_loss=%.4f", evaluate(model, x_val, y_val, loss_fn))

    csv_file = (out / "metrics.csv").open("w", newline="", encoding="utf-8")
    writer = csv.writer(csv_file, lineterminator="\n")
    writer.writerow(["step", "epoch", "loss", "grad_norm", "lr", "val_loss"])

    order = torch.Generator().manual_seed(cfg["seed"])
    step, epoch, bad_streak, status = 0, 0, 0, 0
    try:
        while step < sched["total_steps"] and status == 0:
            perm = torch.randperm(len(x_tr), generator=order)
            for start in range(0, steps_per_epoch * bs, bs):
                step += 1
                lr = lr_at(step, sched)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                idx = perm[start:start + bs]
                loss = loss_fn(model(x_tr[idx]), y_tr[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf")))
                optimizer.step()
                loss_value = float(loss.detach())
                clock.advance(STEP_MS)

                log.info("train step=%d epoch=%d loss=%.4f grad_norm=%.4g lr=%.3e", step, epoch, loss_value, grad_norm, lr)
                val_cell = ""
                if step % cfg["eval_every"] == 0 or step == sched["total_steps"]:
                    clock.advance(EVAL_MS)
                    val_loss = evaluate(model, x_val, y_val, loss_fn)
                    log.info("eval step=%d epoch=%d val_loss=%.4f", step, epoch, val_loss)
                    val_cell = fmt_csv(val_loss)
                writer.writerow([step, epoch, fmt_csv(loss_value), fmt_csv(grad_norm), fmt_csv(lr), val_cell])

                if math.isfinite(loss_value):
                    bad_streak = 0
                else:
                    bad_streak += 1
                    log.warning("non-finite loss at step=%d: loss=%s grad_norm=%s lr=%.3e", step, loss_value, grad_norm, lr)
                    if bad_streak >= NAN_PATIENCE:
                        log.error("loss has been non-finite for %d consecutive steps (since step %d); stopping training",
                                  bad_streak, step - bad_streak + 1)
                        status = 1
                        break
                if step >= sched["total_steps"]:
                    break
            epoch += 1
        if status == 0:
            log.info("finished: %d steps", step)
    finally:
        csv_file.close()
        for handler in list(log.handlers):
            handler.close()
            log.removeHandler(handler)
    return status


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE, help="folder for train.log, metrics.csv and config.yaml")
    p.add_argument("--peak-lr", type=float, default=0.5, help="LR at the end of the warmup (default: 0.5)")
    p.add_argument("--warmup-steps", type=int, default=400)
    p.add_argument("--min-lr", type=float, default=1e-3)
    p.add_argument("--total-steps", type=int, default=800)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return train(build_config(args), args.out)


if __name__ == "__main__":
    sys.exit(main())
