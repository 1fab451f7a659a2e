"""``torch.load(weights_only=True)``: for the checkpoints the torch-free reader cannot open (pre-1.6 files).

torch's own safe loader allows tensors, containers and a fixed list of
types; a file that needs anything else fails with ``UnpicklingError: Weights
only load failed ... Unsupported global: GLOBAL x.y``, and this module turns
that into :class:`~traindx.model.unpickle.NeedsTrust` naming ``x.y``. There is
no fallback to ``weights_only=False``: traindx never runs code from a checkpoint
(FORMATS.md §8: report "needs trust" instead).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .build import RawTensor
from .dtypes import TORCH_DTYPES
from .unpickle import NeedsTrust

_GLOBAL = re.compile(r"(?:GLOBAL|global)\s+([\w.]+)")


class TorchMissing(RuntimeError):
    """torch is not installed; the message says how to get it."""


def load(path: Path) -> Any:
    """The object in ``path``, loaded by torch with ``weights_only=True`` on the CPU."""
    try:
        import torch
    except ImportError:
        raise TorchMissing("this checkpoint is in torch's pre-1.6 format, which needs torch to read: pip install 'traindx[torch]'") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - every refusal or corruption becomes one line
        msg = str(e)
        if "weights_only" in msg.lower() or "Unsupported global" in msg or "UnpicklingError" in type(e).__name__:
            m = _GLOBAL.search(msg)
            raise NeedsTrust(m.group(1) if m else "an object outside torch's weights-only allowlist") from None
        raise ValueError(f"torch.load failed ({type(e).__name__}: {msg.splitlines()[0][:160] if msg else ''})") from None


def tensors_of(obj: Any) -> dict[str, Any]:
    """The torch tensors of a loaded state dict (or of the dict of tensors inside a checkpoint)."""
    import torch

    from .torchzip import WEIGHT_KEYS

    def tdict(d: Any) -> dict[str, Any]:
        if not isinstance(d, dict):
            return {}
        got = {str(k): v for k, v in d.items() if isinstance(v, torch.Tensor)}
        return got if any(v.is_floating_point() for v in got.values()) else {}

    own = tdict(obj)
    if own and isinstance(obj, dict) and len(own) >= max(1, len(obj) // 2):
        return own
    if isinstance(obj, dict):
        for k in WEIGHT_KEYS:
            got = tdict(obj.get(k))
            if got:
                return got
    return own


def raw_tensors(tensors: dict[str, Any]) -> list[RawTensor]:
    out = []
    for name, t in tensors.items():
        dtype = TORCH_DTYPES.get(str(t.dtype).removeprefix("torch."), "F32")
        try:
            storage = (t.untyped_storage().data_ptr(), t.storage_offset())
        except Exception:  # noqa: BLE001 - meta or sparse tensors have no storage pointer
            storage = None
        out.append(RawTensor(name, tuple(t.shape), dtype, storage=storage))
    return out


def values(t: Any) -> np.ndarray | None:
    """A float tensor's values as a numpy array (bf16 widened to float32), or None."""
    import torch

    if not t.is_floating_point() or t.is_sparse:
        return None
    if t.dtype in (torch.bfloat16, torch.float16) or t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    return t.detach().cpu().numpy()
