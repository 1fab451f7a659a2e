"""Decoding the events of a TensorBoard run into a Part: tags, histograms, text, restarts.

:class:`EventReader` takes the data of each record (framed by
:mod:`.tensorboard_records`) and keeps, per tag, the points in ``array``
buffers whose steps never go back: a ``SessionLog`` START or a step lower
than the tag's last one is a restart, and the points at or after it are
superseded (purged, as TensorBoard does), counted in a ``restart`` event.
:meth:`EventReader.finish` hands the series, the derived global gradient
norm, the text (config or samples) and the restart events to the Part. See
:mod:`.tensorboard` for what becomes what.
"""

from __future__ import annotations

import math
import struct
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from . import names
from . import tensorboard_summaries as ts
from . import tensorboard_text as tt
from .part import Part
from .protowire import F32, Malformed, fields, int64, text, varint
from .tensorboard_records import CHUNK, MAX_RECORD, U32, U64, Crc, masked_crc

OWN_TAGS = "traindx/"  # tags a diagnosis logged back with --log-to tensorboard uses


@dataclass
class _Tag:
    """The points of one series while files are read: steps kept non-decreasing, restarts purge."""

    name: str
    canonical: str | None
    epoch_unit: bool = False
    steps: array = field(default_factory=lambda: array("d"))
    values: array = field(default_factory=lambda: array("d"))
    last: float = -math.inf
    restarts: int = 0  # times its steps went back in the current file
    restart_file: str = ""


@dataclass
class _Restart:
    file: str
    step: float
    why: str
    superseded: int = 0
    nonfinite: int = 0
    tags: list[str] = field(default_factory=list)
    until: float = -math.inf


