"""Turn raw tensor records (name, shape, dtype, storage identity) into grouped :class:`ParamTensor` entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Iterable

from .groups import group_of, is_buffer, layer_of, norm_modules
from .summary import ParamTensor


@dataclass(frozen=True)
class RawTensor:
    """A tensor as a checkpoint lists it; ``storage`` identifies its memory (equal storages alias)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    storage: Hashable | None = None
    trainable: bool | None = None


def build_tensors(raw: Iterable[RawTensor]) -> list[ParamTensor]:
    """Group every tensor; a tensor whose storage an earlier one already has becomes ``tied_to`` it."""
    items = list(raw)
    norms = norm_modules([r.name for r in items])
    first_of: dict[Any, str] = {}
    out: list[ParamTensor] = []
    for r in items:
        buf = is_buffer(r.name, r.shape)
        tied = None
        if r.storage is not None and not buf:
            key = (r.storage, r.shape)
            if key in first_of:
                tied = first_of[key]
            else:
                first_of[key] = r.name
        out.append(
            ParamTensor(
                name=r.name,
                shape=tuple(int(d) for d in r.shape),
                dtype=r.dtype,
                group=group_of(r.name, r.shape, norms),
                layer=layer_of(r.name),
                buffer=buf,
                tied_to=tied,
                trainable=r.trainable,
            )
        )
    return out


def strip_prefix(names: list[str]) -> str:
    """A wrapper prefix every name shares (``module.``, ``_orig_mod.``, ``model.`` of a Lightning module), or ''."""
    for pre in ("module.", "_orig_mod.", "_forward_module.", "model.module.", "net."):
        if names and all(n.startswith(pre) for n in names):
            return pre
    return ""
