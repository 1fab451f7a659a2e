"""TFRecord framing of TensorBoard event files: its constants, CRCs, and writing a record.

Each record is ``uint64 length (LE) | uint32 masked crc32c(length bytes) |
data | uint32 masked crc32c(data)``, with ``mask(c) = ((c >> 15) | (c << 17))
+ 0xa282ead8 mod 2**32`` (FORMATS.md §1). A file still being written ends
inside a record: reading (:meth:`.tensorboard_events.EventReader.scan`) stops
there with an issue, never an exception.

CRCs are checked when ``google_crc32c`` is installed (a C implementation);
the pure-Python CRC-32C here is only for writing a record or two
(:func:`encode_record`), far too slow to check a whole file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

CHUNK = 1 << 22
MAX_RECORD = 1 << 31  # a longer length field means the framing is corrupt
U64 = struct.Struct("<Q")
U32 = struct.Struct("<I")

Crc = Callable[[bytes], int]


def _table() -> list[int]:
    out = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        out.append(c)
    return out


_CRC32C_TABLE = _table()


def crc32c_py(data: bytes) -> int:
    """CRC-32C (Castagnoli), table-driven pure Python: for the few records traindx writes."""
    crc = 0xFFFFFFFF
    t = _CRC32C_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(crc: Crc, data: bytes) -> int:
    c = crc(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def crc_function() -> Crc | None:
    """``google_crc32c.value`` when installed, else None (CRCs are then not checked)."""
    try:
        import google_crc32c
    except ImportError:
        return None
    return google_crc32c.value  # type: ignore[no-any-return]


def encode_record(data: bytes, crc: Crc | None = None) -> bytes:
    """One framed record, CRCs included (for writing an event file)."""
    fn = crc or crc_function() or crc32c_py
    head = U64.pack(len(data))
    return head + U32.pack(masked_crc(fn, head)) + data + U32.pack(masked_crc(fn, data))
