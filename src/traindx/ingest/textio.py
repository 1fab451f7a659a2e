"""Small, safe helpers for opening user files: head bytes, encodings, long lines."""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import Iterator

from .part import Part, ReadError

HEAD_BYTES = 8192
MAX_LINE_CHARS = 1_000_000  # a longer line is reported and skipped


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def is_binary(head: bytes) -> bool:
    """True for content that is not text: NUL bytes outside a UTF-16 BOM, or mostly control bytes."""
    if not head:
        return False
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in head:
        return True
    control = sum(1 for b in head[:2048] if b < 9 or 13 < b < 32)
    return control > len(head[:2048]) * 0.1


def detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as e:
        # a multi-byte character cut by the end of the head is still UTF-8
        if e.start >= len(head) - 3:
            return "utf-8"
        return "latin-1"


def open_text(path: Path, part: Part | None = None) -> io.TextIOBase:
    """Open a text file with the right decoding; a non-UTF-8 file is read as Latin-1 and said so.

    Undecodable bytes are replaced, never fatal.
    """
    head = read_head(path)
    enc = detect_encoding(head)
    if enc == "latin-1" and part is not None:
        part.issue("not valid UTF-8; decoded as Latin-1")
    return open(path, "r", encoding=enc, errors="replace", newline="\n")


def read_text(path: Path, part: Part | None = None, *, limit: int | None = None) -> str:
    """The whole text of a file (up to ``limit`` bytes), decoded as :func:`open_text` does."""
    with open_text(path, part) as f:
        text = f.read() if limit is None else f.read(limit)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def iter_lines(path: Path, part: Part | None = None, *, max_chars: int = MAX_LINE_CHARS) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end) for every line of a text file.

    ``\\r\\n``, ``\\r\\r\\n`` (Windows Keras logs) and ``\\n`` all end a line. A line
    longer than ``max_chars`` is skipped with a located issue instead of being
    held in memory whole.
    """
    with open_text(path, part) as f:
        lineno = 0
        buf: list[str] = []
        size = 0
        too_long = False
        while True:
            chunk = f.readline(max_chars + 1)
            if not chunk:
                break
            if chunk.endswith("\n"):
                if too_long:
                    lineno += 1
                    if part is not None:
                        part.issue(f"line is longer than {max_chars:,} characters; skipped", lineno)
                    too_long = False
                    buf, size = [], 0
                    continue
                if buf:
                    buf.append(chunk)
                    chunk = "".join(buf)
                    buf, size = [], 0
                lineno += 1
                yield lineno, chunk.rstrip("\r\n")
            else:
                size += len(chunk)
                if size > max_chars:
                    too_long = True
                    buf = []
                elif not too_long:
                    buf.append(chunk)
        if too_long:
            lineno += 1
            if part is not None:
                part.issue(f"line is longer than {max_chars:,} characters; skipped", lineno)
        elif buf:
            lineno += 1
            yield lineno, "".join(buf).rstrip("\r\n")


def require_text(path: Path, head: bytes) -> None:
    if is_binary(head):
        raise ReadError("binary content where text was expected")
