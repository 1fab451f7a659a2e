"""Character-level MLP language model trained with SGD at a constant learning rate that is too high.

A makemore-style model (8-character context, 24-d embeddings, two 256-unit tanh layers) learns a
play-like text with SGD + momentum 0.9 at a constant ``lr = 0.55`` from the first step: no warmup,
no decay, no clipping. The loss falls for about the first 100 steps (from 2.97 to ~1.24), while the
weights are small, and then climbs for good: the momentum-amplified steps overshoot, the gradient
norm grows with the loss, and the validation loss ends far above its best. The same script with
``lr = 0.2`` trains smoothly (validation loss ~0.35).

Artifacts in ``--out``: ``metrics.jsonl`` (one JSON record every 5 optimizer steps with ``step``,
``epoch``, ``loss``, ``grad_norm``, ``lr``; one record with ``val_loss`` every 100 steps) and
``config.json``.
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
    "data": {"corpus": "synthetic_play", "n_chars": 120000, "val_fraction": 0.1, "context": 8},
    "model": {"type": "char_mlp", "n_embd": 24, "hidden": [256, 256], "activation": "tanh"},
    "optimizer": {"name": "sgd", "lr": 0.55, "momentum": 0.9, "weight_decay": 0.0},
    "lr_schedule": "constant",
    "warmup_steps": 0,
    "grad_clip": None,
    "batch_size": 128,
    "max_steps": 1000,
    "log_interval": 5,
    "eval_interval": 100,
}


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
    opt = torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"])
    gen = torch.Generator().manual_seed(cfg["seed"])
    val_x, val_y = windows(val, torch.arange(0, len(val) - ctx - 1, 3))
    steps_per_epoch = (len(train) - ctx) // cfg["batch_size"]

    with (args.out / "metrics.jsonl").open("w", encoding="utf-8") as f:
        for step in range(1, cfg["max_steps"] + 1):
            x, y = windows(train, torch.randint(len(train) - ctx - 1, (cfg["batch_size"],), generator=gen))
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf")))
            opt.step()
            if step % cfg["log_interval"] == 0:
                zc.write_jsonl_record(f, {
                    "step": step, "epoch": round(step / steps_per_epoch, 4),
                    "loss": round(float(loss.detach()), 4), "grad_norm": round(grad_norm, 4), "lr": o["lr"],
                })
            if step % cfg["eval_interval"] == 0:
                with torch.no_grad():
                    val_loss = float(F.cross_entropy(model(val_x), val_y))
                zc.write_jsonl_record(f, {"step": step, "epoch": round(step / steps_per_epoch, 4),
                                          "val_loss": round(val_loss, 4)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
