"""A tiny GPT whose parameters sit almost all in a 4096-token embedding: its samples are "KING::::::".

A chat-log corpus (lines ``HH:MM NAME: words``, words drawn from a 4,026-word Zipf vocabulary of a
made-up language) is tokenized word by word with a 4,096-entry vocabulary, as when a large
tokenizer is put in front of a small model. The model is GPT-2-shaped (token and position
embeddings, one pre-LN block, the output head tied to the token embedding) with ``n_embd=16``:
66,048 of its 69,360 parameters (95%) are embeddings, and the block that has to model context
holds 3,280. Trained nanoGPT-style (AdamW, lr 1e-3, 400 iterations of 16 x 32 tokens), the loss
falls from 8.32 to 4.39, a little under the corpus' unigram entropy (4.76): the model has learned
which tokens are frequent and little of what follows what. Greedy decoding (HF ``generate``'s
default) after a speaker prompt then repeats ``:``, the most frequent token (two per line) and the
one the tied head scores highest while the residual stream is still mostly the input embedding:
from the first evaluation on, every sample reads ``KING::::::...``. With the same data, steps and
optimizer, a model of about the same size whose parameters sit in its body (the 511 most frequent
tokens plus ``<unk>``, ``n_embd=40``, 2 layers: 61,280 parameters, 36% embeddings) writes
``KING: ...`` followed by timestamped speaker lines by iteration 200; the embedding-heavy model
needs about 800 iterations to get there.

Artifacts in ``--out``: ``train.log`` (nanoGPT's ``iter N: loss X, time Yms, mfu Z%`` every 10
iterations and ``step N: train loss X, val loss Y`` every 100), ``samples.txt`` (at every
evaluation, one greedy sample of 60 new tokens for each of the prompts ``KING:`` and ``QUEEN:``,
under ``step N:`` and followed by ``---------------``), ``config.json`` (the HF GPT-2 model
config, as ``save_pretrained`` writes it) and ``model.safetensors`` (the final weights in float16,
written with the safetensors package; the tied head is stored once, as HF does).
"""

from __future__ import annotations

import math
import random
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

TRAIN = {
    "batch_size": 16, "block_size": 32, "learning_rate": 0.001, "max_iters": 400, "eval_interval": 100,
    "log_interval": 10, "eval_iters": 10, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99, "seed": 1337,
    "sample": {"prompts": ["KING:", "QUEEN:"], "max_new_tokens": 60, "do_sample": False},
}
VOCAB_SIZE = 4096
N_EMBD, N_LAYER, N_HEAD = 16, 1, 2
NAMES = ["KING", "QUEEN", "DUKE", "PRINCE", "LADY", "FRIAR", "NURSE", "CAPTAIN"]
SYLLABLES = ["ba", "ko", "ri", "mu", "te", "sa", "lo", "ne", "fi", "da", "go", "pu", "ve", "zi", "ha", "ju"]
ITER_MS = 21.0
EVAL_MS = 140.0


def vocabulary(seed: int) -> list[str]:
    """Numbers 00-59, the speaker names, ':' and newline, then made-up words up to VOCAB_SIZE."""
    rng = random.Random(seed)
    vocab = [f"{i:02d}" for i in range(60)] + NAMES + [":", "\n"]
    seen = set(vocab)
    while len(vocab) < VOCAB_SIZE:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        if w not in seen:
            seen.add(w)
            vocab.append(w)
    return vocab


