"""Lines of a log file: binary chunks of whole lines, giant lines skipped, decoding.

A line ends at ``\\n`` so that line numbers match ``grep -n``. The file is read
in chunks of about ``CHUNK_BYTES``, each cut after its last ``\\n``; a line
longer than ``MAX_LINE_BYTES`` is never held in memory: it is skipped with a
located issue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..part import Part

MAX_LINE_BYTES = 1_000_000
CHUNK_BYTES = 4 * 1024 * 1024


def _giant_issue(part: Part, line: int) -> None:
    part.issue(f"line is longer than {MAX_LINE_BYTES:,} bytes; skipped", line)


def iter_chunks(path: Path, part: Part) -> Iterator[tuple[int, bytes]]:
    """(first line number, bytes of whole lines) over a file; giant lines are skipped with an issue."""
    lineno = 1
    with open(path, "rb") as f:
        carry = b""
        skipping = False
        skip_line = 0
        while True:
            data = f.read(CHUNK_BYTES)
            if not data:
                break
            if skipping:
                nl = data.find(b"\n")
                if nl < 0:
                    continue
                _giant_issue(part, skip_line)
                lineno = skip_line + 1
                skipping = False
                data = data[nl + 1 :]
            buf = carry + data if carry else data
            cut = buf.rfind(b"\n")
            if cut < 0:
                if len(buf) > MAX_LINE_BYTES:
                    skipping, skip_line, carry = True, lineno, b""
                else:
                    carry = buf
                continue
            chunk, carry = buf[: cut + 1], buf[cut + 1 :]
            if len(carry) > MAX_LINE_BYTES:
                skipping, skip_line, carry = True, lineno + chunk.count(b"\n"), b""
            # a giant line inside the chunk
            yield from _split_giant(chunk, lineno, part)
            lineno += chunk.count(b"\n")
        if skipping:
            _giant_issue(part, skip_line)
        elif carry:
            yield lineno, carry + b"\n"


def _has_giant(chunk: bytes) -> bool:
    """Whether some line of ``chunk`` may exceed MAX_LINE_BYTES: such a line covers a whole
    aligned window of half that size with no newline in it."""
    w = MAX_LINE_BYTES // 2
    n = len(chunk)
    for pos in range(0, n - w + 1, w):
        if chunk.find(b"\n", pos, pos + w) < 0:
            return True
    return False


def _split_giant(chunk: bytes, lineno: int, part: Part) -> Iterator[tuple[int, bytes]]:
    if len(chunk) <= MAX_LINE_BYTES or not _has_giant(chunk):
        yield lineno, chunk
        return
    start = 0
    ln = lineno
    n = len(chunk)
    while start < n:
        end = chunk.find(b"\n", start)
        if end - start > MAX_LINE_BYTES:
            # emit what precedes, skip the giant line
            _giant_issue(part, ln)
            start = end + 1
            ln += 1
            continue
        # find the next giant line, yield everything before it in one piece
        seg_start = start
        seg_ln = ln
        while start < n:
            end = chunk.find(b"\n", start)
            if end - start > MAX_LINE_BYTES:
                break
            start = end + 1
            ln += 1
        yield seg_ln, chunk[seg_start:start]


def lines_of(chunk: bytes, lineno: int, enc: str) -> Iterator[tuple[int, str]]:
    """(line number, text without its end) of each line of a chunk of whole lines."""
    text = chunk.decode(enc, errors="replace")
    for i, line in enumerate(text.split("\n")[:-1]):
        yield lineno + i, line.rstrip("\r")
