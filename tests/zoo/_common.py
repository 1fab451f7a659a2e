"""Helpers shared by the zoo's training scripts: seeding, a simulated clock, small data sets and writers.

Every ``make.py`` in the zoo is an ordinary little training script. What they share lives here:

- ``parse_args``: the ``--out`` option (default: the case's ``run/`` folder).
- ``seed_everything``: seeds ``random``, ``numpy`` and ``torch``, one thread, deterministic algorithms.
- ``SimClock``: a clock in whole milliseconds that starts at 2026-01-01 00:00:00 UTC and that the
  training loop advances by fixed or seeded amounts, so timestamps and step times look like a real
  run's but two runs give the same bytes. They say nothing about real speed.
- ``file_logger``: a ``logging`` logger writing to a file with the simulated time in ``%(asctime)s``.
- Writers for real formats: ``LightningCSV`` (Lightning's CSVLogger), ``KerasCSV`` (Keras'
  CSVLogger), ``write_jsonl_record``, ``tensorboard_writer`` (torch's ``SummaryWriter`` with a fixed
  file name and simulated wall times), ``write_yaml``, ``write_json``.
- Small synthetic data: ``teacher_classification`` and ``char_corpus``.

Floats are written in fixed formats (``%.4f`` and the like, or ``repr`` of a float32 value where the
real tool writes that), so that a rerun on the same machine with the same torch build gives
byte-identical files.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

CLOCK_START_S = 1767225600  # 2026-01-01 00:00:00 UTC
TB_HOST = "zoo-host"
TB_PID = 4242


# ---------------------------------------------------------------------------------------------
# command line, seeding, clock


def parse_args(case_dir: Path, description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """``--out`` (default ``<case_dir>/run``); the folder is created, emptied of nothing."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=case_dir / "run", help="folder for the run's artifacts")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


class SimClock:
    """Milliseconds since 2026-01-01 00:00:00 UTC, advanced by the training loop."""

    def __init__(self, seed: int = 0) -> None:
        self.ms = 0
        self._rng = random.Random(seed)

    def advance(self, ms: float) -> None:
        self.ms += round(ms)

    def jitter(self, base_ms: float, rel: float = 0.03) -> float:
        """A step time around ``base_ms`` with seeded noise (what a real loop would measure)."""
        return base_ms * (1.0 + rel * self._rng.uniform(-1.0, 1.0))

    @property
    def unix(self) -> float:
        return CLOCK_START_S + self.ms / 1000.0

    def asctime(self) -> str:
        """``2026-01-01 00:00:01,234``: the layout of ``logging``'s ``%(asctime)s``."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(CLOCK_START_S + self.ms // 1000))
        return f"{stamp},{self.ms % 1000:03d}"

    def strftime(self, fmt: str) -> str:
        return time.strftime(fmt, time.gmtime(CLOCK_START_S + self.ms // 1000))


class _ClockFormatter(logging.Formatter):
    def __init__(self, fmt: str, clock: SimClock, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)
        self.clock = clock

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt:
            return self.clock.strftime(datefmt)
        return self.clock.asctime()


def file_logger(name: str, path: Path, clock: SimClock, fmt: str = "%(asctime)s %(levelname)s %(message)s",
                datefmt: str | None = None) -> logging.Logger:
    """A logger that writes only to ``path`` (mode ``w``), its times read from ``clock``."""
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.propagate = False
    close_logger(log)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(_ClockFormatter(fmt, clock, datefmt))
    log.addHandler(handler)
    return log


def close_logger(log: logging.Logger) -> None:
    for handler in list(log.handlers):
        handler.close()
        log.removeHandler(handler)


class TextLog:
    """A plain text file a script's ``print`` goes to (the user ran ``python train.py > train.log``)."""

    def __init__(self, path: Path) -> None:
        self.f = path.open("w", encoding="utf-8", newline="\n")

    def print(self, *parts: object) -> None:
        self.f.write(" ".join(str(p) for p in parts) + "\n")

    def close(self) -> None:
        self.f.close()


# ---------------------------------------------------------------------------------------------
# small files


def write_yaml(path: Path, data: Any, *, sort_keys: bool = False) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=sort_keys, default_flow_style=False), encoding="utf-8")


def write_json(path: Path, data: Any, *, indent: int = 2, sort_keys: bool = False) -> None:
    path.write_text(json.dumps(data, indent=indent, sort_keys=sort_keys) + "\n", encoding="utf-8")


