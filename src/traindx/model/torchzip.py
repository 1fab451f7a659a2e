"""torch zip checkpoints (``torch.save`` since torch 1.6) read without torch and without running code.

A checkpoint is a zip archive ``<name>/data.pkl`` (the pickled object, whose
tensors point to storages by key), ``<name>/data/<key>`` (each storage's raw
bytes, stored uncompressed), ``<name>/byteorder``. ``data.pkl`` is read with
:class:`~traindx.model.unpickle.RestrictedUnpickler`, which rebuilds containers
and tensor references and refuses any other global (:class:`NeedsTrust`), so a
pickled module, ``training_args.bin`` or a malicious file is refused before
anything in it is called. Values are memory-mapped from the storage members.

The model's weights are found in the object: the whole object when it is a
dict of tensors (a state dict), else the dict of tensors under ``state_dict``
(Lightning), ``model``, ``model_state_dict``, ``module`` (DeepSpeed), ``ema``...,
else the largest dict of tensors anywhere in it. An optimizer state
(``state`` + ``param_groups``) is recognised as not being model weights.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .build import RawTensor
from .dtypes import FLOAT_DTYPES, itemsize, numpy_dtype
from .unpickle import NeedsTrust, StorageRef, TensorRef, numpy_array_of, restricted_load

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTO = b"\x80"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a pre-1.6 torch.save file
WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "module", "model_state", "net", "network", "params", "weights", "ema", "ema_model", "model_ema", "generator", "student")
MAX_PICKLE_BYTES = 512 * 1024 * 1024


class FormatError(ValueError):
    """Not a torch checkpoint this reader understands; one-line message."""


class NotWeights(ValueError):
    """A valid checkpoint that holds no model weights (an optimizer state, RNG states, arguments)."""


@dataclass
class TorchCheckpoint:
    path: Path
    prefix: str
    tensors: dict[str, TensorRef]
    container: str = ""  # where the weights were found in the object ("" = the object itself)
    byteorder: str = "little"
    extra: dict[str, Any] = field(default_factory=dict)  # plain values beside the weights (epoch, global_step...)
    _offsets: dict[str, tuple[int, int, bool]] = field(default_factory=dict)  # storage key -> (data offset, size, stored)

    def raw_tensors(self) -> list[RawTensor]:
        out = []
        for name, t in self.tensors.items():
            storage = (t.storage.key, t.offset) if t.storage is not None else None
            trainable = t.requires_grad if t.parameter else None
            out.append(RawTensor(name, t.shape, t.dtype, storage=storage, trainable=trainable))
        return out

    def values(self, name: str) -> np.ndarray | None:
        """The tensor's raw values (memory-mapped when the storage is stored uncompressed), or None."""
        t = self.tensors[name]
        if t.array is not None:
            return t.array
        if t.storage is None:
            return None
        dt = numpy_dtype(t.storage.dtype)
        if dt is None:
            return None
        if self.byteorder == "big":
            dt = dt.newbyteorder(">")
        store = self._storage_array(t.storage, dt)
        if store is None:
            return None
        n = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
        if n == 0:
            return np.zeros(t.shape, dtype=dt)
        extent = t.offset + 1 + sum((s - 1) * st for s, st in zip(t.shape, t.stride) if s > 0)
        if t.offset < 0 or any(st < 0 for st in t.stride) or extent > store.shape[0]:
            return None
        if _contiguous(t.shape, t.stride):
            return store[t.offset : t.offset + n].reshape(t.shape)
        view = np.lib.stride_tricks.as_strided(
            store[t.offset :], shape=t.shape, strides=tuple(s * store.itemsize for s in t.stride), writeable=False
        )
        return view

    def _storage_array(self, ref: StorageRef, dt: np.dtype) -> np.ndarray | None:
        got = self._offsets.get(ref.key)
        if got is None:
            return None
        offset, size, stored = got
        count = size // dt.itemsize
        if count < ref.numel:
            return None
        if stored:
            return np.memmap(self.path, dtype=dt, mode="r", offset=offset, shape=(count,))
        with zipfile.ZipFile(self.path) as z:
            data = z.read(f"{self.prefix}/data/{ref.key}")
        return np.frombuffer(data, dtype=dt, count=count)


def _contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expect = 1
    for s, st in zip(reversed(shape), reversed(stride)):
        if s != 1 and st != expect:
            return False
        expect *= s
    return True


def is_torch_zip(head: bytes) -> bool:
    """A zip whose first member is ``<name>/data.pkl`` (or ``.../version``, ``.../byteorder``: torch writes these first in some versions)."""
    if not head.startswith(ZIP_MAGIC) or len(head) < 30:
        return False
    n = struct.unpack("<H", head[26:28])[0]
    first = head[30 : 30 + n].decode("utf-8", "replace")
    return first.endswith(("/data.pkl", "/version", "/byteorder", "/.format_version", "/.storage_alignment"))


