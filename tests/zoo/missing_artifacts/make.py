"""A run folder that holds only a config and the start-up lines of a log: there is nothing to diagnose yet.

The training script set everything up (seeded, built a 6-layer transformer classifier, counted
its parameters, built the optimizer and the data loaders) and logged that, then was stopped
before the first training log line (the job was preempted while the first epoch was running).
No step, no loss, no metric file, no traceback. The only honest diagnosis is "not enough data":
a tool should ask for the training log or metrics, not report a symptom or a healthy run.

Artifacts in ``--out``: ``train.log`` (the ``logging`` start-up lines) and ``config.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
from torch import nn  # noqa: E402

CONFIG = {
    "seed": 17,
    "data": {"dataset": "data/reviews", "max_length": 256, "num_labels": 5, "n_train": 25000, "n_val": 5000},
    "model": {"type": "transformer_classifier", "vocab_size": 8000, "d_model": 128, "n_layers": 6, "n_heads": 4,
              "dropout": 0.1},
    "optimizer": {"name": "adamw", "lr": 0.0003, "weight_decay": 0.01, "betas": [0.9, 0.999]},
    "scheduler": {"name": "linear_warmup", "warmup_steps": 500},
    "batch_size": 32,
    "epochs": 20,
    "log_every": 50,
    "eval_every": 500,
    "num_workers": 4,
}


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_yaml(args.out / "config.yaml", cfg)
    clock = zc.SimClock(seed=15)
    log = zc.file_logger("__main__", args.out / "train.log", clock,
                         fmt="%(asctime)s - %(levelname)s - %(name)s - %(message)s")
    zc.seed_everything(cfg["seed"])
    m = cfg["model"]
    layer = nn.TransformerEncoderLayer(m["d_model"], m["n_heads"], dim_feedforward=4 * m["d_model"],
                                       dropout=m["dropout"], batch_first=True)
    model = nn.ModuleDict({"embed": nn.Embedding(m["vocab_size"], m["d_model"]),
                           "encoder": nn.TransformerEncoder(layer, m["n_layers"], enable_nested_tensor=False),
                           "head": nn.Linear(m["d_model"], cfg["data"]["num_labels"])})
    d = cfg["data"]
    steps_per_epoch = d["n_train"] // cfg["batch_size"]
    log.info("%s, seed=%d", zc.env_line(), cfg["seed"])
    log.info("Loading dataset from %s (max_length=%d)", d["dataset"], d["max_length"])
    clock.advance(8421)
    log.info("Dataset loaded: %d train / %d validation examples, %d labels", d["n_train"], d["n_val"], d["num_labels"])
    log.info("Model: %s with %d layers, d_model=%d, %d parameters", m["type"], m["n_layers"], m["d_model"],
             zc.count_params(model))
    clock.advance(1207)
    log.info("Optimizer: AdamW(lr=%s, weight_decay=%s), scheduler: linear warmup over %d steps",
             cfg["optimizer"]["lr"], cfg["optimizer"]["weight_decay"], cfg["scheduler"]["warmup_steps"])
    log.info("DataLoader: batch_size=%d, num_workers=%d, %d steps per epoch", cfg["batch_size"], cfg["num_workers"],
             steps_per_epoch)
    clock.advance(311)
    log.info("***** Running training *****")
    log.info("  Num epochs = %d, total optimization steps = %d", cfg["epochs"], cfg["epochs"] * steps_per_epoch)
    clock.advance(95)
    log.info("Epoch 1/%d", cfg["epochs"])
    zc.close_logger(log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
