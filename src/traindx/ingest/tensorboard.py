"""TensorBoard event files (``events.out.tfevents.*``): scalar series, standard library only.

Layout (TFRecord framing, see FORMATS.md §1): each record is ``uint64 length |
uint32 masked crc32c(length) | data | uint32 masked crc32c(data)``, and the
data is a serialized ``Event`` protobuf: ``wall_time``=1 (double), ``step``=2
(int64), ``summary``=5 → ``Summary.value``=1 → ``Value{tag=1,
simple_value=2 (float), histo=5, tensor=8, metadata=9}``.

Scalars come in two encodings and both are read:

- old style ``simple_value`` (torch ``SummaryWriter``, tensorboardX, TF1);
- new style ``tensor`` (TF2/Keras, torch ``new_style=True``): a rank-0
  ``TensorProto`` with ``float_val``/``double_val``/``half_val``/``int_val`` or
  a 2/4/8-byte ``tensor_content``, under the ``scalars`` plugin. The plugin
  name is written with the first value of a tag only, so it is remembered per
  tag; histograms, images, text and graphs are skipped.

A small wire decoder does the work, with a fast path for the common
``simple_value`` record. A file that ends inside a record (a run still
writing, a copy cut short) ends reading with an issue. CRCs are checked only
when ``google_crc32c`` is installed. A file has no lines, so points carry
line 0 and evidence quotes ``file#step``. A tag without a split of its own
takes it from the folder (``train/``, ``validation/``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from . import names
from .part import Part, ReadError, SeriesBuilder, Source

NAME = "tensorboard"
RANK = 85

CHUNK = 1 << 22
MAX_RECORD = 1 << 31  # a longer length field means the framing is corrupt
FOLDER_SPLITS = {
    "train": "train",
    "training": "train",
    "validation": "val",
    "val": "val",
    "valid": "val",
    "eval": "val",
    "evaluation": "val",
    "test": "test",
}
# TensorProto dtypes read as numbers: dtype -> (struct format of one tensor_content element, size)
_CONTENT = {1: ("<f", 4), 2: ("<d", 8), 3: ("<i", 4), 9: ("<q", 8), 19: ("<e", 2), 14: (None, 2)}
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


class _Malformed(Exception):
    """A record whose protobuf bytes do not decode."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
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
            raise _Malformed("varint too long")


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message; length-delimited values are (start, end)."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = _varint(buf, pos)
            yield fn, wt, v
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise _Malformed("field runs past its message")
            yield fn, wt, (pos, pos + n)
            pos += n
        elif wt == 5:
            yield fn, wt, pos
            pos += 4
        elif wt == 1:
            yield fn, wt, pos
            pos += 8
        else:
            raise _Malformed(f"wire type {wt}")
    if pos != end:
        raise _Malformed("message runs past its end")


