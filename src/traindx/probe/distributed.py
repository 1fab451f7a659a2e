"""torch.distributed support: which rank writes which log, and whether replicated ranks drift apart.

Under data parallelism every rank holds the same weights after each step; a
rank whose weights differ (a layer-norm that is not synchronised, a buffer
updated on one rank only, a non-deterministic kernel) trains a different
model from the others, and nothing in the loss curve shows it (BLOOM's
tensor-parallel layer norms drifted for days unnoticed). Every N steps each
rank sends a fingerprint (the global gradient norm and every parameter's
norm, float64) to the others over a gloo group of the probe's own, with a
timeout, so that a rank that stops calling cannot hang the others for long;
a failure there only turns the comparison off.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch


@dataclass(frozen=True)
class RankInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def rank_info() -> RankInfo:
    """This process's rank from ``torch.distributed`` when initialised, else from the launcher's environment."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return RankInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0") or 0))
    except Exception:  # noqa: BLE001
        pass
    env = os.environ
    try:
        return RankInfo(int(env.get("RANK", "0") or 0), int(env.get("WORLD_SIZE", "1") or 1), int(env.get("LOCAL_RANK", "0") or 0))
    except ValueError:
        return RankInfo()


def is_replicated(model: Any) -> bool:
    """Whether every rank holds a full copy of the weights (DistributedDataParallel)."""
    from torch.nn.parallel import DistributedDataParallel

    return isinstance(model, DistributedDataParallel)


class RankComparer:
    """Gathers fingerprints from every rank over a gloo group of its own and finds parameters that differ."""

    def __init__(self, timeout_s: float) -> None:
        import torch.distributed as dist

        self.dist = dist
        self.world = dist.get_world_size()
        self.rank = dist.get_rank()
        self.group = dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=timeout_s))

    def gather(self, values: torch.Tensor) -> torch.Tensor:
        """(world, n) float64 matrix of every rank's fingerprint."""
        mine = values.detach().to("cpu", torch.float64).contiguous()
        n = torch.tensor([mine.numel()], dtype=torch.int64)
        sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(self.world)]
        self.dist.all_gather(sizes, n, group=self.group)
        width = int(max(int(s.item()) for s in sizes))
        padded = torch.full((width,), float("nan"), dtype=torch.float64)
        padded[: mine.numel()] = mine
        out = [torch.empty(width, dtype=torch.float64) for _ in range(self.world)]
        self.dist.all_gather(out, padded, group=self.group)
        return torch.stack(out)

    def close(self) -> None:
        """Destroy the probe's own group while the default one still exists (a gloo group left to the
        interpreter's exit can abort the process from its threads' destructors)."""
        group, self.group = self.group, None
        if group is not None and self.dist.is_initialized():
            self.dist.destroy_process_group(group)


def compare(names: Sequence[str], table: Any, tolerance: float) -> dict[str, Any] | None:
    """The parameters whose fingerprint differs across ranks by more than ``tolerance`` (relative), or None.

    ``table`` is (ranks, values) with the values in ``names`` order; for each, the
    rank that differs most from the reference (rank 0 when there are two ranks,
    else the median of the ranks) is named.
    """
    rows = [list(map(float, r)) for r in table.tolist()] if hasattr(table, "tolist") else [list(map(float, r)) for r in table]
    if len(rows) < 2:
        return None
    drifted = []
    for j, name in enumerate(names):
        col = [r[j] for r in rows if j < len(r)]
        if len(col) < 2:
            continue
        finite = [v for v in col if v == v and abs(v) != float("inf")]
        if len(finite) != len(col):
            nf = [i for i, v in enumerate(col) if not (v == v and abs(v) != float("inf"))]
            drifted.append((float("inf"), name, nf[0], col))
            continue
        # the reference is rank 0 with two ranks, else the median rank
        ref = col[0] if len(col) == 2 else sorted(col)[len(col) // 2]
        spread = max(col) - min(col)
        rel = spread / max(abs(ref), 1e-12)
        if rel > tolerance:
            far = max(range(len(col)), key=lambda i: (abs(col[i] - ref), i))
            drifted.append((rel, name, far, col))
    if not drifted:
        return None
    drifted.sort(key=lambda t: (-t[0], t[1]))
    worst = drifted[0]
    ranks = sorted({d[2] for d in drifted})
    return {
        "params": [d[1] for d in drifted[:20]],
        "count": len(drifted),
        "max_rel_diff": worst[0],
        "worst": worst[1],
        "worst_rank": worst[2],
        "ranks": ranks,
        "values": {d[1]: d[3] for d in drifted[:5]},
    }
