"""The probe's CUDA path on a GPU machine: memory figures, GradScaler loss scale and overflows, a NaN traced on the GPU.

Prints (and with ``--out``, writes as JSON) what each check saw, so one run on
a lent GPU answers: are CUDA allocated/reserved/peak recorded per step, is the
loss scale followed through fp16 overflows without calling them NaN, is the
first NaN traced to its module with CUDA random state restored, and are the
losses bit-identical with and without the probe on the GPU (deterministic
algorithms on). Falls back to the CPU when no GPU is there (to test the script).

Usage::

    python bench/probe_cuda_check.py [--out cuda_check.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import traindx  # noqa: E402
from traindx.probe.figures import memory_figures  # noqa: E402


def records(log_dir: Path) -> list[dict]:
    with open(log_dir / "probe-rank0.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 256)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


class LogNet(Net):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(torch.log(x)))))


def data(device: torch.device, n: int = 20) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [((torch.rand(32, 64, generator=g) + 0.5).to(device), torch.randint(0, 10, (32,), generator=g).to(device)) for _ in range(n)]


def check_memory_and_identity(device: torch.device, tmp: Path) -> dict[str, Any]:
    torch.use_deterministic_algorithms(True, warn_only=True)

    def run(probe_dir: Path | None) -> tuple[list[float], dict[str, torch.Tensor]]:
        torch.manual_seed(0)
        model = Net().to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        probe = traindx.watch(model, opt, log_dir=probe_dir, detail="full") if probe_dir else None
        losses = []
        for x, y in data(device):
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            if probe:
                probe.step(loss)
            losses.append(loss.item())
        if probe:
            probe.close()
        return losses, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    a_l, a_s = run(None)
    b_l, b_s = run(tmp / "mem")
    recs = records(tmp / "mem")
    steps = [r for r in recs if r["kind"] == "step"]
    return {
        "bit_identical_losses": a_l == b_l,
        "bit_identical_weights": all(torch.equal(a_s[k], b_s[k]) for k in a_s),
        "memory_keys": sorted(steps[-1].get("memory", {})),
        "memory_last_step": steps[-1].get("memory"),
        "memory_figures": memory_figures(tmp / "mem"),
        "header_memory": recs[0]["memory"],
        "acts_recorded": any(r["kind"] == "acts" for r in recs),
    }


def check_scaler(device: torch.device, tmp: Path) -> dict[str, Any]:
    torch.manual_seed(0)
    model = Net().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    dev = device.type
    scaler = torch.amp.GradScaler(dev, init_scale=2.0**24)
    probe = traindx.watch(model, opt, log_dir=tmp / "scaler", scaler=scaler)
    for x, y in data(device):
        with torch.autocast(dev, dtype=torch.float16):
            loss = nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
        probe.step(loss)
    probe.close()
    recs = records(tmp / "scaler")
    steps = [r for r in recs if r["kind"] == "step"]
    d = traindx.diagnose(tmp / "scaler")
    return {
        "loss_scale": [r.get("loss_scale") for r in steps],
        "skipped_steps": [r["step"] for r in steps if r.get("skipped")],
        "grad_norms": [r.get("grad_norm") for r in steps],
        "nan_origin_events": [r for r in recs if r["kind"] == "event"],
        "symptoms": [s.id for s in d.symptoms],
    }


def check_nan(device: torch.device, tmp: Path) -> dict[str, Any]:
    torch.manual_seed(0)
    model = LogNet().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    probe = traindx.watch(model, opt, log_dir=tmp / "nan", on_nonfinite="skip")
    rng_before = torch.cuda.get_rng_state() if device.type == "cuda" else torch.get_rng_state()
    for i, (x, y) in enumerate(data(device, 6)):
        if i == 3:
            x = x.clone()
            x[0, 5] = -1.0
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        probe.step(loss)
    probe.close()
    recs = records(tmp / "nan")
    ev = [r for r in recs if r["kind"] == "event"]
    d = traindx.diagnose(tmp / "nan")
    batch = None
    if ev and ev[0]["data"].get("batch_file"):
        b = torch.load(tmp / "nan" / ev[0]["data"]["batch_file"], weights_only=True)
        batch = {"step": b["step"], "value": float(b["args"][0][0, 5])}
    return {
        "events": ev,
        "weights_finite": all(bool(torch.isfinite(p).all()) for p in model.parameters()),
        "saved_batch": batch,
        "top_cause": (d.root_causes[0].id, d.root_causes[0].confidence, d.root_causes[0].fix) if d.root_causes else None,
        "rng_state_changed_type": type(rng_before).__name__,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    result: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "torch": torch.__version__}
    checks: dict[str, Callable[[torch.device, Path], dict[str, Any]]] = {
        "memory_and_identity": check_memory_and_identity,
        "scaler": check_scaler,
        "nan": check_nan,
    }
    with tempfile.TemporaryDirectory() as td:
        for name, fn in checks.items():
            t = time.perf_counter()
            try:
                result[name] = fn(device, Path(td))
            except Exception:  # noqa: BLE001 - report every check, even after one fails
                result[name] = {"error": traceback.format_exc()}
            result[name]["seconds"] = round(time.perf_counter() - t, 2)
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