def _masked_crc(crc: Callable[[bytes], int], data: bytes) -> int:
    c = crc(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _crc_function() -> Callable[[bytes], int] | None:
    try:
        import google_crc32c  # noqa: PLC0415 - optional, only used when installed
    except ImportError:
        return None
    return google_crc32c.value  # type: ignore[no-any-return]


def iter_records(f: BinaryIO, part: Part, crc: Callable[[bytes], int] | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(buffer, start, end) of each record's data; stops with an issue at a cut or corrupt record.

    The buffer is reused between records: use it before asking for the next one.
    """
    buf = b""
    pos = 0
    offset = 0  # file offset of buf[0]
    eof = False
    bad_crc = 0
    while True:
        if len(buf) - pos < 12 and not eof:
            more = f.read(CHUNK)
            eof = not more
            offset += pos
            buf, pos = buf[pos:] + more, 0
            continue
        avail = len(buf) - pos
        if avail == 0:
            break
        if avail < 12:
            part.issue(f"file ends inside a record header at byte {offset + pos:,} (still being written, or cut short); reading stopped")
            break
        (length,) = _U64.unpack_from(buf, pos)
        if length > MAX_RECORD:
            part.issue(f"corrupt record length at byte {offset + pos:,}; reading stopped")
            break
        need = 12 + length + 4
        if avail < need:
            if eof:
                part.issue(f"file ends inside a record at byte {offset + pos:,} (still being written, or cut short); reading stopped")
                break
            more = f.read(max(CHUNK, need - avail))
            eof = not more
            offset += pos
            buf, pos = buf[pos:] + more, 0
            continue
        start = pos + 12
        end = start + length
        if crc is not None:
            (len_crc,) = _U32.unpack_from(buf, pos + 8)
            if _masked_crc(crc, buf[pos : pos + 8]) != len_crc:
                part.issue(f"record length CRC mismatch at byte {offset + pos:,}; reading stopped")
                break
            (data_crc,) = _U32.unpack_from(buf, end)
            if _masked_crc(crc, buf[start:end]) != data_crc:
                bad_crc += 1
                if bad_crc == 1:
                    part.issue(f"record data CRC mismatch at byte {offset + pos:,}; record skipped")
                pos += need
                continue
        yield buf, start, end
        pos += need
    if bad_crc > 1:
        part.issue(f"{bad_crc} records in all failed their CRC check and were skipped")


@dataclass
class _Tag:
    name: str
    canonical: str | None
    plugin: str = ""
    epoch_unit: bool = False
    builder: SeriesBuilder | None = None  # made at the first point: a histogram tag gets none


class _Reader:
    """Decodes the events of one file into a Part."""

    def __init__(self, part: Part, split_hint: str | None, keras_v2: bool) -> None:
        self.part = part
        self.split_hint = split_hint
        self.keras_v2 = keras_v2
        self.tags: dict[bytes, _Tag] = {}
        self.malformed = 0
        self.simple = 0
        self.tensor = 0

    def tag(self, raw: bytes) -> _Tag:
        t = self.tags.get(raw)
        if t is None:
            name = raw.decode("utf-8", errors="replace")
            canon = names.canonical(name, split_hint=self.split_hint) if self.split_hint else None
            t = _Tag(name, canon, epoch_unit=self.keras_v2 and name.startswith("epoch_"))
            self.tags[raw] = t
        return t

    def add(self, t: _Tag, step: int, value: float) -> None:
        b = t.builder
        if b is None:
            b = t.builder = self.part.builder(t.name, t.canonical)
            if t.epoch_unit:
                self.part.units[t.name] = "epoch"
        b.add(float(step), value, 0, float(step) if t.epoch_unit else None)

    def record(self, buf: bytes, s: int, e: int) -> None:
        try:
            if not self._fast(buf, s, e):
                self._generic(buf, s, e)
        except (_Malformed, IndexError, struct.error):
            self.malformed += 1

    def _fast(self, buf: bytes, s: int, e: int) -> bool:
        """``09 <f64> [10 <step>] 2a L 0a L 0a TL <tag> 15 <f32>``: one old-style scalar.

        Lengths under 128 (one varint byte) are read inline; anything else
        goes to the generic decoder.
        """
        if e - s < 20 or buf[s] != 0x09:
            return False
        p = s + 9
        step = 0
        if buf[p] == 0x10:
            step, p = _varint(buf, p + 1)
            if step >= 1 << 63:
                step -= 1 << 64
        # summary, its one value, the value's tag: each a one-byte length ending at e
        if buf[p] != 0x2A or buf[p + 1] >= 0x80 or p + 2 + buf[p + 1] != e:
            return False
        p += 2
        if buf[p] != 0x0A or buf[p + 1] >= 0x80 or p + 2 + buf[p + 1] != e:
            return False
        p += 2
        if buf[p] != 0x0A or buf[p + 1] >= 0x80:
            return False
        q = p + 2 + buf[p + 1]
        if q + 5 != e or buf[q] != 0x15:
            return False
        raw = buf[p + 2 : q]
        t = self.tags.get(raw) or self.tag(raw)
        b = t.builder
        if b is None:
            self.add(t, step, _F32.unpack_from(buf, q + 1)[0])
        else:
            b.add(float(step), _F32.unpack_from(buf, q + 1)[0], 0, float(step) if t.epoch_unit else None)
        self.simple += 1
        return True

    def _generic(self, buf: bytes, s: int, e: int) -> None:
        step = 0
        summaries = []
        for fn, wt, v in _fields(buf, s, e):
            if fn == 2 and wt == 0:
                step = v - (1 << 64) if v >= 1 << 63 else v
            elif fn == 5 and wt == 2:
                summaries.append(v)
        for ss, se in summaries:
            for fn, wt, v in _fields(buf, ss, se):
                if fn == 1 and wt == 2:
                    self._value(buf, v[0], v[1], step)

    def _value(self, buf: bytes, s: int, e: int, step: int) -> None:
        raw_tag = b""
        simple: float | None = None
        tensor: tuple[int, int] | None = None
        meta: tuple[int, int] | None = None
        other = False
        for fn, wt, v in _fields(buf, s, e):
            if fn == 1 and wt == 2:
                raw_tag = bytes(buf[v[0] : v[1]])
            elif fn == 2 and wt == 5:
                simple = _F32.unpack_from(buf, v)[0]
            elif fn == 8 and wt == 2:
                tensor = v
            elif fn == 9 and wt == 2:
                meta = v
            elif fn in (3, 4, 5, 6):  # obsolete_old_style_histogram, image, histo, audio
                other = True
        if not raw_tag:
            return
        t = self.tag(raw_tag)
        if meta is not None:
            plugin = _plugin_name(buf, *meta)
            if plugin:
                t.plugin = plugin
        if simple is not None:
            self.add(t, step, simple)
            self.simple += 1
            return
        if tensor is None or other or (t.plugin and t.plugin != "scalars"):
            return
        value = _tensor_scalar(buf, *tensor)
        if value is not None:
            self.add(t, step, value)
            self.tensor += 1


def _plugin_name(buf: bytes, s: int, e: int) -> str:
    """SummaryMetadata.plugin_data(1).plugin_name(1); data_class SCALAR(4=1) counts as ``scalars``."""
    name = ""
    for fn, wt, v in _fields(buf, s, e):
        if fn == 1 and wt == 2:
            for fn2, wt2, v2 in _fields(buf, v[0], v[1]):
                if fn2 == 1 and wt2 == 2:
                    name = bytes(buf[v2[0] : v2[1]]).decode("utf-8", errors="replace")
        elif fn == 4 and wt == 0 and v == 1 and not name:
            name = "scalars"
    return name


def _tensor_scalar(buf: bytes, s: int, e: int) -> float | None:
    """The value of a one-element numeric TensorProto, else None."""
    dtype = 0
    dims: list[int] = []
    content: tuple[int, int] | None = None
    val: float | None = None
    for fn, wt, v in _fields(buf, s, e):
        if fn == 1 and wt == 0:
            dtype = v
        elif fn == 2 and wt == 2:
            for fn2, wt2, v2 in _fields(buf, v[0], v[1]):
                if fn2 == 2 and wt2 == 2:
                    size = 1
                    for fn3, wt3, v3 in _fields(buf, v2[0], v2[1]):
                        if fn3 == 1 and wt3 == 0:
                            size = v3
                    dims.append(size)
        elif fn == 4 and wt == 2:
            content = v
        elif val is None:
            val = _typed_value(buf, fn, wt, v)
    n = 1
    for d in dims:
        n *= d
    if n != 1:
        return None
    if dtype not in _CONTENT:
        return None
    if content is not None and content[1] - content[0] >= _CONTENT[dtype][1]:
        fmt, size = _CONTENT[dtype]
        if fmt is None:  # bfloat16: the top half of a float32
            return _F32.unpack(b"\x00\x00" + bytes(buf[content[0] : content[0] + 2]))[0]
        return float(struct.unpack_from(fmt, buf, content[0])[0])
    if val is not None and dtype in (14, 19):  # half_val holds the 16 bits as an int
        bits = int(val)
        if dtype == 19:
            return float(struct.unpack("<e", struct.pack("<H", bits & 0xFFFF))[0])
        return _F32.unpack(struct.pack("<I", (bits & 0xFFFF) << 16))[0]
    return val


def _typed_value(buf: bytes, fn: int, wt: int, v: Any) -> float | None:
    """The first element of float_val(5), double_val(6), int_val(7), int64_val(10) or half_val(13)."""
    if fn == 5:
        if wt == 5:
            return _F32.unpack_from(buf, v)[0]
        if wt == 2 and v[1] - v[0] >= 4:
            return _F32.unpack_from(buf, v[0])[0]
    elif fn == 6:
        if wt == 1:
            return _F64.unpack_from(buf, v)[0]
        if wt == 2 and v[1] - v[0] >= 8:
            return _F64.unpack_from(buf, v[0])[0]
    elif fn in (7, 10, 13):
        if wt == 0:
            x = v
        elif wt == 2 and v[1] > v[0]:
            x, _ = _varint(buf, v[0])
        else:
            return None
        if x >= 1 << 63:  # negative values are sign-extended to 64 bits
            x -= 1 << 64
        return float(x)
    return None


def _split_from_folder(path: Path) -> str | None:
    return FOLDER_SPLITS.get(path.parent.name.lower())


def sniff(path: Path, head: bytes) -> float:
    if path.name.startswith("events.out.tfevents."):
        return 1.0
    if len(head) >= 24:
        (length,) = _U64.unpack_from(head, 0)
        if 0 < length < 4096 and head[12] == 0x09 and b"brain.Event" in head[12 : 12 + length]:
            return 0.9
    return 0.0


def read(src: Source) -> Part:
    part = Part(src, NAME, format="TensorBoard events")
    reader = _Reader(part, _split_from_folder(src.path), src.path.name.endswith(".v2"))
    crc = _crc_function()
    n = 0
    with open(src.path, "rb") as f:
        for buf, s, e in iter_records(f, part, crc):
            n += 1
            reader.record(buf, s, e)
    if n == 0 and not part.issues:
        raise ReadError("no TensorBoard records in the file")
    if n and n == reader.malformed:
        raise ReadError("not a TensorBoard event file: no record decodes")
    if reader.malformed:
        part.issue(f"{reader.malformed} of {n} records could not be decoded and were skipped")
    kinds = [k for k, c in (("simple_value", reader.simple), ("tensor", reader.tensor)) if c]
    if kinds:
        part.format = f"TensorBoard events ({' + '.join(kinds)} scalars)"
    return part
