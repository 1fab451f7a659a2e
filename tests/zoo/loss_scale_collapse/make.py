"""fp16 mixed precision on a regression with targets in dollars: the loss scale collapses.

A tabular MLP (8-64-64-1, ReLU) learns to predict a price in dollars (log-normal, median $20,000;
about 2.6% of the targets are above 65,504, the largest float16 value) from 8 standardized
features. It runs under ``torch.autocast("cpu", dtype=torch.float16)`` with the real
``torch.amp.GradScaler("cpu")`` at its defaults (init scale 65536, growth interval 2000) and Adam
(lr 0.01). The target was never standardized, so the gradients of the linear layers are far larger
than float16 can hold: the scaler halves the scale at almost every step, a few steps get through
and the model does learn (the loss falls about eightfold), but as its predictions approach the
targets the outputs for the most expensive examples overflow float16 in the forward pass, the loss is ``inf``
on every batch, every step is skipped and the scale halves at every step until it is below the
script's ``min_loss_scale`` (1e-4), where the script stops. The scale never grows back. The same
script in float32 or bfloat16 trains without trouble (RMSE ~26k -> ~5.4k in 1500 steps).

This is PyTorch AMP, so nothing is printed by the scaler itself: the script logs what users of
``GradScaler`` usually log (the scale from ``scaler.get_scale()`` after ``scaler.update()``, and a
WARNING when the scale went down, i.e. the step was skipped), and stops with an ERROR line like
fairseq's "Minimum loss scale reached" guard.

Artifacts in ``--out``: ``train.log`` (``logging`` lines ``step=N loss=X grad_norm=Y loss_scale=Z
lr=W`` every step) and ``config.yaml``.
"""

from __future__ import annotations

import math
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
    "data": {"task": "price_regression", "n_train": 20000, "n_features": 8, "target": "price_usd",
             "target_median": 20000, "standardize_features": True, "standardize_target": False},
    "model": {"type": "mlp", "sizes": [8, 64, 64, 1], "activation": "relu"},
    "optimizer": {"name": "adam", "lr": 0.01},
    "precision": "fp16-mixed",
    "grad_scaler": {"init_scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000},
    "min_loss_scale": 0.0001,
    "batch_size": 256,
    "max_steps": 1500,
}
STEP_MS = 4.6


def make_data(n: int, d: int, median: float) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    z = torch.randn(n, d, generator=gen)
    f = z @ torch.randn(d, generator=gen) / math.sqrt(d) + 0.5 * torch.tanh(z[:, 0] * z[:, 1])
    f = (f - f.mean()) / f.std()
    return z, (median * torch.exp(0.6 * f)).unsqueeze(1)


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_yaml(args.out / "config.yaml", cfg)
    clock = zc.SimClock(seed=10)
    log = zc.file_logger("train", args.out / "train.log", clock,
                         fmt="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    zc.seed_everything(cfg["seed"])
    d = cfg["data"]
    x, y = make_data(d["n_train"], d["n_features"], d["target_median"])
    model = zc.mlp(cfg["model"]["sizes"], nn.ReLU)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["optimizer"]["lr"])
    gs = cfg["grad_scaler"]
    scaler = torch.amp.GradScaler("cpu", init_scale=gs["init_scale"], growth_factor=gs["growth_factor"],
                                  backoff_factor=gs["backoff_factor"], growth_interval=gs["growth_interval"])
    gen = torch.Generator().manual_seed(cfg["seed"])

    log.info("%s", zc.env_line())
    log.info("data: %d examples, %d features, target=%s (median %.0f, max %.0f)", d["n_train"], d["n_features"],
             d["target"], float(y.median()), float(y.max()))
    log.info("model: mlp %s, %d parameters", "-".join(map(str, cfg["model"]["sizes"])), zc.count_params(model))
    log.info("precision=%s, GradScaler(init_scale=%s, growth_interval=%d), optimizer=adam lr=%s",
             cfg["precision"], gs["init_scale"], gs["growth_interval"], cfg["optimizer"]["lr"])
    clock.advance(1630)
    for step in range(1, cfg["max_steps"] + 1):
        idx = torch.randint(0, d["n_train"], (cfg["batch_size"],), generator=gen)
        with torch.autocast("cpu", dtype=torch.float16):
            pred = model(x[idx])
            loss = F.mse_loss(pred, y[idx])
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf")))
        before = scaler.get_scale()
        scaler.step(opt)
        scaler.update()
        scale = scaler.get_scale()
        clock.advance(clock.jitter(STEP_MS))
        log.info("step=%d loss=%.4g grad_norm=%.4g loss_scale=%.6g lr=%.1e", step, float(loss.detach()), grad_norm,
                 scale, cfg["optimizer"]["lr"])
        if scale < before:
            log.warning("step=%d: gradient overflow (inf/nan in gradients), optimizer step skipped, "
                        "loss scale reduced from %.6g to %.6g", step, before, scale)
        if scale < cfg["min_loss_scale"]:
            log.error("loss scale %.6g fell below min_loss_scale=%s at step %d: gradients overflow float16 at any "
                      "scale, giving up", scale, cfg["min_loss_scale"], step)
            break
    zc.close_logger(log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
