"""A small character transformer whose linear warmup climbs to a peak learning rate that is too high.

A GPT-2-shaped model (2 pre-LN blocks, d=64, 4 heads, tied embeddings) learns a play-like text with
AdamW. The schedule is the usual one: linear warmup from 0 to ``peak_lr`` over 200 steps, then
cosine decay to 0 at step 600. With ``peak_lr = 0.3`` the loss falls while the LR is small, turns
around once the LR passes about 0.1 (step ~70), and climbs to the level of a model that ignores
its context; it does not come back even when the cosine decay brings the LR down again. The same
run with ``peak_lr = 0.03`` keeps improving to the end.

Artifacts in ``--out``, as a HuggingFace ``Trainer`` run leaves them: TensorBoard events under
``runs/Jan01_00-00-00_zoo-host/`` with the Trainer's tags (``train/loss`` averaged over the
``logging_steps=10`` steps since the last log, ``train/grad_norm``, ``train/learning_rate``,
``train/epoch``; ``eval/loss``, ``eval/runtime``, ``eval/samples_per_second`` every 50 steps; the
``args`` as a text summary) and the model's ``config.json``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MODEL_CONFIG = {"architectures": ["TinyGPT"], "model_type": "gpt2", "n_ctx": 32, "n_embd": 64, "n_head": 4,
                "n_layer": 2, "n_positions": 32, "tie_word_embeddings": True, "vocab_size": None}
ARGS = {
    "output_dir": "run", "seed": 0, "per_device_train_batch_size": 16, "per_device_eval_batch_size": 64,
    "learning_rate": 0.3, "weight_decay": 0.01, "adam_beta1": 0.9, "adam_beta2": 0.95, "adam_epsilon": 1e-8,
    "max_grad_norm": None, "max_steps": 600, "lr_scheduler_type": "cosine", "warmup_steps": 200,
    "logging_steps": 10, "eval_strategy": "steps", "eval_steps": 50, "report_to": ["tensorboard"],
}
BLOCK = 32
STEP_MS, EVAL_MS = 38.0, 95.0


def lr_at(step: int) -> float:
    """LR used by optimizer step ``step`` (0-based), as transformers' cosine-with-warmup computes it."""
    warm, total, peak = ARGS["warmup_steps"], ARGS["max_steps"], ARGS["learning_rate"]
    if step < warm:
        return peak * step / warm
    progress = (step - warm) / (total - warm)
    return peak * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    zc.seed_everything(ARGS["seed"])
    text = zc.char_corpus(80000, seed=1)
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text])
    n_val = len(data) // 10
    train, val = data[:-n_val], data[-n_val:]
    cfg = dict(MODEL_CONFIG, vocab_size=len(chars))
    zc.write_json(args.out / "config.json", cfg, sort_keys=True)

    model = zc.TinyGPT(len(chars), BLOCK, d=cfg["n_embd"], layers=cfg["n_layer"], heads=cfg["n_head"])
    opt = torch.optim.AdamW(model.parameters(), lr=lr_at(0), betas=(ARGS["adam_beta1"], ARGS["adam_beta2"]),
                            eps=ARGS["adam_epsilon"], weight_decay=ARGS["weight_decay"])
    gen = torch.Generator().manual_seed(ARGS["seed"])
    vgen = torch.Generator().manual_seed(1)
    val_batches = [zc.char_batches(val, BLOCK, ARGS["per_device_eval_batch_size"], vgen) for _ in range(4)]
    bs = ARGS["per_device_train_batch_size"]
    examples_per_epoch = (len(train) - BLOCK) // BLOCK
    n_eval = len(val_batches) * ARGS["per_device_eval_batch_size"]

    clock = zc.SimClock(seed=2)
    clock.advance(4210)
    tb_dir = args.out / "runs" / f"{clock.strftime('%b%d_%H-%M-%S')}_{zc.TB_HOST}"
    with zc.tensorboard_writer(tb_dir, clock) as tb:
        tb.add_text("args", json.dumps(ARGS, indent=2), 0, walltime=clock.unix)
        tb.add_text("model_config", json.dumps(cfg, indent=2), 0, walltime=clock.unix)
        window: list[float] = []
        all_losses: list[float] = []
        for step in range(ARGS["max_steps"]):
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            x, y = zc.char_batches(train, BLOCK, bs, gen)
            loss = F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=float("inf")))
            opt.step()
            clock.advance(clock.jitter(STEP_MS))
            window.append(float(loss.detach()))
            all_losses.append(window[-1])
            global_step = step + 1
            epoch = global_step * bs / examples_per_epoch
            if global_step % ARGS["logging_steps"] == 0:
                t = clock.unix
                tb.add_scalar("train/loss", round(sum(window) / len(window), 4), global_step, walltime=t)
                tb.add_scalar("train/grad_norm", grad_norm, global_step, walltime=t)
                tb.add_scalar("train/learning_rate", lr_at(global_step), global_step, walltime=t)
                tb.add_scalar("train/epoch", epoch, global_step, walltime=t)
                window = []
            if global_step % ARGS["eval_steps"] == 0:
                model.eval()
                with torch.no_grad():
                    losses = [float(F.cross_entropy(model(vx).view(-1, len(chars)), vy.view(-1)))
                              for vx, vy in val_batches]
                model.train()
                runtime = clock.jitter(EVAL_MS, 0.1) / 1000.0
                clock.advance(runtime * 1000.0)
                t = clock.unix
                tb.add_scalar("eval/loss", sum(losses) / len(losses), global_step, walltime=t)
                tb.add_scalar("eval/runtime", round(runtime, 4), global_step, walltime=t)
                tb.add_scalar("eval/samples_per_second", round(n_eval / runtime, 3), global_step, walltime=t)
                tb.add_scalar("train/epoch", epoch, global_step, walltime=t)
        runtime_s = clock.ms / 1000.0
        t = clock.unix
        tb.add_scalar("train/train_runtime", round(runtime_s, 4), ARGS["max_steps"], walltime=t)
        steps = ARGS["max_steps"]
        tb.add_scalar("train/train_samples_per_second", round(steps * bs / runtime_s, 3), steps, walltime=t)
        tb.add_scalar("train/train_steps_per_second", round(steps / runtime_s, 3), steps, walltime=t)
        flos = 6.0 * zc.count_params(model) * ARGS["max_steps"] * bs * BLOCK
        tb.add_scalar("train/total_flos", flos, ARGS["max_steps"], walltime=t)
        tb.add_scalar("train/train_loss", sum(all_losses) / len(all_losses), ARGS["max_steps"], walltime=t)
    return 0


if __name__ == "__main__":
    sys.exit(main())
