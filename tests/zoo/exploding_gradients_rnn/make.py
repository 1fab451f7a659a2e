"""A vanilla ReLU RNN on long sequences, trained with SGD + momentum and no gradient clipping.

The task needs a long memory: at every time step of a 200-step sequence of Gaussian noise, predict
an exponential moving average of the inputs so far (decay 0.95, rescaled to unit variance). A
one-layer ``nn.RNN(nonlinearity="relu")`` with 32 hidden units learns it with SGD (lr 0.01,
momentum 0.9: an ordinary setting) and the loss falls. To keep a long memory the recurrent weight
matrix grows towards spectral radius 1; once it passes it, the gradient through 200 time steps
blows up: the gradient norm, normally below ~2, jumps by three to four orders of magnitude, the
loss spikes, the model never gets back to where it was, further spikes follow, and the loss ends
in NaN. There is no ``clip_grad_norm_`` in the loop (the norm is measured with ``max_norm=inf``).

Artifacts in ``--out``: ``train.log`` (``logging`` lines ``step=N loss=X grad_norm=Y lr=Z`` every
step, ``val_loss`` every 50 steps, an ERROR line when the loss is non-finite) and ``config.yaml``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

CONFIG = {
    "seed": 0,
    "task": {"name": "ema_tracking", "seq_len": 200, "decay": 0.95, "n_val": 256},
    "model": {"type": "rnn", "nonlinearity": "relu", "input_size": 1, "hidden_size": 32, "num_layers": 1},
    "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
    "grad_clip": None,
    "batch_size": 64,
    "max_steps": 900,
    "eval_every": 50,
}
STEP_MS = 7.8


def make_batch(n: int, seq_len: int, decay: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, seq_len, generator=gen)
    y = torch.zeros(n, seq_len)
    acc = torch.zeros(n)
    for t in range(seq_len):
        acc = decay * acc + x[:, t]
        y[:, t] = acc
    return x.unsqueeze(-1), y * math.sqrt(1.0 - decay ** 2)


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_yaml(args.out / "config.yaml", cfg)
    clock = zc.SimClock(seed=3)
    log = zc.file_logger("rnn_trainer", args.out / "train.log", clock,
                         fmt="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
    zc.seed_everything(cfg["seed"])
    task, m, o = cfg["task"], cfg["model"], cfg["optimizer"]
    rnn = nn.RNN(m["input_size"], m["hidden_size"], num_layers=m["num_layers"], nonlinearity=m["nonlinearity"],
                 batch_first=True)
    head = nn.Linear(m["hidden_size"], 1)
    params = [*rnn.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    val_x, val_y = make_batch(task["n_val"], task["seq_len"], task["decay"], torch.Generator().manual_seed(12345))

    log.info("%s", zc.env_line())
    log.info("task=%s seq_len=%d decay=%s batch_size=%d", task["name"], task["seq_len"], task["decay"],
             cfg["batch_size"])
    log.info("model=RNN(nonlinearity=%s, hidden_size=%d) params=%d", m["nonlinearity"], m["hidden_size"],
             sum(p.numel() for p in params))
    log.info("optimizer=SGD lr=%s momentum=%s grad_clip=%s", o["lr"], o["momentum"], cfg["grad_clip"])
    clock.advance(1240)
    for step in range(1, cfg["max_steps"] + 1):
        x, y = make_batch(cfg["batch_size"], task["seq_len"], task["decay"], gen)
        out, _ = rnn(x)
        loss = ((head(out).squeeze(-1) - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm=float("inf")))
        opt.step()
        clock.advance(clock.jitter(STEP_MS))
        loss_value = float(loss.detach())
        log.info("step=%d loss=%.6f grad_norm=%.4f lr=%.2e", step, loss_value, grad_norm, o["lr"])
        if not math.isfinite(loss_value):
            log.error("loss is %s at step %d, stopping training", loss_value, step)
            break
        if step % cfg["eval_every"] == 0:
            with torch.no_grad():
                out, _ = rnn(val_x)
                val_loss = float(((head(out).squeeze(-1) - val_y) ** 2).mean())
            clock.advance(clock.jitter(21.0))
            log.info("step=%d val_loss=%.6f", step, val_loss)
    else:
        log.info("training finished after %d steps", cfg["max_steps"])
    zc.close_logger(log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
