"""Line rules of smaller formats: gpt-2-simple, ``Val epoch N ...`` summaries, pandas epoch blocks."""

from __future__ import annotations

import re

from .. import names
from .pairs import pairs
from .record import Rec
from .tokens import SPLIT_WORDS, VAL

_GPT2S_RE = re.compile(r"^\[(\d+) \| ([\d.]+)\] (.*)$")


def rule_gpt2simple(text: str) -> Rec | None:
    if not text.startswith("[") or " | " not in text[:20]:
        return None
    m = _GPT2S_RE.match(text)
    if not m:
        return None
    rec = Rec(rule="gpt2simple", step=float(m.group(1)), step_span=m.start(1), step_src="key")
    rec.pairs.append(("elapsed_s", float(m.group(2)), m.start(2)))
    pairs(m.group(3), m.start(3), rec)
    return rec


# pandas-style epoch blocks: a "TRAIN EPOCH  0:" head, then "loss   1.356284" rows
BLOCK_HEAD_RE = re.compile(r"^(TRAIN|TRAINING|VAL|VALID|VALIDATION|TEST|EVAL) EPOCH\s+(\d+):?\s*$", re.I)
BLOCK_ROW_RE = re.compile(rf"^(?P<key>[A-Za-z_][\w./\-]*)\s+(?P<val>{VAL})\s*$")
_SPLIT_EPOCH_RE = re.compile(r"^(?P<split>Val|Valid|Validation|Test|Eval|Train|Training) epoch (?P<e>\d+)\b[:,]?\s*(?P<rest>.*)$", re.I)


def rule_split_epoch(text: str) -> Rec | None:
    """``Val epoch 0 has acc 0.249 and loss 1.386`` (r2c-style epoch summaries)."""
    if "poch" not in text[:20]:
        return None
    m = _SPLIT_EPOCH_RE.match(text)
    if not m:
        return None
    split = SPLIT_WORDS.get(m.group("split").lower())
    rec = Rec(rule="epoch_summary", epoch=float(m.group("e")), epoch_span=m.start("e"), split=split, unit="epoch")
    pairs(m.group("rest"), m.start("rest"), rec)
    if not rec.pairs:
        return None
    rec.step = rec.epoch
    rec.step_src = "epoch"
    if split:
        rec.canon = {k: names.canonical(k, split_hint=split) for k, _, _ in rec.pairs}
    return rec
