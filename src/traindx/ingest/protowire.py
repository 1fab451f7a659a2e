"""The protobuf wire format by hand: enough to decode TensorBoard events and W&B records, and to encode an event.

A message is a run of ``key | value`` fields where ``key = field_number << 3 |
wire_type``: wire type 0 is a varint, 1 eight little-endian bytes, 2 a
varint length and that many bytes (strings, bytes, sub-messages, packed
repeated numbers), 5 four bytes. Nothing here knows a schema: callers pick
the field numbers they need and skip the rest, so newer writers that add
fields still read. Length-delimited values are returned as ``(start, end)``
offsets into the buffer, never copied.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

F32 = struct.Struct("<f")
F64 = struct.Struct("<d")

Span = tuple[int, int]


class Malformed(Exception):
    """Bytes that do not decode as a protobuf message."""


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise Malformed("varint too long")


def fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message.

    A varint is its integer; a fixed64/fixed32 field is the offset of its
    bytes; a length-delimited field is its ``(start, end)`` span.
    """
    pos = start
    while pos < end:
        key, pos = varint(buf, pos)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = varint(buf, pos)
            yield fn, wt, v
        elif wt == 2:
            n, pos = varint(buf, pos)
            if pos + n > end:
                raise Malformed("field runs past its message")
            yield fn, wt, (pos, pos + n)
            pos += n
        elif wt == 5:
            yield fn, wt, pos
            pos += 4
        elif wt == 1:
            yield fn, wt, pos
            pos += 8
        else:
            raise Malformed(f"wire type {wt}")
    if pos != end:
        raise Malformed("message runs past its end")


def int64(v: int) -> int:
    """A varint read as a signed 64-bit integer (negative numbers are sign-extended)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def sint64(v: int) -> int:
    """A zigzag-encoded ``sint64``."""
    return (v >> 1) ^ -(v & 1)


def text(buf: bytes, span: Span) -> str:
    return bytes(buf[span[0] : span[1]]).decode("utf-8", errors="replace")


def doubles(buf: bytes, wt: int, v: Any) -> list[float]:
    """The values of a repeated ``double`` field occurrence: packed (wire type 2) or one value."""
    if wt == 1:
        return [F64.unpack_from(buf, v)[0]]
    if wt == 2:
        n = (v[1] - v[0]) // 8
        return list(struct.unpack_from(f"<{n}d", buf, v[0])) if n else []
    return []


# ---------------------------------------------------------------- encoding (for the few records traindx writes)


def enc_varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def enc_int(number: int, n: int) -> bytes:
    """A varint field."""
    return enc_varint(number << 3) + enc_varint(n)


def enc_double(number: int, x: float) -> bytes:
    """A ``double`` field."""
    return enc_varint(number << 3 | 1) + F64.pack(x)


def enc_bytes(number: int, data: bytes | str) -> bytes:
    """A length-delimited field (bytes, a string, or an encoded sub-message)."""
    raw = data.encode() if isinstance(data, str) else data
    return enc_varint(number << 3 | 2) + enc_varint(len(raw)) + raw
