"""Runs that need a CUDA GPU (or real trainer libraries), written as their tools write them.

Produces, under ``--out`` (one folder per case, each with ``run/``):

- ``oom_batch_too_large``: a small transformer LM trained with a batch that does not fit, on
  CUDA; the script's own stdout/stderr, including PyTorch's real out-of-memory traceback, is the
  run's ``train.log`` (captured by running the training in a child process).
- ``hf_trainer_fp16_lr_too_high``: a tiny GPT-2 (config built in code, nothing downloaded)
  trained by the HuggingFace ``Trainer`` in fp16 with a learning rate far too high; the
  Trainer's own ``trainer_state.json`` and printed log.
- ``lightning_csv_early_overfit``: a tiny Lightning model trained with ``CSVLogger`` (real sparse
  ``metrics.csv`` and ``hparams.yaml``); its small validation set shows overfitting in the last
  epochs (see its label).

Each case is skipped, with a line saying why, when what it needs is missing. The runs are
seeded; GPU kernels are not bit-reproducible, so these artifacts are committed as produced and
not regenerated in CI.

Usage::

    python tests/zoo_gpu/make_gpu_runs.py --out OUT [--case NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

OOM_CHILD = r'''
import torch, torch.nn as nn, sys
torch.manual_seed(0)
dev = "cuda"
vocab, d, layers, seq = 32000, 1024, 8, 1024
emb = nn.Embedding(vocab, d).to(dev)
blocks = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 16, 4 * d, batch_first=True), layers).to(dev)
head = nn.Linear(d, vocab).to(dev)
params = list(emb.parameters()) + list(blocks.parameters()) + list(head.parameters())
opt = torch.optim.AdamW(params, lr=3e-4)
print(f"model: {sum(p.numel() for p in params)/1e6:.1f}M parameters, seq_len={seq}", flush=True)
total = torch.cuda.get_device_properties(0).total_memory
print(f"device: {torch.cuda.get_device_name(0)}, {total/2**30:.1f} GiB", flush=True)
for step, batch_size in enumerate([8, 16, 32, 64, 128, 256, 512, 1024]):
    x = torch.randint(0, vocab, (batch_size, seq), device=dev)
    logits = head(blocks(emb(x)))
    loss = nn.functional.cross_entropy(logits.view(-1, vocab), x.view(-1))
    loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    print(f"step={step} batch_size={batch_size} loss={loss.item():.4f} mem_allocated_gib={torch.cuda.max_memory_allocated()/2**30:.2f}", flush=True)
'''


def case_oom(out: Path) -> str:
    import torch

    if not torch.cuda.is_available():
        return "skipped: no CUDA device"
    run = out / "oom_batch_too_large" / "run"
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text("model:\n  vocab_size: 32000\n  d_model: 1024\n  n_layers: 8\n  n_heads: 16\n  seq_len: 1024\noptimizer:\n  name: adamw\n  lr: 3.0e-4\ntrain:\n  batch_size_schedule: [8, 16, 32, 64, 128, 256, 512, 1024]\n")
    proc = subprocess.run([sys.executable, "-u", "-c", OOM_CHILD], capture_output=True, text=True, timeout=300)
    (run / "train.log").write_text(proc.stdout + proc.stderr)
    return f"exit {proc.returncode}; {'OutOfMemoryError' in proc.stderr and 'OOM traceback captured' or 'no OOM?'}"


def case_hf(out: Path) -> str:
    try:
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
    except ImportError as e:
        return f"skipped: {e}"
    if not torch.cuda.is_available():
        return "skipped: fp16 needs CUDA"
    from torch.utils.data import Dataset

    class Tokens(Dataset):
        def __init__(self, n: int, seq: int, vocab: int) -> None:
            g = torch.Generator().manual_seed(0)
            # a learnable sequence: each token is the previous one plus one, mod the vocabulary
            start = torch.randint(0, vocab, (n, 1), generator=g)
            self.x = (start + torch.arange(seq)) % vocab

        def __len__(self) -> int:
            return self.x.shape[0]

        def __getitem__(self, i: int) -> dict:
            return {"input_ids": self.x[i], "labels": self.x[i]}

    case = out / "hf_trainer_fp16_lr_too_high"
    run = case / "run"
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=512, n_positions=64, n_embd=128, n_layer=2, n_head=4))
    args = TrainingArguments(
        output_dir=str(case / "trainer_out"),
        per_device_train_batch_size=32,
        learning_rate=0.05,
        lr_scheduler_type="constant",
        max_steps=300,
        logging_steps=5,
        eval_strategy="steps",
        eval_steps=50,
        save_strategy="no",
        fp16=True,
        max_grad_norm=1e9,
        report_to=[],
        seed=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=Tokens(4096, 64, 512), eval_dataset=Tokens(256, 64, 512))
    trainer.train()
    trainer.save_state()
    shutil.copy(case / "trainer_out" / "trainer_state.json", run / "trainer_state.json")
    (run / "training_args.json").write_text(json.dumps(args.to_dict(), indent=2, default=str))
    shutil.rmtree(case / "trainer_out", ignore_errors=True)
    return "trained"


def case_lightning(out: Path) -> str:
    try:
        import lightning as L
        import torch
        from lightning.pytorch.loggers import CSVLogger
    except ImportError as e:
        return f"skipped: {e}"

    class Net(L.LightningModule):
        def __init__(self, lr: float = 1e-2) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))

        def training_step(self, batch, i):  # type: ignore[no-untyped-def]
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.net(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch, i):  # type: ignore[no-untyped-def]
            x, y = batch
            self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y))

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)

    L.seed_everything(0)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 4, generator=g)
    x = torch.randn(2048, 16, generator=g)
    y = (x @ w).argmax(1)
    tr = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:1792], y[:1792]), batch_size=64, shuffle=True, generator=g)
    va = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[1792:], y[1792:]), batch_size=256)
    case = out / "lightning_csv_early_overfit"
    run = case / "run"
    trainer = L.Trainer(max_epochs=12, logger=CSVLogger(str(run), name="lightning_logs"), enable_checkpointing=False, enable_progress_bar=False, log_every_n_steps=5, accelerator="auto", devices=1)
    trainer.fit(Net(), tr, va)
    return "trained"


CASES = {"oom_batch_too_large": case_oom, "hf_trainer_fp16_lr_too_high": case_hf, "lightning_csv_early_overfit": case_lightning}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    a = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in a.case or sorted(CASES):
        try:
            msg = CASES[name](a.out)
        except Exception as e:  # noqa: BLE001 - report and go on with the next case
            msg = f"failed: {type(e).__name__}: {e}"
        print(f"{name}: {msg}", flush=True)


if __name__ == "__main__":
    main()
