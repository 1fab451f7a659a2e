"""What a TensorBoard ``Summary.Value`` holds besides a simple scalar: tensors and histograms.

Field numbers (TensorFlow's ``summary.proto``, ``tensor.proto``,
``histogram.proto`` and TensorBoard's hparams ``plugin_data.proto``):

- ``SummaryMetadata{plugin_data=1{plugin_name=1, content=2}, data_class=4}``
- ``TensorProto{dtype=1, tensor_shape=2{dim=2{size=1}}, tensor_content=4,
  float_val=5, double_val=6, int_val=7, string_val=8, int64_val=10, half_val=13}``
- ``HistogramProto{min=1, max=2, num=3, sum=4, sum_squares=5,
  bucket_limit=6, bucket=7}`` (old style); the new style is a ``[k, 3]``
  double tensor of ``(left edge, right edge, count)`` rows under the
  ``histograms`` plugin.

Text and hparams are in :mod:`.tensorboard_text`.
Everything here is pure: bytes in, numbers or strings out; a malformed message
raises :class:`~.protowire.Malformed` for the caller to count.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Any

from .protowire import F32, F64, Malformed, Span, doubles, fields, int64, text, varint

# TensorProto dtypes read as numbers: dtype -> (struct format of one tensor_content element, size)
CONTENT = {1: ("<f", 4), 2: ("<d", 8), 3: ("<i", 4), 9: ("<q", 8), 19: ("<e", 2), 14: (None, 2)}
DT_STRING = 7
# |x| at or below this counts as zero when histogram buckets resolve it
ZERO_TOL = 1e-10


def plugin(buf: bytes, s: int, e: int) -> tuple[str, Span | None]:
    """(plugin name, span of its content) of a SummaryMetadata; data_class SCALAR counts as ``scalars``."""
    name = ""
    content: Span | None = None
    for fn, wt, v in fields(buf, s, e):
        if fn == 1 and wt == 2:
            for fn2, wt2, v2 in fields(buf, v[0], v[1]):
                if fn2 == 1 and wt2 == 2:
                    name = text(buf, v2)
                elif fn2 == 2 and wt2 == 2:
                    content = v2
        elif fn == 4 and wt == 0 and v == 1 and not name:
            name = "scalars"
    return name, content


@dataclass
class Tensor:
    """The parts of a TensorProto this reader uses."""

    dtype: int = 0
    dims: tuple[int, ...] = ()
    content: Span | None = None
    first: float | None = None  # first numeric *_val element
    doubles: list[float] | None = None  # every double_val element (histogram tensors)
    strings: list[bytes] | None = None

    @property
    def size(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


def tensor(buf: bytes, s: int, e: int) -> Tensor:
    t = Tensor()
    dims: list[int] = []
    for fn, wt, v in fields(buf, s, e):
        if fn == 1 and wt == 0:
            t.dtype = v
        elif fn == 2 and wt == 2:
            for fn2, wt2, v2 in fields(buf, v[0], v[1]):
                if fn2 == 2 and wt2 == 2:
                    size = 1
                    for fn3, wt3, v3 in fields(buf, v2[0], v2[1]):
                        if fn3 == 1 and wt3 == 0:
                            size = int64(v3)
                    dims.append(size)
        elif fn == 4 and wt == 2:
            t.content = v
        elif fn == 8 and wt == 2:
            if t.strings is None:
                t.strings = []
            t.strings.append(bytes(buf[v[0] : v[1]]))
        elif fn == 6:
            if t.doubles is None:
                t.doubles = []
            t.doubles.extend(doubles(buf, wt, v))
            if t.first is None and t.doubles:
                t.first = t.doubles[0]
        elif t.first is None:
            t.first = _typed_value(buf, fn, wt, v)
    t.dims = tuple(dims)
    return t


def scalar(buf: bytes, t: Tensor) -> float | None:
    """The value of a one-element numeric tensor, else None."""
    if t.size != 1 or t.dtype not in CONTENT:
        return None
    fmt, size = CONTENT[t.dtype]
    if t.content is not None and t.content[1] - t.content[0] >= size:
        if fmt is None:  # bfloat16: the top half of a float32
            return F32.unpack(b"\x00\x00" + bytes(buf[t.content[0] : t.content[0] + 2]))[0]
        return float(struct.unpack_from(fmt, buf, t.content[0])[0])
    val = t.first
    if val is not None and t.dtype in (14, 19):  # half_val holds the 16 bits as an int
        bits = int(val)
        if t.dtype == 19:
            return float(struct.unpack("<e", struct.pack("<H", bits & 0xFFFF))[0])
        return F32.unpack(struct.pack("<I", (bits & 0xFFFF) << 16))[0]
    return val


def _typed_value(buf: bytes, fn: int, wt: int, v: Any) -> float | None:
    """The first element of float_val(5), int_val(7), int64_val(10) or half_val(13)."""
    if fn == 5:
        if wt == 5:
            return F32.unpack_from(buf, v)[0]
        if wt == 2 and v[1] - v[0] >= 4:
            return F32.unpack_from(buf, v[0])[0]
    elif fn in (7, 10, 13):
        if wt == 0:
            x = v
        elif wt == 2 and v[1] > v[0]:
            x, _ = varint(buf, v[0])
        else:
            return None
        return float(int64(x))
    return None


def strings(t: Tensor) -> list[str]:
    """The text of a string tensor (``tf.summary.text``, ``add_text``)."""
    if t.dtype != DT_STRING or not t.strings:
        return []
    return [s.decode("utf-8", errors="replace") for s in t.strings]


# ---------------------------------------------------------------- histograms


@dataclass(frozen=True)
class HistStats:
    """What a histogram tells exactly: the L2 norm (old style only) and the share of zeros when buckets resolve it."""

    norm: float | None
    zero_frac: float | None


def histo_proto(buf: bytes, s: int, e: int) -> HistStats | None:
    """An old-style HistogramProto: norm = sqrt(sum_squares); zeros from the buckets when they allow."""
    lo = hi = num = sumsq = 0.0
    limits: list[float] = []
    counts: list[float] = []
    for fn, wt, v in fields(buf, s, e):
        if fn in (1, 2, 3, 5) and wt == 1:
            x = F64.unpack_from(buf, v)[0]
            if fn == 1:
                lo = x
            elif fn == 2:
                hi = x
            elif fn == 3:
                num = x
            else:
                sumsq = x
        elif fn == 6:
            limits.extend(doubles(buf, wt, v))
        elif fn == 7:
            counts.extend(doubles(buf, wt, v))
    if not num > 0:
        return None
    rows = []
    prev = lo
    for limit, count in zip(limits, counts):
        rows.append((max(prev, lo), min(limit, hi), count))
        prev = limit
    norm = math.sqrt(sumsq) if sumsq >= 0 else None
    return HistStats(norm, zero_fraction(rows, num, lo, hi))


def histo_tensor(buf: bytes, t: Tensor) -> HistStats | None:
    """A new-style ``[k, 3]`` histogram tensor (no sum of squares, so no norm)."""
    if len(t.dims) != 2 or t.dims[1] != 3:
        return None
    if t.content is not None and t.dtype in (1, 2):
        fmt, size = CONTENT[t.dtype]
        n = (t.content[1] - t.content[0]) // size
        flat = list(struct.unpack_from(f"<{n}{fmt[1]}", buf, t.content[0]))
    elif t.doubles is not None:
        flat = t.doubles
    else:
        return None
    rows = [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat) - 2, 3)]
    num = sum(c for _, _, c in rows)
    if not num > 0:
        return None
    lo = min(r[0] for r in rows if r[2] > 0)
    hi = max(r[1] for r in rows if r[2] > 0)
    return HistStats(None, zero_fraction(rows, num, lo, hi))


def zero_fraction(rows: list[tuple[float, float, float]], num: float, lo: float, hi: float) -> float | None:
    """Share of values within ``ZERO_TOL`` of zero, or None when a wide bucket holds zero and others.

    ``rows`` are (left edge, right edge, count). Exact when every value has
    one sign; otherwise it needs the buckets around zero to be narrow, as with
    the default exponential buckets of TensorFlow, torch and tensorboardX.
    """
    if lo == hi == 0.0:
        return 1.0
    zero = 0.0
    for left, right, count in rows:
        if not count > 0:
            continue
        if -ZERO_TOL <= left and right <= ZERO_TOL:
            zero += count
        elif left <= 0.0 <= right:
            return None  # a wide bucket holds both zeros and other values
    return min(1.0, zero / num)


GRAD_WORDS = frozenset({"grad", "grads", "gradient", "gradients"})
ACT_WORDS = frozenset({"act", "acts", "activation", "activations"})
WEIGHT_WORDS = frozenset({"weight", "weights", "param", "params", "parameter", "parameters", "kernel", "bias"})
WEIGHT_PREFIX = frozenset({"weight", "weights", "param", "params", "parameter", "parameters"})
_SEP = re.compile(r"([/._\-: ]+)")


def histogram_names(tag: str) -> tuple[str, str]:
    """(norm series, zero-fraction series) for a histogram tag.

    ``grad/fc1.weight``, ``fc1.weight.grad`` and ``gradients/fc1.weight`` give
    ``grad_norm/fc1.weight`` and ``grad_zero_frac/fc1.weight``; activation
    histograms give ``act_norm/<layer>`` and ``act_zero_frac/<layer>`` (zeros
    after a ReLU are dead units); parameter histograms (``fc1.weight``,
    ``weights/fc1``, Keras ``dense/kernel_0``) give ``weight_norm/<layer>``
    and ``weight_zero_frac/<layer>`` (a Keras ``/histogram`` suffix is dropped); anything else ``hist_norm/<tag>`` and
    ``hist_zero_frac/<tag>``.
    """
    for suffix in ("/histogram", "_histogram", "/histograms"):
        if tag.endswith(suffix) and len(tag) > len(suffix):
            tag = tag[: -len(suffix)]
    parts = _SEP.split(tag)
    tokens = {p.lower() for p in parts[::2] if p}
    if tokens & GRAD_WORDS:
        kind, layer = "grad", _drop_words(parts, GRAD_WORDS)
    elif tokens & ACT_WORDS:
        kind, layer = "act", _drop_words(parts, ACT_WORDS)
    elif tokens & WEIGHT_WORDS:
        kind = "weight"
        layer = tag
        if len(parts) > 2 and parts[0].lower() in WEIGHT_PREFIX and parts[1] == "/":
            layer = "".join(parts[2:])
    else:
        kind, layer = "hist", tag
    layer = layer or tag
    return f"{kind}_norm/{layer}", f"{kind}_zero_frac/{layer}"


def _drop_words(parts: list[str], words: frozenset[str]) -> str:
    """The tag without the given words and one separator next to each."""
    tokens = parts[::2]
    seps = parts[1::2]
    keep: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.lower() in words:
            continue
        if keep and i > 0:
            keep.append(seps[i - 1])
        keep.append(tok)
    return "".join(keep).strip("/._-: ")


__all__ = [
    "HistStats",
    "Malformed",
    "Tensor",
    "histo_proto",
    "histo_tensor",
    "histogram_names",
    "plugin",
    "scalar",
    "strings",
    "tensor",
    "zero_fraction",
]
