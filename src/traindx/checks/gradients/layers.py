"""Per-layer series (``grad_norm/<layer>``, ``dead_frac/<layer>``) in input-to-output order."""

from __future__ import annotations

import re

from ...run import Run, Series

GLOBAL_GRAD = ("grad_norm", "grad_norm/pre_clip", "grad_norm/post_clip")
_NUM = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """``layer_2`` before ``layer_10``: numbers compare as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in _NUM.split(name))


def per_layer(run: Run, prefix: str, exclude: tuple[str, ...] = ()) -> list[Series]:
    """Series named ``<prefix>/<layer>`` in natural order of the layer name (the input side first);
    only the ``.weight`` ones when per-parameter norms include biases."""
    out = [s for name, s in run.series.items() if name.startswith(prefix + "/") and name not in exclude and len(s)]
    # per-parameter norms: compare weight matrices, not biases, when the weights are there
    weights = [s for s in out if s.name.endswith(".weight")]
    if len(weights) >= 2:
        out = weights
    out.sort(key=lambda s: natural_key(s.name[len(prefix) + 1 :]))
    return out


def global_grad(run: Run) -> Series | None:
    return run.first(*GLOBAL_GRAD)
