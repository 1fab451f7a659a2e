"""Line normalisation: the text the line rules see, with redraws, colours and prefixes removed.

A printed line often carries more than the trainer wrote: progress-bar redraws
joined by ``\\r`` (only the last one is kept), ANSI colour codes, and prefixes
added by launchers (``[rank3]:``), loggers (``INFO:root:``), timestamps and glog
headers. :func:`normalize` strips them and remembers where the kept text starts
in the raw line, its rank and a logger tag such as fairseq's ``train_inner``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
_PREFIX_RE = re.compile(
    r"^(?:"
    # glog (Caffe, TensorFlow C++): I0515 11:05:31.873651 37636 solver.cpp:239]
    r"[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [\w.\-]+:\d+\]\s?"
    r"|"
    # [2024-09-15 00:13:28,307] / 2021-03-08 12:32:33 / 03/05 10:12:33 (+ optional level/logger fields)
    r"\[?(?:\d{4}-\d\d-\d\d[ T]|\d\d/\d\d )\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?"
    r"(?:\s*(?:\|\s*|-\s*|\[)?(?:INFO|WARNING|WARN|DEBUG|ERROR|CRITICAL|NOTICE)\b\]?"
    r"(?:\s*(?:\||-)\s*(?P<tag>[\w.\-]+)\s*(?:\||-)(?!\S))?)?"
    r"(?:\s*\[[\w.\-]+:\d+:\w+\])?"
    r"(?:\s*-\s*[\w.\-]+\s*-\s*(?:INFO|WARNING|DEBUG|ERROR|CRITICAL)\s*-)?\s*"
    r"|"
    # python logging basicConfig: INFO:root:message
    r"(?:INFO|WARNING|DEBUG|ERROR|CRITICAL):[\w.\-]+:"
    r"|"
    # DeepSpeed without a timestamp: [INFO] [logging.py:96:log_dist]
    r"\[(?:INFO|WARNING|DEBUG|ERROR)\]\s*(?:\[[\w.\-]+:\d+:\w+\]\s*)?"
    r"|"
    # launchers: [rank3]: / [default7]: / [1,0]<stdout>:
    r"\[(?:rank|default)?\s*\d+\]:\s?|\[\d+,\d+\]<std(?:out|err)>:"
    r")"
)
_DIGITS_RE = re.compile(r"\d+")
_PREFIX_FIRST = frozenset("[0123456789IWEFDC")


@dataclass
class Line:
    """A normalised line: the text rules see, where it sits in the raw line, and its rank."""

    text: str
    offset: int  # start of ``text`` in the raw line, -1 when the text is not a plain suffix
    rank: int | None = None
    tag: str | None = None  # logger tag (fairseq ``train_inner`` / ``valid``)


def normalize(raw: str) -> Line:
    """Keep the last redraw, drop ANSI codes and leading log prefixes."""
    text = raw
    offset = 0
    if "\r" in text:
        parts = text.split("\r")
        text = next((p for p in reversed(parts) if p.strip()), "")
        offset = -1
    if "\x1b" in text:
        text = ANSI_RE.sub("", text)
        offset = -1
    rank = None
    tag = None
    if text[:1] in ("`", ">"):  # quoted in an issue or a note: `...` or > ...
        stripped = text.lstrip("`> ")
        offset = offset + len(text) - len(stripped) if offset >= 0 else -1
        text = stripped
    for _ in range(3):
        if not text or not (text[0] in _PREFIX_FIRST or text[0].isdigit()):
            break
        m = _PREFIX_RE.match(text)
        if not m or m.end() == 0:
            break
        g = m.group(0)
        if g.startswith("[") and ("]:" in g[:16] or "<std" in g):
            d = _DIGITS_RE.search(g)
            rank = int(d.group(0)) if d else None
        if m.group("tag"):
            tag = m.group("tag")
        text = text[m.end() :]
        if offset >= 0:
            offset += m.end()
    if text.startswith("| "):  # old fairseq progress lines start with "| "
        text = text[2:]
        if offset >= 0:
            offset += 2
    return Line(text, offset, rank, tag)
