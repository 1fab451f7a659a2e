"""A small character transformer trained with a learning rate of 1e-7: the loss barely moves.

A GPT-2-shaped model (2 pre-LN blocks, d=64, tied embeddings) is trained on a play-like text with
AdamW at ``learning_rate=1e-7`` (a typo'd exponent: the intended value was 1e-3), the
transformers default linear decay, gradient clipping at 1.0, for 400 steps. Adam moves each weight
by at most about the learning rate per step, so after 400 steps no weight has moved by more than
~4e-5: the training and evaluation losses stay within 0.01 of their initial value (~3.9, ln of the
50-character vocabulary), while the gradient norm stays at a healthy ~2. With ``1e-3`` the
same run reaches an evaluation loss of ~1.15 in 400 steps.

Artifacts in ``--out``, as a HuggingFace ``Trainer`` run leaves them: ``trainer_state.json``
(``trainer.save_state()`` at the end) and ``checkpoint-200/``, ``checkpoint-400/`` (each with the
``trainer_state.json`` saved with that checkpoint), written as the library does
(``json.dumps(..., indent=2, sort_keys=True)``; ``log_history`` with a training entry every
``logging_steps=10`` -- ``loss`` averaged since the last log and rounded to 4 decimals,
``grad_norm``, ``learning_rate``, ``epoch`` -- an evaluation entry every ``eval_steps=100`` and the
final ``train_runtime`` entry), plus the model's ``config.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ARGS = {"learning_rate": 1e-7, "weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.999, "max_grad_norm": 1.0,
        "max_steps": 400, "per_device_train_batch_size": 16, "per_device_eval_batch_size": 64, "logging_steps": 10,
        "eval_steps": 100, "save_steps": 200, "seed": 42, "lr_scheduler_type": "linear", "warmup_steps": 0}
MODEL_CONFIG = {"architectures": ["TinyGPT"], "model_type": "gpt2", "n_ctx": 32, "n_embd": 64, "n_head": 4,
                "n_layer": 2, "n_positions": 32, "tie_word_embeddings": True, "torch_dtype": "float32",
                "vocab_size": None}
BLOCK = 32
STEP_MS, EVAL_MS = 36.0, 120.0


def lr_after(step: int) -> float:
    """The LR the scheduler holds after ``step`` optimizer steps (linear decay to 0, no warmup)."""
    return ARGS["learning_rate"] * max(0.0, (ARGS["max_steps"] - step) / ARGS["max_steps"])


def state(log_history: list[dict[str, Any]], step: int, epoch: float, flos: float, done: bool,
          epochs_total: int) -> str:
    st = {
        "best_global_step": None, "best_metric": None, "best_model_checkpoint": None, "epoch": epoch,
        "eval_steps": ARGS["eval_steps"], "global_step": step, "is_hyper_param_search": False,
        "is_local_process_zero": True, "is_world_process_zero": True, "log_history": log_history,
        "logging_steps": ARGS["logging_steps"], "max_steps": ARGS["max_steps"], "num_input_tokens_seen": 0,
        "num_train_epochs": epochs_total, "save_steps": ARGS["save_steps"],
        "stateful_callbacks": {"TrainerControl": {"args": {
            "should_epoch_stop": False, "should_evaluate": False, "should_log": False, "should_save": True,
            "should_training_stop": done}, "attributes": {}}},
        "total_flos": flos, "train_batch_size": ARGS["per_device_train_batch_size"], "trial_name": None,
        "trial_params": None,
    }
    return json.dumps(st, indent=2, sort_keys=True) + "\n"


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
    opt = torch.optim.AdamW(model.parameters(), lr=ARGS["learning_rate"],
                            betas=(ARGS["adam_beta1"], ARGS["adam_beta2"]), weight_decay=ARGS["weight_decay"])
    gen = torch.Generator().manual_seed(ARGS["seed"])
    vgen = torch.Generator().manual_seed(7)
    bs = ARGS["per_device_train_batch_size"]
    val_batches = [zc.char_batches(val, BLOCK, ARGS["per_device_eval_batch_size"], vgen) for _ in range(4)]
    n_eval = len(val_batches) * ARGS["per_device_eval_batch_size"]
    examples_per_epoch = (len(train) - BLOCK) // BLOCK
    steps_per_epoch = examples_per_epoch // bs
    epochs_total = -(-ARGS["max_steps"] // steps_per_epoch)
    flos_per_step = 6.0 * zc.count_params(model) * bs * BLOCK
    clock = zc.SimClock(seed=7)
    history: list[dict[str, Any]] = []
    window: list[float] = []
    all_losses: list[float] = []
    for step in range(1, ARGS["max_steps"] + 1):
        for group in opt.param_groups:
            group["lr"] = lr_after(step - 1)
        x, y = zc.char_batches(train, BLOCK, bs, gen)
        loss = F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), ARGS["max_grad_norm"]))
        opt.step()
        clock.advance(clock.jitter(STEP_MS))
        window.append(float(loss.detach()))
        all_losses.append(window[-1])
        epoch = step / steps_per_epoch
        if step % ARGS["logging_steps"] == 0:
            history.append({"epoch": epoch, "grad_norm": grad_norm, "learning_rate": lr_after(step),
                            "loss": round(sum(window) / len(window), 4), "step": step})
            window = []
        if step % ARGS["eval_steps"] == 0:
            model.eval()
            with torch.no_grad():
                losses = [float(F.cross_entropy(model(vx).view(-1, len(chars)), vy.view(-1))) for vx, vy in val_batches]
            model.train()
            runtime = round(clock.jitter(EVAL_MS, 0.1) / 1000.0, 4)
            clock.advance(runtime * 1000.0)
            history.append({"epoch": epoch, "eval_loss": sum(losses) / len(losses), "eval_runtime": runtime,
                            "eval_samples_per_second": round(n_eval / runtime, 3),
                            "eval_steps_per_second": round(len(val_batches) / runtime, 3), "step": step})
        if step % ARGS["save_steps"] == 0:
            ckpt = args.out / f"checkpoint-{step}"
            ckpt.mkdir(exist_ok=True)
            done = step == ARGS["max_steps"]
            (ckpt / "trainer_state.json").write_text(
                state(history, step, epoch, flos_per_step * step, done, epochs_total), encoding="utf-8")
    runtime_s = round(clock.ms / 1000.0, 4)
    history.append({"epoch": ARGS["max_steps"] / steps_per_epoch, "step": ARGS["max_steps"],
                    "total_flos": flos_per_step * ARGS["max_steps"], "train_loss": sum(all_losses) / len(all_losses),
                    "train_runtime": runtime_s,
                    "train_samples_per_second": round(ARGS["max_steps"] * bs / runtime_s, 3),
                    "train_steps_per_second": round(ARGS["max_steps"] / runtime_s, 3)})
    (args.out / "trainer_state.json").write_text(
        state(history, ARGS["max_steps"], ARGS["max_steps"] / steps_per_epoch, flos_per_step * ARGS["max_steps"], True,
              epochs_total), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
