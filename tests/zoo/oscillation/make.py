"""Linear regression on unscaled features with SGD + momentum at the edge of stability: the loss oscillates.

A linear model learns a noisy linear target (noise variance 0.09, so a fitted model sits near
0.09) from 16 features whose scales range from 1 to 16 (nobody standardized them), with SGD,
momentum 0.9, lr 0.0065, batch 256. The largest curvature of this ill-conditioned quadratic
(about 253) puts that learning rate just inside the momentum stability limit
(2 * (1 + 0.9) / 253 = 0.015) on average, but the curvature of individual minibatches scatters
around it, so the stiff direction keeps getting kicked out and pulled back: after a normal first
descent the training loss swings, for the rest of the run, from near its floor (~0.16)
up to 10-1000 times higher and back, without settling and without diverging. ``lr`` 0.004 settles at ~0.1.

Artifacts in ``--out``: TensorBoard events in ``runs/linreg/`` with the tags of the PyTorch
tutorial style (``Loss/train`` and ``GradNorm`` every step, ``Loss/val`` every 50 steps, ``LR``),
and ``config.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import torch  # noqa: E402

CONFIG = {
    "seed": 0,
    "data": {"n_train": 8000, "n_val": 2000, "n_features": 16, "feature_scale_range": [1.0, 15.85], "noise_std": 0.3,
             "standardize": False},
    "model": "linear",
    "optimizer": {"name": "sgd", "lr": 0.0065, "momentum": 0.9},
    "batch_size": 256,
    "max_steps": 1000,
    "val_every": 50,
}
STEP_MS = 1.9


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_yaml(args.out / "config.yaml", cfg)
    zc.seed_everything(cfg["seed"])
    d = cfg["data"]
    gen0 = torch.Generator().manual_seed(3)
    n = d["n_train"] + d["n_val"]
    scales = torch.logspace(0, 1.2, d["n_features"])
    x = torch.randn(n, d["n_features"], generator=gen0) * scales
    w = torch.randn(d["n_features"], generator=gen0) / scales
    y = (x @ w + d["noise_std"] * torch.randn(n, generator=gen0)).unsqueeze(1)
    x_tr, y_tr, x_val, y_val = x[:d["n_train"]], y[:d["n_train"]], x[d["n_train"]:], y[d["n_train"]:]
    model = torch.nn.Linear(d["n_features"], 1)
    o = cfg["optimizer"]
    opt = torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=o["momentum"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    clock = zc.SimClock(seed=11)
    clock.advance(950)
    with zc.tensorboard_writer(args.out / "runs" / "linreg", clock) as tb:
        for step in range(1, cfg["max_steps"] + 1):
            idx = torch.randint(0, d["n_train"], (cfg["batch_size"],), generator=gen)
            loss = ((model(x_tr[idx]) - y_tr[idx]) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf")))
            opt.step()
            clock.advance(clock.jitter(STEP_MS))
            tb.add_scalar("Loss/train", float(loss.detach()), step, walltime=clock.unix)
            tb.add_scalar("GradNorm", grad_norm, step, walltime=clock.unix)
            if step % cfg["val_every"] == 0:
                with torch.no_grad():
                    val = float(((model(x_val) - y_val) ** 2).mean())
                tb.add_scalar("Loss/val", val, step, walltime=clock.unix)
                tb.add_scalar("LR", o["lr"], step, walltime=clock.unix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
