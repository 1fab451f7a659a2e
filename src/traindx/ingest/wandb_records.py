"""The framing of W&B ``run-*.wandb`` files: a LevelDB log of protobuf records.

Layout (FORMATS.md §6, measured on wandb 0.16 and 0.31 files):

- a 7-byte file header: ``":W&B"``, uint16 ``0xBEE1`` (little-endian), and a
  format version byte (0 is the only one known);
- then 32 KiB blocks (counted from the start of the file, header included).
  Each record is ``uint32 crc | uint16 length | uint8 type`` and ``length``
  payload bytes; type 1 is a whole record, 2/3/4 the first, middle and last
  fragment of one that spans blocks. A block tail shorter than a record header
  is zero padding.
- The CRC is zlib's CRC-32 of the payload, seeded with the CRC-32 of the type
  byte (not the masked CRC-32C of LevelDB proper).

A file that ends inside a record (a run still writing, a process killed) ends
reading with an issue. A record whose CRC does not match is dropped with the
rest of its block, as LevelDB does, and reading goes on at the next block.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from .part import Part, ReadError

MAGIC = b":W&B"
IDENT = 0xBEE1
VERSION = 0
FILE_HEADER = 7
BLOCK = 32 * 1024
RECORD_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
_HEAD = struct.Struct("<IHB")
_FILE = struct.Struct("<4sHB")
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (FULL, FIRST, MIDDLE, LAST)}
MAX_CRC_ISSUES = 5


def check_header(head: bytes) -> None:
    """Raise ReadError unless ``head`` starts a .wandb file of a known version."""
    if len(head) < FILE_HEADER:
        raise ReadError("not a W&B run file: shorter than its 7-byte header")
    magic, ident, version = _FILE.unpack_from(head, 0)
    if magic != MAGIC or ident != IDENT:
        raise ReadError("not a W&B run file: no ':W&B' header")
    if version != VERSION:
        raise ReadError(
            f"W&B run file format version {version} is newer than this traindx reads (version {VERSION}); "
            "update traindx, or point it at the run's files/output.log"
        )


def iter_payloads(f: BinaryIO, part: Part) -> Iterator[bytes]:
    """The payload of each whole record, in file order."""
    data = f.read()
    check_header(data)
    n = len(data)
    pos = FILE_HEADER
    pending: list[bytes] | None = None
    bad = 0
    while pos < n:
        left = BLOCK - pos % BLOCK
        if left < RECORD_HEADER:
            pos += left  # zero padding at the end of a block
            continue
        if pos + RECORD_HEADER > n:
            part.issue(f"file ends inside a record header at byte {pos:,} (a run still writing, or killed); reading stopped")
            return
        crc, length, kind = _HEAD.unpack_from(data, pos)
        if kind == 0 and length == 0:
            pos += left  # an unused, zero-filled block tail
            continue
        start = pos + RECORD_HEADER
        end = start + length
        if end > n:
            part.issue(f"file ends inside a record at byte {pos:,} (a run still writing, or killed); reading stopped")
            return
        if kind not in _TYPE_CRC or end > pos + left:
            bad += 1
            if bad <= MAX_CRC_ISSUES:
                part.issue(f"corrupt record header at byte {pos:,}; rest of its block skipped")
            pos += left
            pending = None
            continue
        payload = data[start:end]
        if zlib.crc32(payload, _TYPE_CRC[kind]) != crc:
            bad += 1
            if bad <= MAX_CRC_ISSUES:
                part.issue(f"record CRC mismatch at byte {pos:,}; rest of its block skipped")
            pos += left
            pending = None
            continue
        pos = end
        if kind == FULL:
            pending = None
            yield payload
        elif kind == FIRST:
            pending = [payload]
        elif pending is not None:
            pending.append(payload)
            if kind == LAST:
                joined = b"".join(pending)
                pending = None
                yield joined
    if pending is not None:
        part.issue("file ends inside a record split across blocks (a run still writing, or killed)")
    if bad > MAX_CRC_ISSUES:
        part.issue(f"{bad} corrupt records in all; the rest of each one's block was skipped")
