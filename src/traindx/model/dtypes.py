"""Tensor dtypes by name: their size in bytes and, where numpy can hold them, how to read them.

Names are the safetensors spelling (``F32``, ``BF16``...); torch storage types
and torch dtype names map onto them. ``BF16`` has no numpy dtype: its values are
read as ``uint16`` and widened to ``float32`` (the top 16 bits of an fp32).
"""

from __future__ import annotations

import numpy as np

# name -> (bytes per element, numpy dtype string or None when numpy cannot read it directly)
DTYPES: dict[str, tuple[float, str | None]] = {
    "F64": (8, "<f8"),
    "F32": (4, "<f4"),
    "F16": (2, "<f2"),
    "BF16": (2, "<u2"),  # widened by :func:`to_float32`
    "F8_E4M3": (1, None),
    "F8_E5M2": (1, None),
    "I64": (8, "<i8"),
    "I32": (4, "<i4"),
    "I16": (2, "<i2"),
    "I8": (1, "i1"),
    "U64": (8, "<u8"),
    "U32": (4, "<u4"),
    "U16": (2, "<u2"),
    "U8": (1, "u1"),
    "BOOL": (1, "?"),
    "C64": (8, "<c8"),
    "C128": (16, "<c16"),
    "F4": (0.5, None),
}

FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F4"})

# torch legacy storage class names (as pickled by torch.save) -> dtype name
STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "F64",
    "FloatStorage": "F32",
    "HalfStorage": "F16",
    "BFloat16Storage": "BF16",
    "LongStorage": "I64",
    "IntStorage": "I32",
    "ShortStorage": "I16",
    "CharStorage": "I8",
    "ByteStorage": "U8",
    "BoolStorage": "BOOL",
    "ComplexFloatStorage": "C64",
    "ComplexDoubleStorage": "C128",
    "Float8_e4m3fnStorage": "F8_E4M3",
    "Float8_e5m2Storage": "F8_E5M2",
}

# torch dtype names (``torch.float32`` -> ``float32``) -> dtype name
TORCH_DTYPES: dict[str, str] = {
    "float64": "F64",
    "double": "F64",
    "float32": "F32",
    "float": "F32",
    "float16": "F16",
    "half": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "long": "I64",
    "int32": "I32",
    "int": "I32",
    "int16": "I16",
    "short": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
    "complex64": "C64",
    "complex128": "C128",
    "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2",
}

# dtype names people write in configs and on the command line -> dtype name
ALIASES: dict[str, str] = {
    **{k: v for k, v in TORCH_DTYPES.items()},
    "fp32": "F32",
    "fp16": "F16",
    "bf16": "BF16",
    "fp64": "F64",
    "f32": "F32",
    "f16": "F16",
    "fp8": "F8_E4M3",
    "int4": "F4",
}


def itemsize(dtype: str) -> float:
    """Bytes per element (0.5 for 4-bit types); 4 for an unknown name."""
    return DTYPES.get(dtype, (4, None))[0]


def normalize(name: str | None) -> str | None:
    """``torch.bfloat16``, ``bf16``, ``BF16`` -> ``BF16``; None when unknown."""
    if not name:
        return None
    n = str(name).strip()
    if n.upper() in DTYPES:
        return n.upper()
    n = n.lower().removeprefix("torch.")
    return ALIASES.get(n)


def numpy_dtype(dtype: str) -> np.dtype | None:
    got = DTYPES.get(dtype)
    if got is None or got[1] is None:
        return None
    return np.dtype(got[1])


def to_float32(raw: np.ndarray, dtype: str) -> np.ndarray | None:
    """Values of a float tensor as float32 (BF16 widened; F64 kept as float64); None for types numpy cannot read."""
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    if dtype in ("F32", "F16"):
        return raw.astype(np.float32, copy=False)
    if dtype == "F64":
        return raw.astype(np.float64, copy=False)
    return None
