"""Line rules of the language-model trainers: Megatron-LM, nanoGPT, llm.c and its ``s:N`` fork.

Each rule takes a normalised line and returns a :class:`~.record.Rec`, or None
when the line is not its format. Steps are kept as printed (Megatron and llm.c
count from 1).
"""

from __future__ import annotations

import re

from .. import names
from .pairs import pairs
from .record import Rec
from .tokens import VAL, to_float

MEGATRON_RE = re.compile(r"(?:^|\s)iteration\s+(\d+)/\s*(\d+)\s*\|(.*)$")
_MEGATRON_VAL_RE = re.compile(r"^\s*(?:validation|valid|test) loss at (?:iteration|step) (\d+)(?: on [^|]*)?\s*\|(.*)$")
FIELD_RE = re.compile(rf"(?:^|\|)\s*(?P<key>[A-Za-z][^:|]*?)\s*:\s*(?P<val>{VAL})\s*(?=\||$)")
MEGATRON_ARG_RE = re.compile(r"^\s+([A-Za-z_][\w]*) \.{3,} (.*?)\s*$")
_MEGATRON_MEM_RE = re.compile(r"\[Rank (\d+)\] \(after (\d+) iterations\) memory \(MB\)((?:\s*\|\s*[a-z ]+:\s*[\d.]+)+)")
_NANINF_WORDS = ("nan", "-nan", "inf", "-inf", "+inf")


def bar_fields(text: str, pos: int, rec: Rec) -> None:
    """``| key: value | key: value |`` fields (Megatron), read with plain string splits."""
    for f in text[pos:].split("|"):
        key, sep, val = f.rpartition(":")
        if sep:
            v = val.strip()
            if v:
                try:
                    x: float | None = float(v)
                except ValueError:
                    x = to_float(v) if v.lower() in _NANINF_WORDS else None
                if x is not None:
                    k = key.strip()
                    if k:
                        rec.pairs.append((k, x, pos + len(key) + 1 + (len(val) - len(val.lstrip()))))
        pos += len(f) + 1


def rule_megatron(text: str) -> Rec | None:
    if "iteration" not in text:
        return None
    if text.startswith("[Rank ") and "memory (MB)" in text:
        # per-rank memory report; lines of several ranks can run together
        m = _MEGATRON_MEM_RE.match(text)
        if not m:
            return None
        rec = Rec(rule="megatron_mem", step=float(m.group(2)), step_span=m.start(2), step_src="key")
        rec.rank = int(m.group(1))
        for f in FIELD_RE.finditer(m.group(3)):
            rec.pairs.append((f"memory {f.group('key').strip()} (MB)", to_float(f.group("val")), m.start(3) + f.start("val")))
        return rec
    m = MEGATRON_RE.search(text)
    if m:
        rec = Rec(rule="megatron", step=float(m.group(1)), step_span=m.start(1), step_src="key", total=float(m.group(2)))
        bar_fields(text, m.start(3), rec)
        return rec
    m = _MEGATRON_VAL_RE.match(text)
    if m:
        rec = Rec(rule="megatron", step=float(m.group(1)), step_span=m.start(1), step_src="key", split="val")
        base = m.start(2)
        for f in FIELD_RE.finditer(m.group(2)):
            rec.pairs.append((f.group("key").strip(), to_float(f.group("val")), base + f.start("val")))
        rec.canon = {k: names.canonical(k, split_hint="val") for k, _, _ in rec.pairs}
        return rec
    return None


_NANOGPT_ITER_RE = re.compile(r"^iter (\d+): (.*)$")
_NANOGPT_EVAL_RE = re.compile(r"^step (\d+): (.*)$")


def mfu_placeholder(key: str, value: float) -> bool:
    """nanoGPT prints ``mfu -100.00%`` until it has measured: no value."""
    return key == "mfu" and value == -100.0


def rule_nanogpt(text: str) -> Rec | None:
    c = text[:5]
    if c == "iter ":
        m = _NANOGPT_ITER_RE.match(text)
        if m:
            rec = Rec(rule="nanogpt", step=float(m.group(1)), step_span=m.start(1), step_src="key")
            pairs(m.group(2), m.start(2), rec)
            rec.drop_if = mfu_placeholder
            return rec
    elif c == "step ":
        m = _NANOGPT_EVAL_RE.match(text)
        if m and "/" not in text[: m.end(1) + 2]:
            rec = Rec(rule="nanogpt", step=float(m.group(1)), step_span=m.start(1), step_src="key")
            pairs(m.group(2), m.start(2), rec)
            return rec
    return None


_LLMC_RE = re.compile(r"^step\s+(\d+)\s*/\s*(\d+)\s*\|(.*)$")
_LLMC_FIELD_RE = re.compile(
    rf"^\s*\(?(?:(?P<key>[A-Za-z_][\w ]*?)\s+(?P<val>{VAL})(?:\s*\([^)]*\)?)?|(?P<val2>{VAL})\s*(?P<unit>%|[A-Za-z][\w/]*)?\s*(?P<name>[A-Za-z][\w /]*?)?)\s*\)?\s*$"
)


def rule_llmc(text: str) -> Rec | None:
    if not text.startswith("step"):
        return None
    m = _LLMC_RE.match(text)
    if not m:
        return None
    rec = Rec(rule="llmc", step=float(m.group(1)), step_span=m.start(1), step_src="key", total=float(m.group(2)))
    pos = m.start(3)
    for fieldtext in m.group(3).split("|"):
        f = _LLMC_FIELD_RE.match(fieldtext)
        if f:
            if f.group("key"):
                rec.pairs.append((f.group("key").strip(), to_float(f.group("val")), pos + f.start("val")))
            else:
                name = (f.group("name") or "").strip() or (f.group("unit") or "").strip()
                if name:
                    rec.pairs.append((name, to_float(f.group("val2")), pos + f.start("val2")))
        pos += len(fieldtext) + 1
    return rec


_MODDED_RE = re.compile(r"^s:(\d+) (.*)$")


def rule_modded(text: str) -> Rec | None:
    if not text.startswith("s:"):
        return None
    m = _MODDED_RE.match(text)
    if not m:
        return None
    rec = Rec(rule="llmc_s", step=float(m.group(1)), step_span=m.start(1), step_src="key")
    pairs(m.group(2), m.start(2), rec)
    return rec