def f32(x: float | torch.Tensor) -> float:
    """A value as the float32 a framework logs and then turns into a Python float (``.item()``)."""
    if isinstance(x, torch.Tensor):
        return float(x.detach().float().item())
    return float(np.float32(x))


def write_jsonl_record(f: Any, record: dict[str, Any]) -> None:
    """One ``json.dumps`` line; NaN and infinities come out as ``NaN``/``Infinity`` as stdlib json writes them."""
    f.write(json.dumps(record) + "\n")


class LightningCSV:
    """What Lightning's ``CSVLogger`` writes to ``<save_dir>/<name>/version_<N>/metrics.csv``.

    The behaviour follows the library (lightning 2.x): each ``log_metrics`` call buffers one row
    with ``step`` added; ``save`` runs when ``(step + 1) % flush_logs_every_n_steps == 0`` and at the
    end (``finalize``). The header is the sorted union of all keys seen so far; when a flush brings a
    new key, the existing file is read back and rewritten under the new header. Rows are written by
    ``csv.DictWriter`` with its default dialect (``\\r\\n`` line ends), missing keys as empty cells,
    and values as Python writes them (``repr`` of floats, so float32 values show their full double
    expansion, and NaN as ``nan``). ``hparams.yaml`` is written next to it by ``log_hyperparams``.
    """

    def __init__(self, save_dir: Path, name: str = "lightning_logs", version: int = 0,
                 flush_logs_every_n_steps: int = 100) -> None:
        self.log_dir = save_dir / name / f"version_{version}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.log_dir / "metrics.csv"
        if self.path.exists():
            self.path.unlink()
        self.flush_every = flush_logs_every_n_steps
        self.rows: list[dict[str, Any]] = []
        self.keys: list[str] = []

    def log_hyperparams(self, params: dict[str, Any]) -> None:
        # Lightning's save_hparams_to_yaml: yaml.dump of the dict (keys sorted by PyYAML's default)
        (self.log_dir / "hparams.yaml").write_text(yaml.dump(params), encoding="utf-8")

    def log_metrics(self, metrics: dict[str, Any], step: int) -> None:
        row = dict(metrics)
        row["step"] = step
        self.rows.append(row)
        if (step + 1) % self.flush_every == 0:
            self.save()

    def save(self) -> None:
        if not self.rows:
            return
        seen = set().union(*self.rows)
        new = seen - set(self.keys)
        self.keys.extend(new)
        self.keys.sort()
        exists = self.path.is_file()
        if new and exists:
            with self.path.open("r", newline="") as f:
                old = list(csv.DictReader(f))
            with self.path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.keys)
                w.writeheader()
                w.writerows(old)
        with self.path.open("a" if exists else "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.keys)
            if not exists:
                w.writeheader()
            w.writerows(self.rows)
        self.rows = []

    def finalize(self) -> None:
        self.save()


class KerasCSV:
    """What ``keras.callbacks.CSVLogger`` writes: ``epoch`` (0-based) then the sorted metric keys.

    The file is opened in text mode and written through ``csv.DictWriter`` with the ``excel``
    dialect, so rows end in ``\\r\\n`` on Linux; values are Python floats (``repr``), NaN as ``nan``.
    """

    def __init__(self, path: Path) -> None:
        self.f = path.open("w", encoding="utf-8")
        self.writer: csv.DictWriter | None = None
        self.keys: list[str] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.keys is None:
            self.keys = sorted(logs)
        if self.writer is None:
            self.writer = csv.DictWriter(self.f, fieldnames=["epoch", *self.keys], dialect=csv.excel)
            self.writer.writeheader()
        row: dict[str, Any] = {"epoch": epoch}
        row.update((k, logs.get(k, "NA")) for k in self.keys)
        self.writer.writerow(row)
        self.f.flush()

    def close(self) -> None:
        self.f.close()


@contextmanager
def tensorboard_writer(log_dir: Path, clock: SimClock) -> Iterator[Any]:
    """torch's ``SummaryWriter`` on ``log_dir``, with reproducible bytes.

    The writer is the real one; only what depends on the machine is pinned: the first event's wall
    time is the simulated clock's, and the file is renamed on close from
    ``events.out.tfevents.<time>.<host>.<pid>.<n>`` to the same pattern with the simulated start
    time, host ``zoo-host`` and pid 4242. Pass ``walltime=clock.unix`` to every ``add_*`` call.
    """
    from tensorboard.summary.writer import event_file_writer
    from torch.utils.tensorboard import SummaryWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("events.out.tfevents.*"):
        old.unlink()
    fake_time = SimpleNamespace(time=lambda: clock.unix)
    real_time = event_file_writer.time
    event_file_writer.time = fake_time  # the file name and the file_version event read time.time()
    try:
        writer = SummaryWriter(log_dir=str(log_dir), flush_secs=10_000, max_queue=1_000_000)
    finally:
        event_file_writer.time = real_time
    made = Path(writer.file_writer.get_logdir()) / Path(writer.file_writer.event_writer._file_name).name
    try:
        yield writer
    finally:
        writer.close()
        made.rename(log_dir / f"events.out.tfevents.{CLOCK_START_S}.{TB_HOST}.{TB_PID}.0")


# ---------------------------------------------------------------------------------------------
# models and measurements


def mlp(sizes: list[int], act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def total_grad_norm(params: Any) -> float:
    """The global L2 norm of the gradients, as ``clip_grad_norm_(..., max_norm=inf)`` returns it."""
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------
# data


def teacher_classification(n: int, dim: int, classes: int, *, seed: int, hidden: int = 64,
                           gain: float = 2.0, label_noise: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian inputs labelled by a fixed random tanh network (a learnable, nonlinear task)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=gen)
    w1 = torch.randn(dim, hidden, generator=gen) * (gain / math.sqrt(dim))
    w2 = torch.randn(hidden, classes, generator=gen) * (3.0 / math.sqrt(hidden))
    y = (torch.tanh(x @ w1) @ w2).argmax(1)
    if label_noise > 0:
        flip = torch.rand(n, generator=gen) < label_noise
        y = torch.where(flip, torch.randint(0, classes, (n,), generator=gen), y)
    return x, y


def gaussian_blobs(n: int, dim: int, classes: int, *, seed: int,
                   spread: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced classes, each a unit-variance Gaussian around its own random centre (scaled by ``spread``)."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=gen) * spread
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=gen)]
    x = centres[y] + torch.randn(n, dim, generator=gen)
    return x, y


_NAMES = ["KING", "QUEEN", "DUKE", "PRINCE", "LADY", "FRIAR", "NURSE", "CAPTAIN"]
_SUBJ = ["the king", "my lord", "the queen", "thy father", "the duke", "this man", "my lady", "the prince",
         "our army", "the people", "his brother", "the night", "my heart", "your grace"]
_VERB = ["doth love", "shall see", "hath lost", "will not hear", "must leave", "cannot find", "would speak to",
         "doth fear", "shall keep", "hath sent", "will follow", "must answer"]
_OBJ = ["the crown", "his sword", "the city", "my words", "her honour", "the field", "thy name", "the gate",
        "our cause", "the truth", "his friends", "the sea"]
_TAIL = [".", ".", ".", "!", "?", ", and so farewell.", ", I pray you.", ", good sir."]


def char_corpus(n_chars: int, *, seed: int) -> str:
    """Play-like text (speaker names, then lines of short sentences) from a small phrase grammar."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_chars:
        speech = [rng.choice(_NAMES) + ":"]
        for _ in range(rng.randint(1, 3)):
            s = f"{rng.choice(_SUBJ)} {rng.choice(_VERB)} {rng.choice(_OBJ)}{rng.choice(_TAIL)}"
            speech.append(s[0].upper() + s[1:])
        block = "\n".join(speech) + "\n\n"
        out.append(block)
        size += len(block)
    return "".join(out)[:n_chars]


def env_line() -> str:
    return f"torch {torch.__version__}, python {sys.version.split()[0]}"


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, block: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.register_buffer("mask", torch.tril(torch.ones(block, block, dtype=torch.bool)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.c_attn(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        att = att.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(-1)
        return self.c_proj((att @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d: int, heads: int, block: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads, block)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TinyGPT(nn.Module):
    """A GPT-2-shaped character model: token and position embeddings, pre-LN blocks, tied head."""

    def __init__(self, vocab: int, block: int, d: int = 64, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.block = block
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(block, d)
        self.h = nn.ModuleList(Block(d, heads, block) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                nn.init.normal_(p, std=0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t))
        for blk in self.h:
            x = blk(x)
        return self.lm_head(self.ln_f(x))


def char_batches(data: torch.Tensor, block: int, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    ix = torch.randint(len(data) - block - 1, (batch,), generator=gen)
    x = torch.stack([data[i:i + block] for i in ix.tolist()])
    y = torch.stack([data[i + 1:i + 1 + block] for i in ix.tolist()])
    return x, y