def read(path: Path) -> TorchCheckpoint:
    """Open a torch zip checkpoint; raises :class:`NeedsTrust`, :class:`NotWeights` or :class:`FormatError`."""
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise FormatError(f"not a readable zip archive ({e})") from None
    with z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise FormatError("zip archive without data.pkl: not a torch checkpoint")
        main = min(pkl, key=len)
        prefix = main[: -len("/data.pkl")] if "/" in main else ""
        info = z.getinfo(main)
        if info.file_size > MAX_PICKLE_BYTES:
            raise FormatError(f"data.pkl is {info.file_size:,} bytes: too large to be a checkpoint's object")
        data = z.read(main)
        byteorder = "little"
        bo_name = f"{prefix}/byteorder" if prefix else "byteorder"
        if bo_name in names:
            byteorder = z.read(bo_name).decode("ascii", "replace").strip() or "little"
        offsets: dict[str, tuple[int, int, bool]] = {}
        data_dir = f"{prefix}/data/" if prefix else "data/"
        with open(path, "rb") as raw:
            for zi in z.infolist():
                if zi.filename.startswith(data_dir):
                    key = zi.filename[len(data_dir) :]
                    offsets[key] = (_data_offset(raw, zi), zi.file_size, zi.compress_type == zipfile.ZIP_STORED)
    try:
        obj = restricted_load(data)
    except NeedsTrust:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt pickle must become a one-line reason
        raise FormatError(f"data.pkl could not be unpickled ({type(e).__name__}: {str(e)[:120]})") from None
    tensors, where = find_weights(obj)
    ck = TorchCheckpoint(path=path, prefix=prefix, tensors=tensors, container=where, byteorder=byteorder, _offsets=offsets)
    if isinstance(obj, dict):
        ck.extra = {str(k): v for k, v in obj.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    return ck


def _data_offset(raw: Any, zi: zipfile.ZipInfo) -> int:
    """Where a member's bytes start: after its local header (30 bytes + name + extra)."""
    raw.seek(zi.header_offset)
    hdr = raw.read(30)
    if len(hdr) < 30 or not hdr.startswith(ZIP_MAGIC):
        return -1
    n, m = struct.unpack("<HH", hdr[26:30])
    return zi.header_offset + 30 + n + m


def find_weights(obj: Any) -> tuple[dict[str, TensorRef], str]:
    """The model's tensors in an unpickled object, and where they were found."""
    if _is_optimizer_state(obj):
        raise NotWeights("an optimizer state (state + param_groups), not model weights")
    if isinstance(obj, dict):
        own = _tensor_dict(obj)
        if own and len(own) >= max(1, len(obj) // 2):
            return own, ""
        for k in WEIGHT_KEYS:
            v = obj.get(k)
            if isinstance(v, dict) and not _is_optimizer_state(v):
                got = _tensor_dict(v)
                if got:
                    return got, k
    best: tuple[int, dict[str, TensorRef], str] = (0, {}, "")
    for path, d in _dicts(obj, ""):
        if _is_optimizer_state(d):
            continue
        got = _tensor_dict(d)
        size = sum(_numel(t) for t in got.values())
        if size > best[0]:
            best = (size, got, path)
    if best[0]:
        return best[1], best[2]
    if isinstance(obj, (list, tuple)):
        got = {str(i): t for i, t in enumerate(obj) if isinstance(_as_tensor(t), TensorRef)}
        if got:
            return {k: _as_tensor(v) for k, v in got.items()}, ""  # type: ignore[misc]
    raise NotWeights("no tensors found (" + _describe(obj) + ")")


def _as_tensor(v: Any) -> TensorRef | None:
    if isinstance(v, TensorRef):
        return v
    arr = numpy_array_of(v)
    if arr is not None and arr.dtype.kind in "fiub" and arr.ndim >= 1:
        return TensorRef(None, 0, tuple(arr.shape), tuple(s // max(1, arr.itemsize) for s in arr.strides), array=arr)
    return None


def _tensor_dict(d: dict[Any, Any]) -> dict[str, TensorRef]:
    """The tensors of ``d``, when at least one is floating point (RNG states and index tensors are not weights)."""
    out = {}
    for k, v in d.items():
        t = _as_tensor(v)
        if t is not None:
            out[str(k)] = t
    if not any(t.dtype in FLOAT_DTYPES for t in out.values()):
        return {}
    return out


def _dicts(obj: Any, path: str, depth: int = 0) -> Iterator[tuple[str, dict[Any, Any]]]:
    if depth > 6:
        return
    if isinstance(obj, dict):
        yield path, obj
        for k, v in obj.items():
            if isinstance(v, (dict, list, tuple)):
                yield from _dicts(v, f"{path}.{k}" if path else str(k), depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj[:64]):
            if isinstance(v, (dict, list, tuple)):
                yield from _dicts(v, f"{path}[{i}]", depth + 1)


def _is_optimizer_state(obj: Any) -> bool:
    return isinstance(obj, dict) and "param_groups" in obj and "state" in obj


def _numel(t: TensorRef) -> int:
    n = 1
    for s in t.shape:
        n *= s
    return n


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        keys = ", ".join(sorted(str(k) for k in obj)[:6])
        return f"a dict with keys {keys}" + ("..." if len(obj) > 6 else "")
    return f"a {type(obj).__name__}"


def storage_bytes(ref: StorageRef) -> int:
    return int(ref.numel * itemsize(ref.dtype))
