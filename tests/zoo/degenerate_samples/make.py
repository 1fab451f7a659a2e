"""A nanoGPT-style character model whose batches are not shifted: the loss looks great, the samples are "::::".

A small GPT (2 layers, d=64, tied embeddings) is trained nanoGPT-style on a play-like text. The
script's ``get_batch`` has the classic off-by-one bug: the targets are the same characters as the
inputs (``y = data[i:i+block_size]`` instead of ``data[i+1:i+1+block_size]``), so the model only
has to copy its current input character, which a transformer with tied embeddings learns almost
at once. The training and validation losses both fall to near zero within a couple of hundred
iterations (the validation batches have the same bug), which looks excellent, but generation
repeats the last character of the prompt forever: every sample from ``"KING:"`` after the first
evaluation reads ``KING::::::::...``. With the shift fixed the same script reaches a loss of ~0.8
and writes play-like lines.

Artifacts in ``--out``: ``train.log`` (what nanoGPT's ``train.py`` prints: the start-up lines,
``iter N: loss X, time Yms, mfu Z%`` every 10 iterations, ``step N: train loss X, val loss Y``
every 100), ``samples.txt`` (at every evaluation, one sample per prompt, 120 new characters with
``temperature=0.8, top_k=200``, each preceded by ``step N:`` and followed by nanoGPT's
``---------------`` separator) and ``config.json``.
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
    "out_dir": "out-play-char", "eval_interval": 100, "log_interval": 10, "eval_iters": 20,
    "always_save_checkpoint": True,
    "dataset": "play_char", "gradient_accumulation_steps": 1, "batch_size": 16, "block_size": 32,
    "n_layer": 2, "n_head": 4, "n_embd": 64, "dropout": 0.0, "bias": True,
    "learning_rate": 0.001, "max_iters": 500, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99, "grad_clip": 1.0,
    "decay_lr": True, "warmup_iters": 50, "lr_decay_iters": 500, "min_lr": 0.0001, "device": "cpu", "dtype": "float32",
    "compile": False, "seed": 1337,
    "sample": {"prompts": ["KING:", "QUEEN:"], "max_new_tokens": 120, "temperature": 0.8, "top_k": 200},
}
ITER_MS = 34.0
EVAL_MS = 180.0


def get_lr(it: int) -> float:
    c = CONFIG
    if it < c["warmup_iters"]:
        return c["learning_rate"] * (it + 1) / (c["warmup_iters"] + 1)
    if it > c["lr_decay_iters"]:
        return c["min_lr"]
    ratio = (it - c["warmup_iters"]) / (c["lr_decay_iters"] - c["warmup_iters"])
    return c["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (c["learning_rate"] - c["min_lr"])


def get_batch(data: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    bs, block = CONFIG["batch_size"], CONFIG["block_size"]
    ix = torch.randint(len(data) - block, (bs,), generator=gen)
    x = torch.stack([data[i:i + block] for i in ix.tolist()])
    y = torch.stack([data[i:i + block] for i in ix.tolist()])  # the bug: should be data[i+1:i+1+block]
    return x, y


@torch.no_grad()
def generate(model: zc.TinyGPT, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    s = CONFIG["sample"]
    for _ in range(s["max_new_tokens"]):
        logits = model(idx[:, -CONFIG["block_size"]:])[:, -1, :] / s["temperature"]
        v, _ = torch.topk(logits, min(s["top_k"], logits.size(-1)))
        logits[logits < v[:, [-1]]] = -float("inf")
        idx = torch.cat([idx, torch.multinomial(F.softmax(logits, dim=-1), 1, generator=gen)], dim=1)
    return idx


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_json(args.out / "config.json", cfg)
    zc.seed_everything(cfg["seed"])
    text = zc.char_corpus(80000, seed=1)
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text])
    n = int(0.9 * len(data))
    splits = {"train": data[:n], "val": data[n:]}
    model = zc.TinyGPT(len(chars), cfg["block_size"], d=cfg["n_embd"], layers=cfg["n_layer"], heads=cfg["n_head"])
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg["learning_rate"], betas=(cfg["beta1"], cfg["beta2"]))
    gen = torch.Generator().manual_seed(cfg["seed"])
    eval_gen = torch.Generator().manual_seed(0)
    sample_gen = torch.Generator().manual_seed(42)
    clock = zc.SimClock(seed=13)
    log = zc.TextLog(args.out / "train.log")
    samples = (args.out / "samples.txt").open("w", encoding="utf-8")

    n_params = zc.count_params(model) - model.wpe.weight.numel()
    log.print(f"tokens per iteration will be: {cfg['batch_size'] * cfg['block_size']:,}")
    log.print(f"found vocab_size = {len(chars)} (inside data/{cfg['dataset']}/meta.pkl)")
    log.print("Initializing a new model from scratch")
    log.print(f"number of parameters: {n_params / 1e6:.2f}M")
    log.print(f"num decayed parameter tensors: {len(decay)}, with {sum(p.numel() for p in decay):,} parameters")
    n_no_decay = sum(p.numel() for p in no_decay)
    log.print(f"num non-decayed parameter tensors: {len(no_decay)}, with {n_no_decay:,} parameters")
    log.print("using fused AdamW: False")

    @torch.no_grad()
    def estimate_loss() -> dict[str, float]:
        model.eval()
        out = {}
        for split in ("train", "val"):
            losses = []
            for _ in range(cfg["eval_iters"]):
                x, y = get_batch(splits[split], eval_gen)
                losses.append(float(F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))))
            out[split] = sum(losses) / len(losses)
        model.train()
        return out

    best_val = 1e9
    for it in range(cfg["max_iters"] + 1):
        lr = get_lr(it)
        for group in opt.param_groups:
            group["lr"] = lr
        if it % cfg["eval_interval"] == 0:
            losses = estimate_loss()
            clock.advance(clock.jitter(EVAL_MS))
            log.print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
            if losses["val"] < best_val or cfg["always_save_checkpoint"]:
                best_val = min(best_val, losses["val"])
                if it > 0:
                    log.print(f"saving checkpoint to {cfg['out_dir']}")
            model.eval()
            for prompt in cfg["sample"]["prompts"]:
                idx = torch.tensor([[stoi[ch] for ch in prompt]])
                text_out = "".join(chars[i] for i in generate(model, idx, sample_gen)[0].tolist())
                samples.write(f"step {it}:\n{text_out}\n---------------\n")
            model.train()
        if it == cfg["max_iters"]:
            break
        x, y = get_batch(splits["train"], gen)
        loss = F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        dt = clock.jitter(ITER_MS if it else 1850.0, 0.05)
        clock.advance(dt)
        if it % cfg["log_interval"] == 0:
            mfu = -100.0 if it < 5 else 0.0
            log.print(f"iter {it}: loss {float(loss.detach()):.4f}, time {dt:.2f}ms, mfu {mfu:.2f}%")
    samples.close()
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
