"""A ReLU RNN whose curriculum lengthens its sequences at epoch 7: the gradient norm spikes and the loss diverges.

The task is a memory task: at every time step of a sequence of Gaussian noise, predict the running
sum of the inputs so far, scaled to unit variance. A one-layer ``nn.RNN(nonlinearity="relu")``
with 32 hidden units is trained with SGD (lr 0.01, momentum 0.9) and no gradient clipping, on a
two-stage curriculum: 20-step sequences for epochs 1-6, then 100-step sequences from epoch 7 on
(50 steps of batch 32 per epoch, 12 epochs, steps numbered from 1). On the short sequences the
recurrent matrix grows to a spectral radius of about 1.45 without harm (the training loss is
0.03-0.06 in epoch 6), as 20 steps cannot amplify much; on the 100-step sequences of epoch 7 the
backward pass runs through five times as many multiplications by that matrix: the gradient norm
goes 4.2, 9.5, 40.8, 140 over steps 301-304 (about 2 before), the loss reaches 2.94 at step 304,
the updates wreck the recurrent weights (spectral radius about 8.6 after epoch 7) and the loss
stays near 1.0, the loss of predicting zero, for the remaining epochs. The same script with
``clip_grad_norm_(params, 1.0)`` goes through the switch (loss 0.2-0.7 during epoch 7, 0.10 at the
start of epoch 12): exploding gradients, not the task, end the run.

Artifacts in ``--out``: ``train.log`` (``logging`` lines ``epoch=E step=N seq_len=L loss=X
grad_norm=Y lr=Z`` every step, an ``epoch=E step=N val_loss=V`` line at the end of every epoch,
the curriculum switch announced as an INFO line) and ``config.yaml``.
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
    "task": {"name": "running_sum", "n_val": 256},
    "curriculum": [{"from_epoch": 1, "seq_len": 20}, {"from_epoch": 7, "seq_len": 100}],
    "model": {"type": "rnn", "nonlinearity": "relu", "input_size": 1, "hidden_size": 32, "num_layers": 1},
    "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9},
    "grad_clip": None,
    "batch_size": 32,
    "epochs": 12,
    "steps_per_epoch": 50,
}
STEP_MS = 6.4


def seq_len_at(epoch: int) -> int:
    return [c["seq_len"] for c in CONFIG["curriculum"] if c["from_epoch"] <= epoch][-1]


def make_batch(n: int, seq_len: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, seq_len, generator=gen)
    y = torch.cumsum(x, 1) / torch.sqrt(torch.arange(1, seq_len + 1, dtype=torch.float32))
    return x.unsqueeze(-1), y


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_yaml(args.out / "config.yaml", cfg)
    clock = zc.SimClock(seed=7)
    log = zc.file_logger("curriculum_rnn", args.out / "train.log", clock)
    zc.seed_everything(cfg["seed"])
    m, o = cfg["model"], cfg["optimizer"]
    rnn = nn.RNN(m["input_size"], m["hidden_size"], num_layers=m["num_layers"], nonlinearity=m["nonlinearity"], batch_first=True)
    head = nn.Linear(m["hidden_size"], 1)
    params = [*rnn.parameters(), *head.parameters()]
    opt = torch.optim.SGD(params, lr=o["lr"], momentum=o["momentum"])
    gen = torch.Generator().manual_seed(cfg["seed"])

    log.info("%s", zc.env_line())
    log.info("model=RNN(nonlinearity=%s, hidden_size=%d) params=%d", m["nonlinearity"], m["hidden_size"], sum(p.numel() for p in params))
    log.info("optimizer=SGD lr=%s momentum=%s grad_clip=%s batch_size=%d", o["lr"], o["momentum"], cfg["grad_clip"], cfg["batch_size"])
    clock.advance(980)
    step = 0
    for epoch in range(1, cfg["epochs"] + 1):
        seq_len = seq_len_at(epoch)
        if epoch > 1 and seq_len != seq_len_at(epoch - 1):
            log.info("curriculum: epoch %d switches to seq_len=%d", epoch, seq_len)
        for _ in range(cfg["steps_per_epoch"]):
            step += 1
            x, y = make_batch(cfg["batch_size"], seq_len, gen)
            out, _ = rnn(x)
            loss = ((head(out).squeeze(-1) - y) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm=float("inf")))
            opt.step()
            clock.advance(clock.jitter(STEP_MS * seq_len / 20))
            log.info("epoch=%d step=%d seq_len=%d loss=%.6f grad_norm=%.4f lr=%.2e", epoch, step, seq_len, float(loss.detach()), grad_norm, o["lr"])
        with torch.no_grad():
            vx, vy = make_batch(cfg["task"]["n_val"], seq_len, torch.Generator().manual_seed(1000 + seq_len))
            out, _ = rnn(vx)
            val_loss = float(((head(out).squeeze(-1) - vy) ** 2).mean())
        clock.advance(clock.jitter(35.0))
        if not math.isfinite(val_loss):
            log.error("epoch=%d val_loss=%s, stopping", epoch, val_loss)
            break
        log.info("epoch=%d step=%d val_loss=%.6f", epoch, step, val_loss)
    log.info("training finished after %d steps", step)
    zc.close_logger(log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
