"""Line rules of progress displays: Keras epoch lines and tqdm / Lightning / Rich progress bars."""

from __future__ import annotations

import re

from .pairs import pairs
from .record import Rec
from .tokens import NANINF_EQ, NUM, to_float

_KERAS_EPOCH_RE = re.compile(r"^Epoch (\d+)/(\d+)\s*$")
_KERAS_LINE_RE = re.compile(r"^\s*(\d+)/(\d+)\s+(?:\S*━\S*\s+|\[[=>.]*\]\s+-?\s*)?.*?\s-\s[\w/.]+: ")
# after "key: " a nan/inf is a value unless a word continues it ("loss: nan - val_loss: nan")
_KERAS_PAIR_RE = re.compile(rf"(?:^|\s)-\s(?P<key>[A-Za-z_][\w/.]*): (?P<val>{NANINF_EQ}|{NUM})")


def rule_keras(text: str) -> Rec | None:
    c = text[:1]
    if c == "E":
        m = _KERAS_EPOCH_RE.match(text)
        if m:
            return Rec(rule="keras", header_epoch=float(m.group(1)), total=float(m.group(2)), keep=False)
        return None
    if not (c.isdigit() or c == " "):
        return None
    m = _KERAS_LINE_RE.match(text)
    if not m:
        return None
    rec = Rec(rule="keras", unit="epoch", step_src="keras")
    rec.step = float(m.group(1))
    rec.total = float(m.group(2))
    rec.step_span = m.start(1)
    for p in _KERAS_PAIR_RE.finditer(text):
        rec.pairs.append((p.group("key"), to_float(p.group("val")), p.start("val")))
    return rec if rec.pairs else None


_BAR_RE = re.compile(
    r"^(?P<desc>.*?)(?:(?P<pct>\d+)%\|(?P<body>[^|]*)\|\s*)(?P<n>\d+)/(?P<N>\d+|\?)\s*\[(?P<inner>[^\]]*)\](?P<tail>.*)$"
)
_BAR_NOTOTAL_RE = re.compile(r"^(?P<desc>.*?)(?P<n>\d+)it \[(?P<inner>[^\]]*)\](?P<tail>.*)$")
_RICH_RE = re.compile(r"^(?P<desc>.*?)\s*━+\s*(?P<n>\d+)/(?P<N>\d+)\s+(?P<inner>\d[\d:]*\s*•\s*[\d:-]+(?:\s+[\d.]+\s*it/s)?)(?P<tail>.*)$")
_SKIP_BAR_DESC = re.compile(r"^\s*(?:Validation|Validating|Sanity Checking|Testing|Predicting|Evaluating|Evaluation|eval)\b", re.I)


def rule_bar(text: str) -> tuple[Rec, str] | None:
    """A tqdm (or Lightning tqdm) or Rich progress bar, with its desc and postfix values.

    Returns the record and the text printed after the bar on the same line.
    """
    if "|" in text and "/" in text:
        m = _BAR_RE.match(text)
        rich = False
    elif "━" in text and "•" in text:
        m = _RICH_RE.match(text)
        rich = True
    elif "it [" in text:
        m = _BAR_NOTOTAL_RE.match(text)
        rich = False
    else:
        return None
    if not m:
        return None
    desc = m.group("desc")
    rec = Rec(rule="rich" if rich else "tqdm", bar=True)
    if desc.strip():
        pairs(desc, m.start("desc"), rec)
    inner = m.group("inner")
    if rich:
        tail = m.group("tail")
        pairs(tail, m.start("tail"), rec)
        after = ""
    else:
        tail = m.group("tail")
        if "," in inner:
            # "00:01<00:02,  2.40it/s, loss=0.123, lr=1e-4": values after the rate
            parts = inner.split(",", 2)
            if len(parts) == 3:
                start = m.start("inner") + len(parts[0]) + len(parts[1]) + 2
                pairs(parts[2], start, rec)
        after = tail
    if _SKIP_BAR_DESC.match(desc):
        rec.bar = False
        rec.keep = False
        return rec, after
    n = float(m.group("n"))
    tot = m.groupdict().get("N")
    if rec.step is not None:
        rec.within = rec.epoch is not None
    else:
        rec.step = n
        rec.step_span = m.start("n")
        rec.step_src = "bar"
        rec.within = rec.epoch is not None
        if tot and tot != "?":
            rec.total = float(tot)
    return rec, after