class EventReader:
    """Decodes the events of one file, or of the files of one run, into a Part."""

    def __init__(self, part: Part, split_hint: str | None) -> None:
        self.part = part
        self.split_hint = split_hint
        self.keras_v2 = False
        self.file = ""
        self.several = False  # several files: events name theirs
        self._before: dict[int, int] = {}  # id(tag) -> its points when the current file began
        self.tags: dict[bytes, _Tag] = {}
        self.derived: dict[str, _Tag] = {}
        self.plugins: dict[bytes, str] = {}
        self.templates: dict[bytes, _Tag] = {}  # the bytes between step and value of a tag's scalar records
        self.texts: dict[str, list[tuple[float, str]]] = {}
        self.restarts: dict[tuple[str, str, int], _Restart] = {}
        self.malformed = 0
        self.simple = 0
        self.tensor = 0
        self.histograms = 0
        self.n_texts = 0

    # ------------------------------------------------------------ points

    def tag(self, raw: bytes) -> _Tag:
        t = self.tags.get(raw)
        if t is None:
            name = raw.decode("utf-8", errors="replace")
            canon = names.canonical(name, split_hint=self.split_hint) if self.split_hint else None
            t = _Tag(name, canon, epoch_unit=self.keras_v2 and name.startswith("epoch_"))
            self.tags[raw] = t
        return t

    def add(self, t: _Tag, step: float, value: float) -> None:
        if step < t.last:
            self._purge(t, step, "went back")
        t.steps.append(step)
        t.values.append(value)
        t.last = step

    def _purge(self, t: _Tag, step: float, why: str) -> None:
        """Drop the points of ``t`` at or after ``step`` (superseded by a restart) and note the restart."""
        i = bisect_left(t.steps, step)
        n = len(t.steps) - i
        if t.restart_file != self.file:
            t.restart_file, t.restarts = self.file, 0
        if why == "went back":
            t.restarts += 1
        key = (self.file, why, t.restarts if why == "went back" else int(step))
        r = self.restarts.get(key)
        if r is None:
            r = self.restarts[key] = _Restart(self.file, step, why)
        r.step = min(r.step, step)
        if n:
            dropped = np.frombuffer(t.values, dtype=np.float64)[i:]
            r.superseded += n
            r.nonfinite += int(np.count_nonzero(~np.isfinite(dropped)))
            r.until = max(r.until, t.steps[-1])
            if len(r.tags) < 5:
                r.tags.append(t.name)
            del dropped  # the buffer cannot be resized while a view is held
            del t.steps[i:]
            del t.values[i:]
        t.last = t.steps[-1] if len(t.steps) else -math.inf

    def derived_tag(self, name: str, canonical: str) -> _Tag:
        t = self.derived.get(name)
        if t is None:
            t = self.derived[name] = _Tag(name, canonical)
        return t

    def begin_file(self, name: str) -> None:
        self.file = name
        self.keras_v2 = name.endswith(".v2")
        self._before = {id(t): len(t.steps) for t in self.all_tags() if len(t.steps)}

    def end_file(self) -> None:
        """A series that goes on in a later file without going back: the run resumed there."""
        if not self._before:
            return
        for t in self.all_tags():
            n0 = self._before.get(id(t), 0)
            if n0 and len(t.steps) > n0 and t.restart_file != self.file:
                key = (self.file, "resumed", 0)
                r = self.restarts.get(key)
                first = t.steps[n0]
                if r is None:
                    r = self.restarts[key] = _Restart(self.file, first, "resumed", until=t.steps[n0 - 1])
                if first < r.step:
                    r.step, r.until = first, t.steps[n0 - 1]

    def all_tags(self) -> list[_Tag]:
        return list(self.tags.values()) + list(self.derived.values())

    # ------------------------------------------------------------ records

    def scan(self, f: BinaryIO, crc: Crc | None = None, label: str = "") -> int:
        """Read every record of an open event file; returns how many there were.

        One tight loop frames the records (:mod:`.tensorboard_records`) and
        decodes the common one, an old-style scalar, on the spot: the bytes
        between its step and its value (``2a L 0a L 0a TL <tag> 15``) are the
        same for every point of a tag, so they are looked up whole in
        ``self.templates`` once :meth:`_fast` has checked them. Other records
        go to the generic decoder. Only the data CRC is computed per record;
        the length CRC is checked when it fails, to tell a damaged record
        (skipped) from damaged framing (reading stops). A cut or corrupt
        record ends reading with an issue.
        """
        part = self.part
        templates = self.templates
        u64, u32, f32 = U64.unpack_from, U32.unpack_from, F32.unpack_from
        buf = b""
        pos = 0
        offset = 0  # file offset of buf[0]
        eof = False
        n = 0
        bad_crc = 0
        fast = 0
        size = 0  # len(buf)
        while True:
            avail = size - pos
            if avail < 12 and not eof:
                more = f.read(CHUNK)
                eof = not more
                offset += pos
                buf, pos = buf[pos:] + more, 0
                size = len(buf)
                continue
            if avail == 0:
                break
            if avail < 12:
                part.issue(f"{label}file ends inside a record header at byte {offset + pos:,} (still being written, or cut short); reading stopped")
                break
            length = u64(buf, pos)[0]
            if length > MAX_RECORD:
                part.issue(f"{label}corrupt record length at byte {offset + pos:,}; reading stopped")
                break
            s = pos + 12
            e = s + length
            if e + 4 > size:
                if eof:
                    part.issue(f"{label}file ends inside a record at byte {offset + pos:,} (still being written, or cut short); reading stopped")
                    break
                more = f.read(max(CHUNK, e + 4 - size))
                eof = not more
                offset += pos
                buf, pos = buf[pos:] + more, 0
                size = len(buf)
                continue
            if crc is not None:
                c = crc(buf[s:e])
                if (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF != u32(buf, e)[0]:
                    if masked_crc(crc, buf[pos : pos + 8]) != u32(buf, pos + 8)[0]:
                        part.issue(f"{label}record length CRC mismatch at byte {offset + pos:,}; reading stopped")
                        break
                    bad_crc += 1
                    if bad_crc == 1:
                        part.issue(f"{label}record data CRC mismatch at byte {offset + pos:,}; record skipped")
                    pos = e + 4
                    continue
            n += 1
            pos = e + 4
            if length >= 20 and buf[s] == 0x09:
                b = buf[s + 9]
                if b == 0x10:
                    # the step varint: up to three bytes (steps below 2**21) inline
                    b = buf[s + 10]
                    if b < 0x80:
                        step, p = b, s + 11
                    elif (b2 := buf[s + 11]) < 0x80:
                        step, p = (b & 0x7F) | (b2 << 7), s + 12
                    elif (b3 := buf[s + 12]) < 0x80:
                        step, p = (b & 0x7F) | ((b2 & 0x7F) << 7) | (b3 << 14), s + 13
                    else:
                        try:
                            step, p = varint(buf, s + 10)
                        except (Malformed, IndexError):
                            self.malformed += 1
                            continue
                        if step >= 1 << 63:
                            step -= 1 << 64
                else:
                    step, p = 0, s + 9
                t = templates.get(buf[p : e - 4])
                if t is not None:
                    if step < t.last:
                        self._purge(t, step, "went back")
                    t.steps.append(step)
                    t.values.append(f32(buf, e - 4)[0])
                    t.last = step
                    fast += 1
                    continue
            self.record(buf, s, e)
        if bad_crc > 1:
            part.issue(f"{label}{bad_crc} records in all failed their CRC check and were skipped")
        self.simple += fast
        return n

    def record(self, buf: bytes, s: int, e: int) -> None:
        try:
            if not self._fast(buf, s, e):
                self._generic(buf, s, e)
        except (Malformed, IndexError, struct.error, ValueError, OverflowError):  # ValueError: int() of a NaN tensor value
            self.malformed += 1

    def _fast(self, buf: bytes, s: int, e: int) -> bool:
        """``09 <f64> [10 <step>] 2a L 0a L 0a TL <tag> 15 <f32>``: one old-style scalar.

        Lengths under 128 (one varint byte) are read inline; anything else
        goes to the generic decoder. The bytes from ``2a`` to ``15`` are
        remembered as the tag's template for :meth:`scan`.
        """
        if e - s < 20 or buf[s] != 0x09:
            return False
        p = s + 9
        step = 0
        if buf[p] == 0x10:
            step, p = varint(buf, p + 1)
            if step >= 1 << 63:
                step -= 1 << 64
        start = p
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
        if raw.startswith(OWN_TAGS.encode()):
            return True
        t = self.tags.get(raw) or self.tag(raw)
        self.templates[bytes(buf[start : e - 4])] = t
        if step < t.last:
            self._purge(t, step, "went back")
        t.steps.append(step)
        t.values.append(F32.unpack_from(buf, q + 1)[0])
        t.last = step
        self.simple += 1
        return True

    def _generic(self, buf: bytes, s: int, e: int) -> None:
        step = 0
        summaries = []
        session: tuple[int, int] | None = None
        for fn, wt, v in fields(buf, s, e):
            if fn == 2 and wt == 0:
                step = int64(v)
            elif fn == 5 and wt == 2:
                summaries.append(v)
            elif fn == 7 and wt == 2:
                session = v
        if session is not None:
            self._session_log(buf, session, step)
        for ss, se in summaries:
            for fn, wt, v in fields(buf, ss, se):
                if fn == 1 and wt == 2:
                    self._value(buf, v[0], v[1], step)

    def _session_log(self, buf: bytes, span: tuple[int, int], step: int) -> None:
        """SessionLog{status=1, checkpoint_path=2}: START purges later points of every tag, as TensorBoard does."""
        status = 0
        path = ""
        for fn, wt, v in fields(buf, span[0], span[1]):
            if fn == 1 and wt == 0:
                status = v
            elif fn == 2 and wt == 2:
                path = text(buf, v)
        if status == 1:
            touched = False
            for t in self.all_tags():
                if len(t.steps) and t.steps[-1] >= step:
                    self._purge(t, step, "start")
                    touched = True
            if touched or step > 0:
                key = (self.file, "start", int(step))
                self.restarts.setdefault(key, _Restart(self.file, step, "start"))
        elif status == 3 and path:
            self.part.event("checkpoint", f"checkpoint saved: {path}", None, float(step), path=path)

    def _value(self, buf: bytes, s: int, e: int, step: int) -> None:
        raw_tag = b""
        simple: float | None = None
        tensor: tuple[int, int] | None = None
        meta: tuple[int, int] | None = None
        histo: tuple[int, int] | None = None
        other = False
        for fn, wt, v in fields(buf, s, e):
            if fn == 1 and wt == 2:
                raw_tag = bytes(buf[v[0] : v[1]])
            elif fn == 2 and wt == 5:
                simple = F32.unpack_from(buf, v)[0]
            elif fn == 8 and wt == 2:
                tensor = v
            elif fn == 9 and wt == 2:
                meta = v
            elif fn == 5 and wt == 2:
                histo = v
            elif fn in (3, 4, 6):  # obsolete_old_style_histogram, image, audio
                other = True
        if not raw_tag or raw_tag.startswith(OWN_TAGS.encode()):
            return
        plugin = self.plugins.get(raw_tag, "")
        if meta is not None:
            name, content = ts.plugin(buf, *meta)
            if name:
                plugin = self.plugins[raw_tag] = name
            if name == "hparams" and content is not None:
                for k, val in sorted(tt.hparams(buf, content).items()):
                    self.part.set_config(k, val)
                return
        if simple is not None:
            self.add(self.tag(raw_tag), float(step), simple)
            self.simple += 1
            return
        if histo is not None:
            self._histogram(raw_tag, step, ts.histo_proto(buf, *histo))
            return
        if tensor is None or other:
            return
        if plugin in ("", "scalars"):
            value = ts.scalar(buf, ts.tensor(buf, *tensor))
            if value is not None:
                self.add(self.tag(raw_tag), float(step), value)
                self.tensor += 1
        elif plugin == "histograms":
            self._histogram(raw_tag, step, ts.histo_tensor(buf, ts.tensor(buf, *tensor)))
        elif plugin == "text":
            for body in ts.strings(ts.tensor(buf, *tensor))[:1]:
                tag = tt.text_tag(raw_tag.decode("utf-8", errors="replace"))
                self.texts.setdefault(tag, []).append((float(step), body))
                self.n_texts += 1

    def _histogram(self, raw_tag: bytes, step: int, stats: ts.HistStats | None) -> None:
        if stats is None:
            return
        self.histograms += 1
        tag = raw_tag.decode("utf-8", errors="replace")
        norm_name, zero_name = ts.histogram_names(tag)
        if stats.norm is not None:
            self.add(self.derived_tag(f"norm({tag})", norm_name), float(step), stats.norm)
        if stats.zero_frac is not None:
            self.add(self.derived_tag(f"zero_frac({tag})", zero_name), float(step), stats.zero_frac)

    # ------------------------------------------------------------ the end

    def finish(self) -> None:
        """Hand everything read to the part (:func:`.tensorboard_finish.finish`)."""
        from .tensorboard_finish import finish

        finish(self)