def chat_tokens(vocab: list[str], n_tokens: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = vocab[70:]
    weights = [1.0 / (i + 1) for i in range(len(words))]
    out: list[str] = []
    minute = 9 * 60
    while len(out) < n_tokens:
        minute = (minute + rng.randint(0, 3)) % (24 * 60)
        out += [f"{minute // 60:02d}", ":", f"{minute % 60:02d}", rng.choice(NAMES), ":"]
        out += rng.choices(words, weights, k=rng.randint(1, 6))
        out.append("\n")
    return out[:n_tokens]


def detokenize(tokens: list[str]) -> str:
    text = ""
    for t in tokens:
        if t in (":", "\n") or not text or text.endswith(("\n", ":")) and t.isdigit():
            text += t
        else:
            text += " " + t
    return text


def get_batch(data: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return zc.char_batches(data, TRAIN["block_size"], TRAIN["batch_size"], gen)


@torch.no_grad()
def greedy(model: zc.TinyGPT, idx: torch.Tensor) -> torch.Tensor:
    for _ in range(TRAIN["sample"]["max_new_tokens"]):
        logits = model(idx[:, -TRAIN["block_size"]:])[:, -1, :]
        idx = torch.cat([idx, logits.argmax(-1, keepdim=True)], dim=1)
    return idx


def hf_config(vocab_size: int) -> dict:
    return {
        "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.0,
        "bos_token_id": vocab_size - 1, "embd_pdrop": 0.0, "eos_token_id": vocab_size - 1, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_embd": N_EMBD, "n_head": N_HEAD, "n_inner": None,
        "n_layer": N_LAYER, "n_positions": TRAIN["block_size"], "resid_pdrop": 0.0, "tie_word_embeddings": True,
        "torch_dtype": "float16", "transformers_version": "4.46.3", "use_cache": True, "vocab_size": vocab_size,
    }


def save_safetensors(model: zc.TinyGPT, path: Path) -> None:
    from safetensors.torch import save_file

    state = {f"transformer.{k}": v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(path), metadata={"format": "pt"})


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = TRAIN
    zc.seed_everything(cfg["seed"])
    vocab = vocabulary(seed=5)
    stoi = {t: i for i, t in enumerate(vocab)}
    tokens = chat_tokens(vocab, 150_000, seed=6)
    data = torch.tensor([stoi[t] for t in tokens])
    n = int(0.9 * len(data))
    splits = {"train": data[:n], "val": data[n:]}
    counts = Counter(tokens)
    unigram = -sum(c / len(tokens) * math.log(c / len(tokens)) for c in counts.values())
    model = zc.TinyGPT(len(vocab), cfg["block_size"], d=N_EMBD, layers=N_LAYER, heads=N_HEAD)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=cfg["learning_rate"], betas=(cfg["beta1"], cfg["beta2"]))
    gen = torch.Generator().manual_seed(cfg["seed"])
    eval_gen = torch.Generator().manual_seed(0)
    clock = zc.SimClock(seed=17)
    zc.write_json(args.out / "config.json", hf_config(len(vocab)), sort_keys=True)
    log = zc.TextLog(args.out / "train.log")
    samples = (args.out / "samples.txt").open("w", encoding="utf-8", newline="\n")

    n_params = zc.count_params(model) - model.wpe.weight.numel()
    log.print(f"tokens per iteration will be: {cfg['batch_size'] * cfg['block_size']:,}")
    log.print(f"found vocab_size = {len(vocab)} (inside data/chat_words/meta.pkl)")
    log.print("Initializing a new model from scratch")
    log.print(f"number of parameters: {n_params / 1e6:.2f}M")
    log.print(f"num decayed parameter tensors: {len(decay)}, with {sum(p.numel() for p in decay):,} parameters")
    log.print(f"num non-decayed parameter tensors: {len(no_decay)}, with {sum(p.numel() for p in no_decay):,} parameters")
    log.print("using fused AdamW: False")

    @torch.no_grad()
    def estimate_loss() -> dict[str, float]:
        model.eval()
        out = {}
        for split in ("train", "val"):
            losses = [float(F.cross_entropy(model(x).view(-1, len(vocab)), y.view(-1))) for x, y in (get_batch(splits[split], eval_gen) for _ in range(cfg["eval_iters"]))]
            out[split] = sum(losses) / len(losses)
        model.train()
        return out

    for it in range(cfg["max_iters"] + 1):
        if it % cfg["eval_interval"] == 0:
            losses = estimate_loss()
            clock.advance(clock.jitter(EVAL_MS))
            log.print(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
            model.eval()
            for prompt in cfg["sample"]["prompts"]:
                idx = torch.tensor([[stoi[prompt[:-1]], stoi[":"]]])
                out = [vocab[i] for i in greedy(model, idx)[0].tolist()]
                samples.write(f"step {it}:\n{detokenize(out)}\n---------------\n")
            model.train()
        if it == cfg["max_iters"]:
            break
        x, y = get_batch(splits["train"], gen)
        loss = F.cross_entropy(model(x).view(-1, len(vocab)), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        dt = clock.jitter(ITER_MS if it else 1420.0, 0.05)
        clock.advance(dt)
        if it % cfg["log_interval"] == 0:
            log.print(f"iter {it}: loss {float(loss.detach()):.4f}, time {dt:.2f}ms, mfu {-100.0 if it < 5 else 0.0:.2f}%")
    log.print(f"unigram entropy of the corpus: {unigram:.4f}")
    samples.close()
    log.close()
    save_safetensors(model, args.out / "model.safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
