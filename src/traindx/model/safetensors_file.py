"""safetensors files read from their header alone; values by memory map, without torch.

Layout (the format's own spec): an unsigned 64-bit little-endian header length
``n``, then ``n`` bytes of JSON ``{name: {"dtype", "shape", "data_offsets": [begin,
end]}, "__metadata__": {...}}``, then the data; offsets count from the end of the
header. A sharded model has ``model.safetensors.index.json`` whose ``weight_map``
names the shard of every tensor. Reading a header takes well under a millisecond
for a multi-GB file (FORMATS.md §8): nothing but the header is touched until a
value is asked for, and then only that tensor's bytes are mapped.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .build import RawTensor
from .dtypes import DTYPES, itemsize, numpy_dtype

MAX_HEADER_BYTES = 100_000_000  # the format's own limit


class FormatError(ValueError):
    """The file is not what its name says; the message is one line."""


@dataclass
class SafetensorsFile:
    path: Path
    data_start: int
    entries: dict[str, dict[str, Any]]
    metadata: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def raw_tensors(self) -> list[RawTensor]:
        return [RawTensor(name, tuple(e["shape"]), e["dtype"], storage=(self.path.name, e["data_offsets"][0])) for name, e in self.entries.items()]

    def values(self, name: str) -> np.ndarray | None:
        """The raw values of tensor ``name`` (memory-mapped, read-only), or None for a dtype numpy cannot hold."""
        e = self.entries[name]
        dt = numpy_dtype(e["dtype"])
        if dt is None:
            return None
        shape = tuple(int(d) for d in e["shape"])
        begin = self.data_start + int(e["data_offsets"][0])
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if n == 0:
            return np.zeros(shape, dtype=dt)
        return np.memmap(self.path, dtype=dt, mode="r", offset=begin, shape=shape if shape else (1,))


def sniff_bytes(head: bytes) -> bool:
    """True when ``head`` starts like a safetensors file: a sane header length, then ``{``."""
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= MAX_HEADER_BYTES and head[8:9] == b"{"


def read_header(path: Path) -> SafetensorsFile:
    """Parse the header; raises :class:`FormatError` when the file is not a valid safetensors file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise FormatError("too short for a safetensors file (no header length)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES or n > size - 8:
            raise FormatError(f"header length {n:,} bytes does not fit the file ({size:,} bytes): not a safetensors file or truncated")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"header is not valid JSON ({e.__class__.__name__}): corrupt or truncated") from None
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object")
    data_start = 8 + n
    data_len = size - data_start
    meta = header.pop("__metadata__", None)
    out = SafetensorsFile(path=path, data_start=data_start, entries={}, metadata=meta if isinstance(meta, dict) else {})
    for name, e in header.items():
        why = _bad_entry(e, data_len)
        if why:
            out.problems.append(f"tensor {name!r}: {why}")
            continue
        out.entries[name] = e
    if header and not out.entries:
        raise FormatError("no readable tensor entry in the header: " + "; ".join(out.problems[:2]))
    return out


def _bad_entry(e: Any, data_len: int) -> str:
    if not isinstance(e, dict):
        return "entry is not an object"
    dtype, shape, offs = e.get("dtype"), e.get("shape"), e.get("data_offsets")
    if dtype not in DTYPES:
        return f"unknown dtype {dtype!r}"
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        return f"bad shape {shape!r}"
    if not (isinstance(offs, list) and len(offs) == 2 and all(isinstance(o, int) for o in offs)):
        return f"bad data_offsets {offs!r}"
    begin, end = offs
    if not 0 <= begin <= end <= data_len:
        return f"data_offsets {offs} outside the data section ({data_len:,} bytes): the file is truncated"
    numel = 1
    for d in shape:
        numel *= d
    if int(numel * itemsize(dtype)) != end - begin:
        return f"shape {shape} of {dtype} needs {int(numel * itemsize(dtype)):,} bytes, the offsets give {end - begin:,}"
    return ""


def read_index(path: Path) -> dict[str, str]:
    """The ``weight_map`` of a sharded model's index file: tensor name -> shard file name."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"index is not valid JSON ({e.__class__.__name__})") from None
    wm = obj.get("weight_map") if isinstance(obj, dict) else None
    if not isinstance(wm, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in wm.items()):
        raise FormatError("index has no weight_map of tensor name -> shard file")
    return wm
