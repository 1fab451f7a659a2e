"""A healthy, noisy run: a character-level MLP language model trained with small-batch SGD.

The same makemore-style model as ``lr_too_high_no_warmup`` (8-character context, 24-d
embeddings, two 256-unit tanh layers), trained on the same play-like text, but with a sane
setting: SGD + momentum 0.9 at lr 0.1 with a cosine decay to 0.01, batch 32. The small batch makes
every logged loss noisy (consecutive values differ by tens of per cent), but the trend falls for
the whole run, the gradient norm stays in a band without a trend, and the validation loss follows
the training loss down. Nothing is wrong with this run.

Artifacts in ``--out``: ``metrics.jsonl`` (one JSON record every 5 optimizer steps with ``step``,
``epoch``, ``loss``, ``grad_norm``, ``lr``; one record with ``val_loss`` every 100 steps) and
``config.json``.
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
    "data": {"corpus": "synthetic_play", "n_chars": 120000, "val_fraction": 0.1, "context": 8},
    "model": {"type": "char_mlp", "n_embd": 24, "hidden": [256, 256], "activation": "tanh"},
    "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0},
    "lr_schedule": {"name": "cosine", "min_lr": 0.01},
    "warmup_steps": 0,
    "grad_clip": None,
    "batch_size": 32,
    "max_steps": 1500,
    "log_interval": 5,
    "eval_interval": 100,
}


def lr_at(step: int) -> float:
    o, s = CONFIG["optimizer"], CONFIG["lr_schedule"]
    progress = (step - 1) / (CONFIG["max_steps"] - 1)
    return s["min_lr"] + 0.5 * (o["lr"] - s["min_lr"]) * (1.0 + math.cos(math.pi * progress))


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_json(args.out / "config.json", cfg)
    zc.seed_everything(cfg["seed"])

    text = zc.char_corpus(cfg["data"]["n_chars"], seed=1)
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text])
    n_val = int(len(data) * cfg["data"]["val_fraction"])
    train, val = data[:-n_val], data[-n_val:]
    ctx = cfg["data"]["context"]

    def windows(src: torch.Tensor, ix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.stack([src[i:i + ctx] for i in ix.tolist()]), src[ix + ctx]

    vocab, m = len(chars), cfg["model"]
    model = nn.Sequential(
        nn.Embedding(vocab, m["n_embd"]), nn.Flatten(),
        nn.Linear(m["n_embd"] * ctx, m["hidden"][0]), nn.Tanh(),
        nn.Linear(m["hidden"][0], m["hidden"][1]), nn.Tanh(),
        nn.Linear(m["hidden"][1], vocab),
    )
    o = cfg["optimizer"]
    opt = torch.optim.SGD(model.parameters(), lr=lr_at(1), momentum=o["momentum"], weight_decay=o["weight_decay"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    val_x, val_y = windows(val, torch.arange(0, len(val) - ctx - 1, 3))
    steps_per_epoch = (len(train) - ctx) // cfg["batch_size"]

    with (args.out / "metrics.jsonl").open("w", encoding="utf-8") as f:
        for step in range(1, cfg["max_steps"] + 1):
            lr = lr_at(step)
            for group in opt.param_groups:
                group["lr"] = lr
            x, y = windows(train, torch.randint(len(train) - ctx - 1, (cfg["batch_size"],), generator=gen))
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf")))
            opt.step()
            if step % cfg["log_interval"] == 0:
                zc.write_jsonl_record(f, {
                    "step": step, "epoch": round(step / steps_per_epoch, 4),
                    "loss": round(float(loss.detach()), 4), "grad_norm": round(grad_norm, 4), "lr": round(lr, 6),
                })
            if step % cfg["eval_interval"] == 0:
                with torch.no_grad():
                    val_loss = float(F.cross_entropy(model(val_x), val_y))
                zc.write_jsonl_record(f, {"step": step, "epoch": round(step / steps_per_epoch, 4),
                                          "val_loss": round(val_loss, 4)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
