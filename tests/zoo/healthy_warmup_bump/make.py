"""A healthy llm.c-style character GPT run with a visible loss bump during the warmup that it recovers from.

A small GPT (2 layers, d=64, tied embeddings) learns a play-like text with AdamW (betas 0.9/0.95,
weight decay 0.1, no gradient clipping), with llm.c's schedule: linear warmup over 200 steps to
a peak LR of 0.13, then cosine decay to 10% of the peak at step 600. The peak is on the high
side: as the LR approaches it, the loss stops falling and rises for a few tens of steps (its
20-step mean about +12% between steps ~170 and ~210), then the model settles and the loss falls
again, well below the level of the bump, and keeps falling to the end as the LR decays. Nothing is
wrong with this run; it is the twin of ``lr_too_high_warmup`` (same model family, a peak that the
run survives).

Artifacts in ``--out``, as llm.c's ``train_gpt2`` leaves them: ``train.log`` (its stdout:
``step    N/600 | loss X (+Zz)| norm G (+Zz)| lr L | T ms | K tok/s`` per step, steps printed
1-based, the z-scores from a 128-step outlier window, ``+nanz`` until it is full, and ``val loss
X`` every 100 steps), ``main.log`` (``s:N trl:X lr:Y norm:Z`` per step, ``s:N tel:X`` per
evaluation, steps 0-based) and ``config.json``.
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

CONFIG = {
    "seed": 0, "input_bin": "data/play_char_train.bin", "input_val_bin": "data/play_char_val.bin",
    "batch_size": 16, "sequence_length": 32, "n_layer": 2, "n_head": 4, "n_embd": 64,
    "learning_rate": 0.13, "warmup_iterations": 200, "final_learning_rate_frac": 0.1, "weight_decay": 0.1,
    "adam_betas": [0.9, 0.95], "grad_clip": None, "num_iterations": 600, "val_loss_every": 100, "val_max_steps": 8,
}
WINDOW = 128
STEP_MS = 31.0


class OutlierDetector:
    """z-score of each new value against the previous 128 (NaN until the window is full)."""

    def __init__(self) -> None:
        self.buf: list[float] = []
        self.i = 0

    def update(self, v: float) -> float:
        if len(self.buf) < WINDOW:
            self.buf.append(v)
            return float("nan")
        self.buf[self.i] = v
        self.i = (self.i + 1) % WINDOW
        mean = sum(self.buf) / WINDOW
        var = sum(b * b for b in self.buf) / WINDOW - mean * mean
        return 0.0 if var <= 0 else (v - mean) / math.sqrt(var)


def lr_at(step: int) -> float:
    c = CONFIG
    peak, warm, total = c["learning_rate"], c["warmup_iterations"], c["num_iterations"]
    floor = peak * c["final_learning_rate_frac"]
    if step < warm:
        return peak * (step + 1) / warm
    ratio = (step - warm) / (total - warm)
    return floor + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (peak - floor)


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_json(args.out / "config.json", cfg)
    zc.seed_everything(cfg["seed"])
    text = zc.char_corpus(80000, seed=1)
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text])
    n_val = len(data) // 10
    train, val = data[:-n_val], data[-n_val:]
    model = zc.TinyGPT(len(chars), cfg["sequence_length"], d=cfg["n_embd"], layers=cfg["n_layer"], heads=cfg["n_head"])
    opt = torch.optim.AdamW(model.parameters(), lr=lr_at(0), betas=tuple(cfg["adam_betas"]),
                            weight_decay=cfg["weight_decay"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    clock = zc.SimClock(seed=17)
    out = zc.TextLog(args.out / "train.log")
    main_log = zc.TextLog(args.out / "main.log")
    bs, seq = cfg["batch_size"], cfg["sequence_length"]
    total = cfg["num_iterations"]
    out.print("+-----------------------+----------------------------------------------------+")
    out.print("| Parameter             | Value                                              |")
    out.print("+-----------------------+----------------------------------------------------+")
    rows = [("train data pattern", cfg["input_bin"]), ("val data pattern", cfg["input_val_bin"]),
            ("batch size B", cfg["batch_size"]), ("sequence length T", cfg["sequence_length"]),
            ("learning rate (LR)", f"{cfg['learning_rate']:e}"), ("warmup iterations", cfg["warmup_iterations"]),
            ("final LR fraction", f"{cfg['final_learning_rate_frac']:e}"), ("weight decay", f"{cfg['weight_decay']:e}"),
            ("max_steps", cfg["num_iterations"]), ("val_loss_every", cfg["val_loss_every"]),
            ("num_parameters", zc.count_params(model))]
    for key, value in rows:
        out.print(f"| {key:<21} | {value!s:<50} |")
    out.print("+-----------------------+----------------------------------------------------+")
    loss_det, norm_det = OutlierDetector(), OutlierDetector()
    ema_tps = 0.0
    for step in range(total + 1):
        if step % cfg["val_loss_every"] == 0 or step == total:
            model.eval()
            vgen = torch.Generator().manual_seed(1234)
            with torch.no_grad():
                losses = []
                for _ in range(cfg["val_max_steps"]):
                    vx, vy = zc.char_batches(val, seq, bs, vgen)
                    losses.append(float(F.cross_entropy(model(vx).view(-1, len(chars)), vy.view(-1))))
            model.train()
            val_loss = sum(losses) / len(losses)
            out.print(f"val loss {val_loss:f}")
            main_log.print(f"s:{step} tel:{val_loss:.4f}")
        if step == total:
            break
        lr = lr_at(step)
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = zc.char_batches(train, seq, bs, gen)
        loss = F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf")))
        opt.step()
        ms = clock.jitter(STEP_MS, 0.06)
        clock.advance(ms)
        tps = bs * seq / (ms / 1000.0)
        ema_tps = tps if step == 0 else 0.95 * ema_tps + 0.05 * tps
        lv = float(loss.detach())
        zl, zn = loss_det.update(lv), norm_det.update(norm)
        out.print(f"step {step + 1:4d}/{total} | loss {lv:7.6f} ({zl:+.2f}z)| norm {norm:6.4f} ({zn:+.2f}z)| "
                  f"lr {lr:.2e} | {ms:.2f} ms | {ema_tps:.0f} tok/s")
        main_log.print(f"s:{step} trl:{lv:.4f} lr:{lr:.6f} norm:{norm:.2f}")
    out.print(f"total average iteration time: {clock.ms / total:.6f} ms")
    out.close()
    main_log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
