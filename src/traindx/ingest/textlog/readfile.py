"""Reading one file: encoding, the head that decides the format and the template, then the rest.

The first ``HEAD_LINES`` lines are read one by one; they decide the format
(:func:`~.detect.detect_format`) and, on a big file, the template of the fast
path (the dominant template and the next common ones). The rest of the file
goes through the fast path a chunk at a time, or line by line when no
template fits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..part import Part, ReadError, Source
from ..textio import detect_encoding, is_binary, iter_lines
from . import fastpath
from .detect import MARKDOWN_EXT, detect_format, detect_text
from .lines import iter_chunks, lines_of
from .normalize import Line, normalize
from .reader import Reader
from .record import Rec
from .rules import sample_rule
from .template import Template, learn_templates

HEAD_LINES = 2000


def read_file(src: Source, reader_name: str) -> Part:
    """Read a printed training log (or a Markdown logbook, strictly) into a Part."""
    part = Part(source=src, reader=reader_name)
    path = src.path
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as e:
        raise ReadError(f"not readable: {e.strerror or e}") from e
    if is_binary(head):
        raise ReadError("binary content where a text log was expected")
    enc = detect_encoding(head)
    if enc == "latin-1":
        part.issue("not valid UTF-8; decoded as Latin-1")
    md = path.suffix.lower() in MARKDOWN_EXT
    reader = Reader(part, markdown=md)
    if enc == "utf-16":
        _read_text_lines(path, reader, part)
    else:
        _read_binary(path, reader, part, enc)
    reader.finish()
    return part


def _read_text_lines(path: Path, reader: Reader, part: Part) -> None:
    head: list[tuple[int, str]] = []
    it = iter_lines(path, part)
    for ln, line in it:
        head.append((ln, line))
        if len(head) >= HEAD_LINES:
            break
    fmt, _ = detect_format([detect_text(x) for _, x in head])
    reader.set_format(fmt)
    for ln, line in head:
        reader.feed(ln, line)
    for ln, line in it:
        reader.feed(ln, line)


def _read_binary(path: Path, reader: Reader, part: Part, enc: str) -> None:
    dec = "utf-8" if enc in ("utf-8", "utf-8-sig") else enc
    chunks = iter_chunks(path, part)
    head: list[tuple[int, str]] = []
    rest: list[tuple[int, bytes]] = []
    for first, chunk in chunks:
        lines = list(lines_of(chunk, first, dec))
        if first == 1 and lines and lines[0][1].startswith("\ufeff"):
            lines[0] = (1, lines[0][1][1:])
        need = HEAD_LINES - len(head)
        head.extend(lines[:need])
        if len(lines) > need:
            # the part of this chunk after the head, re-cut at the line boundary
            off = 0
            for _ in range(need):
                off = chunk.index(b"\n", off) + 1
            rest.append((first + need, chunk[off:]))
            break
    fmt, _scores = detect_format([detect_text(x) for _, x in head])
    reader.set_format(fmt)
    for ln, line in head:
        reader.feed(ln, line)
    tpls: list[Template] = []
    if rest and not reader.markdown and fastpath.ENABLED:
        samples: list[tuple[str, Line, Rec]] = []
        for _ln, line in head[:HEAD_LINES]:
            norm = normalize(line)
            if norm.offset < 0 or not norm.text:
                continue
            rec = sample_rule(norm, reader.order)
            if rec is not None:
                samples.append((line, norm, rec))
        tpls = learn_templates(samples, len(head), reader.keras_total)
    for first, chunk in _chain(rest, chunks):
        if tpls and tpls[0].failures >= 50:
            tpls = []  # the dominant template stopped fitting: the rest goes line by line
        live = [t for t in tpls if t.failures < 50]
        if live:
            fastpath.parse_chunk(chunk, first, live, reader, dec)
        else:
            for ln, line in lines_of(chunk, first, dec):
                reader.feed(ln, line)


def _chain(rest: list[tuple[int, bytes]], chunks: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    yield from rest
    yield from chunks
