"""Step-time overhead of the traindx probe, side by side with anomaly detection and wandb.watch, in one run.

Two small models train on random data (the same batches for every mode):
a CNN (two conv layers, 32x32 images) and a transformer encoder (2 layers,
d=64, 32 tokens). Every mode has its own copy of the model, started from the
same weights, and the modes take turns step by step (the order rotating each
step), so that load from the rest of the machine falls on all of them alike.
A run is ``--warmup`` untimed steps then ``--steps`` timed ones; there are
``--repeat`` runs. Reported per mode: the median over runs of the ratio of
its mean step time to plain's in the same run (the mean, so the steps that
record per-layer statistics count), and the added time per step.

Modes: ``plain``; ``probe`` (traindx.watch at its defaults); ``probe-full``
(everything every step); ``anomaly`` (``torch.autograd.detect_anomaly``);
``wandb`` (``wandb.watch(model, log="all", log_freq=100)`` in offline mode,
with a ``wandb.log`` of the loss per step, when wandb is installed).

Usage::

    python bench/probe_overhead.py [--device cpu|cuda] [--steps 300] [--repeat 5] [--threads 1] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import traindx  # noqa: E402


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.act2 = nn.ReLU()
        self.head = nn.Linear(32 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act1(self.bn1(self.conv1(x))))
        x = self.pool(self.act2(self.conv2(x)))
        return self.head(x.flatten(1))


class SmallTransformer(nn.Module):
    def __init__(self, vocab: int = 256, d: int = 64, layers: int = 2, seq: int = 32) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(1, seq, d))
        layer = nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.norm(self.enc(self.emb(x) + self.pos)))


def make_task(name: str, device: torch.device, n_batches: int = 16) -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]], Callable]:
    g = torch.Generator().manual_seed(0)
    if name == "cnn":
        model = SmallCNN()
        data = [(torch.randn(32, 3, 32, 32, generator=g), torch.randint(0, 10, (32,), generator=g)) for _ in range(n_batches)]

        def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(out, y)

    else:
        model = SmallTransformer()
        data = [(torch.randint(0, 256, (16, 32), generator=g), torch.randint(0, 256, (16, 32), generator=g)) for _ in range(n_batches)]

        def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    data = [(x.to(device), y.to(device)) for x, y in data]
    return model.to(device), data, loss_fn


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Lane:
    """One mode's copy of the model, optimizer and instrumentation; all lanes start from the same weights."""

    def __init__(self, task: str, mode: str, device: torch.device, tmp: Path) -> None:
        torch.manual_seed(0)
        self.mode = mode
        self.model, self.data, self.loss_fn = make_task(task, device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.probe: Any = None
        self.wb: Any = None
        self.times: list[float] = []
        if mode == "probe":
            self.probe = traindx.watch(self.model, self.opt, log_dir=tmp / f"{task}-{mode}-{time.monotonic_ns()}")
        elif mode == "probe-full":
            self.probe = traindx.watch(self.model, self.opt, log_dir=tmp / f"{task}-{mode}-{time.monotonic_ns()}", detail="full")
        elif mode == "wandb":
            import wandb

            self.wb = wandb.init(mode="offline", dir=str(tmp), project="traindx-bench", reinit="finish_previous", settings=wandb.Settings(silent=True))
            wandb.watch(self.model, log="all", log_freq=100)

    def step(self, i: int, device: torch.device, record: bool) -> None:
        x, y = self.data[i % len(self.data)]
        ctx: Any = torch.autograd.detect_anomaly(check_nan=True) if self.mode == "anomaly" else contextlib.nullcontext()
        sync(device)
        t = time.perf_counter()
        with ctx:
            loss = self.loss_fn(self.model(x), y)
            loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        if self.probe is not None:
            self.probe.step(loss)
        if self.wb is not None:
            self.wb.log({"loss": loss.detach()})
        sync(device)
        if record:
            self.times.append(time.perf_counter() - t)

    def close(self) -> None:
        if self.probe is not None:
            self.probe.close()
        if self.wb is not None:
            self.wb.finish()


def run_once(task: str, modes: list[str], steps: int, warmup: int, device: torch.device, tmp: Path) -> dict[str, float]:
    """Mean step time (seconds) of each mode over one run in which the modes take turns step by step.

    Taking turns puts every mode under the same load from the rest of the machine; the mean
    (not the median) counts the steps that record per-layer statistics.
    """
    lanes = [Lane(task, m, device, tmp) for m in modes]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(warmup + steps):
            k = i % len(lanes)
            for lane in lanes[k:] + lanes[:k]:
                lane.step(i, device, i >= warmup)
    for lane in lanes:
        lane.close()
    return {lane.mode: sum(lane.times) / len(lane.times) for lane in lanes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadier numbers on a shared machine)")
    ap.add_argument("--tasks", default="cnn,transformer")
    ap.add_argument("--modes", default="plain,probe,probe-full,anomaly,wandb")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = [m for m in args.modes.split(",") if m]
    notes: list[str] = []
    if "wandb" in modes:
        try:
            import wandb  # noqa: F401

            os.environ.setdefault("WANDB_SILENT", "true")
            os.environ.setdefault("WANDB_MODE", "offline")
        except ImportError:
            modes.remove("wandb")
            notes.append("wandb is not installed: its column is left out")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for task in [t for t in args.tasks.split(",") if t]:
            runs: dict[str, list[float]] = {m: [] for m in modes}
            for _ in range(args.repeat):
                got = run_once(task, modes, args.steps, args.warmup, device, tmp)
                for m in modes:
                    runs[m].append(got[m])
            results[task] = {}
            for m in modes:
                ratios = [a / b for a, b in zip(runs[m], runs["plain"])]
                med = statistics.median(runs[m])
                base = statistics.median(runs["plain"])
                results[task][m] = {"mean_step_s": med, "ratio": statistics.median(ratios), "added_us": statistics.median([(a - b) * 1e6 for a, b in zip(runs[m], runs["plain"])]), "runs": runs[m], "ratios": ratios}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"device: {name}; torch {torch.__version__}; {args.steps} timed steps x {args.repeat} repeats per mode (median over runs of the ratio of mean step times)")
    header = f"{'model':<12}" + "".join(f"{m:>22}" for m in modes)
    print(header)
    for task, res in results.items():
        row = f"{task:<12}"
        for m in modes:
            r = res[m]
            cell = f"{r['mean_step_s'] * 1e3:.2f}ms" if m == "plain" else f"{r['ratio']:.3f}x ({r['added_us']:+.0f}us)"
            row += f"{cell:>22}"
        print(row)
    for n in notes:
        print("note:", n)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"device": name, "torch": torch.__version__, "steps": args.steps, "repeat": args.repeat, "results": results, "notes": notes}, indent=2))


if __name__ == "__main__":
    main()
