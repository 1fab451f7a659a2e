"""Tensor statistics the probe records: norms in one fused pass, activation shares, CUDA memory.

Everything returns tensors on the device they were computed on; callers read
them back in one batch (``torch.stack(...).tolist()``) so a GPU is synchronised
once per record, not once per number.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

RELU_FAMILY: tuple[type, ...] = (nn.ReLU, nn.ReLU6)
SATURATING: tuple[type, ...] = (nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid, nn.Softsign)
SKIP_ACTS: tuple[type, ...] = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity, nn.Flatten, nn.Unflatten)
MODE_SENSITIVE: tuple[type, ...] = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
)
SATURATION_EDGE = 0.01  # within 1% of a bound of the output range


def norms(tensors: Sequence[torch.Tensor], wide: bool = False) -> torch.Tensor:
    """The L2 norm of each tensor, as one float32 tensor (float64 with ``wide``), fused per device; empty input gives an empty tensor."""
    if not tensors:
        return torch.zeros(0)
    dev = tensors[0].device
    if wide:
        return torch.stack([torch.linalg.vector_norm(t, dtype=torch.float64) for t in tensors])
    if all(t.device == dev for t in tensors):
        return torch.stack(_foreach_norm(list(tensors)))
    by_dev: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        by_dev.setdefault(t.device, []).append(i)
    parts: list[torch.Tensor] = [torch.zeros(0)] * len(tensors)
    for d, idx in by_dev.items():
        for i, g in zip(idx, _foreach_norm([tensors[i] for i in idx])):
            parts[i] = g.to(dev, non_blocking=True) if d != dev else g
    return torch.stack(parts)


def _foreach_norm(group: list[torch.Tensor]) -> list[torch.Tensor]:
    if all(t.dtype == torch.float32 for t in group):
        return list(torch._foreach_norm(group, 2))
    try:
        return list(torch._foreach_norm(group, 2, dtype=torch.float32))  # type: ignore[call-arg]
    except (TypeError, RuntimeError):
        return [torch.linalg.vector_norm(t, dtype=torch.float32) for t in group]


def total_norm(per_tensor: torch.Tensor) -> torch.Tensor:
    """The global L2 norm from per-tensor norms."""
    if per_tensor.numel() == 0:
        return torch.zeros((), dtype=torch.float32)
    return torch.linalg.vector_norm(per_tensor)


def unit_axis(t: torch.Tensor) -> int:
    """Which axis holds the units of an activation: channels of an image batch, features otherwise."""
    return 1 if t.dim() == 4 or t.dim() == 5 else t.dim() - 1


@torch.no_grad()
def dead_fraction(out: torch.Tensor) -> torch.Tensor:
    """Share of units that are not positive for any example of the batch (a dead ReLU outputs 0 for every input)."""
    if out.dim() < 2:
        return (out <= 0).all().float().reshape(())
    ax = unit_axis(out)
    others = tuple(d for d in range(out.dim()) if d != ax)
    alive = torch.amax(out, dim=others) > 0
    return 1.0 - alive.float().mean()


@torch.no_grad()
def saturated_fraction(out: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """Share of outputs within 1% of the range's ends (sigmoid near 0 or 1, tanh near -1 or 1)."""
    if isinstance(module, (nn.Sigmoid, nn.Hardsigmoid)):
        lo, hi = 0.0, 1.0
    elif isinstance(module, nn.Hardtanh):
        lo, hi = float(module.min_val), float(module.max_val)
    else:
        lo, hi = -1.0, 1.0
    edge = (hi - lo) * SATURATION_EDGE
    o = out.float()
    return ((o <= lo + edge) | (o >= hi - edge)).float().mean()


@torch.no_grad()
def mean_std(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation from a sum and a norm (two fast reductions instead of a two-pass variance)."""
    o = out.detach()
    if not o.dtype == torch.float32 and not o.dtype == torch.float64:
        o = o.float()
    n = o.numel()
    if n < 2:
        return o.float().mean(), torch.zeros((), device=o.device)
    total = o.sum(dtype=torch.float64) if o.device.type != "cpu" else o.sum().double()
    sq = torch.linalg.vector_norm(o).double() ** 2
    mean = total / n
    var = (sq / n - mean * mean).clamp_min(0) * (n / (n - 1))
    return mean.float(), var.sqrt().float()


def first_tensor(obj: object, prefer_scalar_loss: bool = True, depth: int = 0) -> torch.Tensor | None:
    """The tensor to follow in a forward's output: a scalar ``loss`` when there is one, else the first float tensor that requires grad."""
    if isinstance(obj, torch.Tensor):
        return obj if obj.is_floating_point() else None
    if depth > 3:
        return None
    if prefer_scalar_loss:
        loss = None
        if isinstance(obj, dict):
            loss = obj.get("loss")
        elif hasattr(obj, "loss") and not isinstance(obj, (list, tuple)):
            loss = getattr(obj, "loss", None)
        if isinstance(loss, torch.Tensor) and loss.numel() == 1 and loss.is_floating_point():
            return loss
    items: list[object]
    if isinstance(obj, dict):
        items = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        items = list(obj)
    elif hasattr(obj, "values") and callable(getattr(obj, "values")):
        try:
            items = list(obj.values())  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            return None
    else:
        return None
    fallback = None
    for it in items:
        t = first_tensor(it, False, depth + 1)
        if t is not None:
            if t.requires_grad:
                return t
            fallback = fallback or t
    return fallback


def cuda_memory(device: torch.device | None) -> dict[str, int]:
    """Allocated, reserved and peak bytes of a CUDA device (host-side counters, no synchronisation)."""
    if device is None or device.type != "cuda" or not torch.cuda.is_available():
        return {}
    return {
        "allocated": int(torch.cuda.memory_allocated(device)),
        "reserved": int(torch.cuda.memory_reserved(device)),
        "peak": int(torch.cuda.max_memory_allocated(device)),
    }
