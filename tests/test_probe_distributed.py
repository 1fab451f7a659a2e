"""The probe under torch.distributed: DDP with the gloo backend, two processes on CPU."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch.distributed with gloo is not available")

PERTURB_AT = 3


def _worker(rank: int, world: int, port: int, log_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        import traindx

        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        model = nn.parallel.DistributedDataParallel(net)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        probe = traindx.watch(model, opt, log_dir=log_dir, every=2, extra_steps=())
        g = torch.Generator().manual_seed(100 + rank)  # each rank its own data
        for step in range(8):
            x, y = torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
            probe.step(loss)
            if rank == 1 and step == PERTURB_AT:
                with torch.no_grad():  # an update outside the synchronised path, on one rank only
                    net[0].weight.add_(0.01)
        probe.close()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _records(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_ddp_one_log_per_rank_and_rank_drift(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probe-rank0.jsonl", "probe-rank1.jsonl"]
    logs = {r: _records(tmp_path / f"probe-rank{r}.jsonl") for r in (0, 1)}
    for r, recs in logs.items():
        assert recs[0]["rank"] == r and recs[0]["world_size"] == 2 and recs[0]["wrapped"] == "DistributedDataParallel"
    steps = {r: {x["step"]: x for x in recs if x["kind"] == "step"} for r, recs in logs.items()}
    # the gradient norm is taken after DDP averaged the gradients: the same on both ranks
    for s in range(8):
        assert steps[0][s]["grad_norm"] == steps[1][s]["grad_norm"]
    # each rank its own data: the losses differ
    assert steps[0][0]["loss"] != steps[1][0]["loss"]
    for r, recs in logs.items():
        drift = [x for x in recs if x["kind"] == "event" and x["event"] == "rank_drift"]
        assert drift, f"rank {r} did not report the drift"
        first = drift[0]
        assert first["step"] == PERTURB_AT + 1  # the first comparison after the perturbation
        assert "0.weight" in first["data"]["params"] and first["data"]["worst_rank"] == 1
        # before the perturbation the ranks agreed
        assert not [x for x in recs if x["kind"] == "event" and x["step"] <= PERTURB_AT]
    import traindx

    d = traindx.diagnose(tmp_path)
    s = next(s for s in d.symptoms if s.id == "rank_drift")
    assert s.step == PERTURB_AT + 1 and s.data["worst_rank"] == 1
    loss = d.run.get("loss/train")
    assert loss is not None and loss.source == "probe-rank0.jsonl"
