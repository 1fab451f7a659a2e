"""Printed training logs: stdout/stderr dumps of any trainer, read into series and events.

How a file is read:

1. **Lines.** The file is read in binary chunks; a line ends at ``\\n`` (so line
   numbers match ``grep -n``; ``\\r\\n`` and ``\\r\\r\\n`` end one line). A line
   longer than ``MAX_LINE_BYTES`` is skipped with a located issue, never held.
   Each line is *normalised*: the text after its last ``\\r`` (the final
   progress-bar redraw) is kept, ANSI codes are dropped, and a launcher
   (``[rank3]:``), timestamp, glog or logger prefix is removed.
2. **Format.** Fingerprints are scored over the first ``HEAD_LINES`` normalised
   lines (``part.format``); the format orders the line rules and decides the
   fast path.
3. **Line rules.** Dedicated rules read the formats whose step semantics need
   care (nanoGPT, llm.c and its ``s:N trl:X`` fork, Megatron-LM, fairseq and
   metaseq, HF Trainer dicts, Keras, Lightning/tqdm and Rich bars, Caffe,
   mmdetection, yolact, gpt-2-simple, pandas epoch blocks). Everything else goes
   through a generic ``key=value`` / ``key: value`` / ``key value`` extractor, so
   an unknown trainer still parses. NaN and inf are recognised on parsed
   values, never as a substring (``number of nan iterations: 0`` is a counter).
4. **Steps.** The trainer's own step is kept as printed (Megatron and llm.c are
   1-based, fairseq uses ``num_updates``, mmdetection ``(epoch-1)*N+i``). A
   within-epoch counter that restarts every epoch becomes a global step. Lines
   with no step of their own (HF Trainer dicts) take the position of a nearby
   tqdm bar, else a line ordinal with ``part.step_source = "inferred"``.
5. **Events.** :mod:`traindx.ingest.logevents` finds errors, OOMs with sizes,
   loss-scale overflows, checkpoints, LR changes, Slurm cancellations and
   warnings; traceback blocks are parsed as blocks.
6. **Fast path.** When most lines of a big file share one template (``iter N:
   loss X, time Yms, mfu Z%``), whole chunks of such lines are parsed at once
   with ``numpy.fromstring`` after the template's literal text is blanked;
   a chunk that does not parse cleanly is bisected so that only its odd lines go
   through the line rules. See :class:`_Template`.

Markdown files (logbooks, model cards) are read strictly: only lines that a
dedicated rule recognises give series, and events come only from fenced code.
"""

from __future__ import annotations

import codecs
import math
import re
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from . import names
from .logevents import Found, TracebackTracker, line_events
from .part import Part, ReadError, Source
from .textio import detect_encoding, is_binary

NAME = "textlog"
RANK = 10

HEAD_LINES = 2000
MAX_LINE_BYTES = 1_000_000
CHUNK_BYTES = 4 * 1024 * 1024
FAST_PATH = True  # the chunked template parser; tests compare it with the line-by-line path
BAR_WINDOW = 3  # lines between an HF dict and the tqdm bar that gives its step
MIN_GENERIC_LINES = 3  # a stepless key must recur this often to become a series

TEXT_EXT = {".log", ".txt", ".out", ".err", ".stdout", ".stderr", ".md", ".markdown", ".text", ""}
STRUCTURED_EXT = {".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".xml", ".html", ".htm"}
MARKDOWN_EXT = {".md", ".markdown"}

# ---------------------------------------------------------------------------
# numbers and keys
# ---------------------------------------------------------------------------

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# nan/inf count as values only where nothing can continue a phrase after them:
# ``loss nan,`` and ``loss nan BPC,`` are values, ``number of nan iterations`` is not.
_NANINF = r"[-+]?(?i:nan|inf(?:inity)?)(?=\s*(?:$|[,;|}\])'\"%(])|\s+[A-Za-z/%]{1,6}\s*(?:$|[,;|]))"
_VAL = rf"(?:{_NANINF}|{_NUM})"
_KEY = r"[A-Za-z_][\w./\-]*(?:[ ][A-Za-z_(][\w./\-()]*){0,4}?"

# after "=" or ":" a nan/inf is a value unless a word continues it ("loss=inf lr=1e-4");
# after a bare space it must also not start a phrase ("number of nan iterations")
_NANINF_EQ = r"[-+]?(?i:nan|inf(?:inity)?)(?![\w(])"
_PAIR_RE = re.compile(
    rf"(?<![\w./\-])(?P<key>{_KEY})[ \t]*(?:[:=][ \t]*\[?(?P<val>{_NANINF_EQ}|{_NUM})|[ \t]+\[?(?P<val2>{_VAL}))"
    rf"(?P<unit>%|[A-Za-z][A-Za-z/]{{0,5}}\b)?(?![\w.])"
)
_FRACTION_RE = re.compile(r"\b(?P<w>(?i:step|iter|iteration|global_step))\s*[:=]?\s*(?P<n>\d+)\s*/\s*(?P<N>\d+)")
_EPOCH_RE = re.compile(r"\b(?i:epoch)\s*[:=]?\s*\[?\s*(?P<e>\d+(?:\.\d+)?)(?:\s*/\s*(?P<E>\d+))?")
_NUMBER_TOKEN = re.compile(rf"(?<![\w.]){_VAL}")

STEP_KEYS = {"global_step", "trainer/global_step", "_step", "step", "num_updates", "iteration", "iter", "it", "global step", "updates"}
EPOCH_KEYS = {"epoch", "ep"}
IGNORE_KEYS = {"eta", "v_num", "time left", "remaining", "it/s", "s/it", "rank", "local_rank", "pid", "line", "seed"}
STOP_WORDS = {
    "a", "an", "and", "are", "at", "be", "by", "for", "from", "got", "had", "has", "have", "in", "is", "of", "on",
    "or", "the", "to", "was", "were", "with", "current", "new", "now", "total", "around", "about", "than", "then",
    "after", "before", "i", "it's", "we", "our", "my",
}  # fmt: skip
SPLIT_WORDS = {"val": "val", "valid": "val", "validation": "val", "eval": "val", "evaluation": "val", "test": "test", "dev": "val"}


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        t = text.strip().lower().lstrip("+")
        if "nan" in t:
            return math.nan
        if "inf" in t:
            return -math.inf if t.startswith("-") else math.inf
        raise


# ---------------------------------------------------------------------------
# line normalisation
# ---------------------------------------------------------------------------

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")
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
        text = _ANSI_RE.sub("", text)
        offset = -1
    rank = None
    tag = None
    if text[:1] in ("`", ">"):  # quoted in an issue or a note: `...` or > ...
        stripped = text.lstrip("`> ")
        offset = offset + len(text) - len(stripped) if offset >= 0 else -1
        text = stripped
    for _ in range(3):
        if not text or not (text[0] in "[0123456789IWEFDC" or text[0].isdigit()):
            break
        m = _PREFIX_RE.match(text)
        if not m or m.end() == 0:
            break
        if m.group(0).startswith("[") and ("]:" in m.group(0)[:16] or "<std" in m.group(0)):
            d = re.search(r"\d+", m.group(0))
            rank = int(d.group(0)) if d else None
        if m.group("tag"):
            tag = m.group("tag")
        text = text[m.end() :]
        if offset >= 0:
            offset += m.end()
    if text.startswith("| ") and offset >= 0:  # old fairseq progress lines start with "| "
        text = text[2:]
        offset += 2
    elif text.startswith("| "):
        text = text[2:]
    return Line(text, offset, rank, tag)


# ---------------------------------------------------------------------------
# records: what one line says
# ---------------------------------------------------------------------------


@dataclass
class Rec:
    """What one line reported: values, and what it said about steps and epochs."""

    pairs: list[tuple[str, float, int]] = field(default_factory=list)  # raw name, value, start in text
    step: float | None = None
    step_span: int = -1
    step_src: str = ""  # key | fraction | bar | container
    total: float | None = None
    epoch: float | None = None
    epoch_span: int = -1
    split: str | None = None
    unit: str = "step"
    rule: str = "generic"
    container: bool = False  # a dict/json line: its step may be deferred
    ordinal: bool = False  # counts in the ordinal when no step is known (a train dict)
    summary: bool = False  # final "train_runtime" dict: goes to part.summary
    within: bool = False  # the step restarts every epoch (bar position, "Step N" next to "Epoch E")
    bar: bool = False  # a progress bar line: its step locates nearby dicts
    header_epoch: float | None = None  # "Epoch 3/10" header: the epoch of following lines
    keep: bool = True  # False: context only (no series from this line)
    canon: dict[str, str] | None = None  # raw name -> canonical when the rule knows the split
    rank: int | None = None
    drop_if: Callable[[str, float], bool] | None = None


def _clean_key(key: str) -> str:
    if " " not in key:
        return "" if key.lower() in STOP_WORDS else key
    words = key.split(" ")
    while words and words[0].lower() in STOP_WORDS:
        words = words[1:]
    while words and words[-1].lower() in STOP_WORDS:
        words = words[:-1]
    return " ".join(words)


def _pairs(text: str, base: int = 0, rec: Rec | None = None) -> Rec:
    """Generic key/value extraction; step, epoch and split words are taken out of the values."""
    rec = rec if rec is not None else Rec()
    fm = _FRACTION_RE.search(text) if "/" in text else None
    if fm and rec.step is None:
        rec.step = float(fm.group("n"))
        rec.step_span = base + fm.start("n")
        rec.total = float(fm.group("N"))
        rec.step_src = "fraction"
    for m in _PAIR_RE.finditer(text):
        key = m.group("key")
        if key[0] == "(":
            continue
        key = _clean_key(key)
        if not key:
            continue
        low = key.lower()
        if " " in low:
            words = low.split(" ")
            if words[-1] in EPOCH_KEYS or words[-1] in STEP_KEYS:
                low = words[-1]  # "Beginning of Epoch 1/18", "global step 20"
        if low in IGNORE_KEYS:
            continue
        vg = "val" if m.group("val") is not None else "val2"
        try:
            val = _float(m.group(vg))
        except ValueError:
            continue
        vstart = m.start(vg)
        if fm is not None and (vstart == fm.start("n") or vstart == fm.start("N")):
            continue
        if low in STEP_KEYS:
            if rec.step is None and val == val and val >= 0 and val == int(val):
                rec.step = val
                rec.step_span = base + vstart
                rec.step_src = "key"
            continue
        if low in EPOCH_KEYS:
            if rec.epoch is None and val == val:
                rec.epoch = val
                rec.epoch_span = base + vstart
            continue
        if low.endswith(" epoch") and low.split(" ")[0] in SPLIT_WORDS and rec.epoch is None:
            rec.epoch = val
            rec.split = SPLIT_WORDS[low.split(" ")[0]]
            continue
        rec.pairs.append((key, val, base + vstart))
    if rec.epoch is None and "poch" in text:
        em = _EPOCH_RE.search(text)
        if em:
            rec.epoch = float(em.group("e"))
            rec.epoch_span = base + em.start("e")
    return rec


# -- dedicated rules ----------------------------------------------------------
# Each takes the normalised text and returns a Rec or None. They are tried in an
# order set by the detected format; the generic extractor comes last.

_MEGATRON_RE = re.compile(r"(?:^|\s)iteration\s+(\d+)/\s*(\d+)\s*\|(.*)$")
_MEGATRON_VAL_RE = re.compile(r"^\s*(?:validation|valid|test) loss at (?:iteration|step) (\d+)(?: on [^|]*)?\s*\|(.*)$")
_FIELD_RE = re.compile(rf"(?:^|\|)\s*(?P<key>[A-Za-z][^:|]*?)\s*:\s*(?P<val>{_VAL})\s*(?=\||$)")
_MEGATRON_ARG_RE = re.compile(r"^\s+([A-Za-z_][\w]*) \.{3,} (.*?)\s*$")


def _bar_fields(text: str, pos: int, rec: Rec) -> None:
    """``| key: value | key: value |`` fields (Megatron), read with plain string splits."""
    for f in text[pos:].split("|"):
        key, sep, val = f.rpartition(":")
        if sep:
            v = val.strip()
            if v:
                try:
                    x = float(v)
                except ValueError:
                    x = None
                    low = v.lower()
                    if low in ("nan", "-nan", "inf", "-inf", "+inf"):
                        x = _float(v)
                if x is not None:
                    k = key.strip()
                    if k:
                        rec.pairs.append((k, x, pos + len(key) + 1 + (len(val) - len(val.lstrip()))))
        pos += len(f) + 1


_MEGATRON_MEM_RE = re.compile(r"\[Rank (\d+)\] \(after (\d+) iterations\) memory \(MB\)((?:\s*\|\s*[a-z ]+:\s*[\d.]+)+)")


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
        for f in _FIELD_RE.finditer(m.group(3)):
            rec.pairs.append((f"memory {f.group('key').strip()} (MB)", _float(f.group("val")), m.start(3) + f.start("val")))
        return rec
    m = _MEGATRON_RE.search(text)
    if m:
        rec = Rec(rule="megatron", step=float(m.group(1)), step_span=m.start(1), step_src="key", total=float(m.group(2)))
        _bar_fields(text, m.start(3), rec)
        return rec
    m = _MEGATRON_VAL_RE.match(text)
    if m:
        rec = Rec(rule="megatron", step=float(m.group(1)), step_span=m.start(1), step_src="key", split="val")
        base = m.start(2)
        for f in _FIELD_RE.finditer(m.group(2)):
            rec.pairs.append((f.group("key").strip(), _float(f.group("val")), base + f.start("val")))
        rec.canon = {k: names.canonical(k, split_hint="val") for k, _, _ in rec.pairs}
        return rec
    return None


_NANOGPT_ITER_RE = re.compile(r"^iter (\d+): (.*)$")
_NANOGPT_EVAL_RE = re.compile(r"^step (\d+): (.*)$")


def _mfu_placeholder(key: str, value: float) -> bool:
    return key == "mfu" and value == -100.0


def rule_nanogpt(text: str) -> Rec | None:
    c = text[:5]
    if c == "iter ":
        m = _NANOGPT_ITER_RE.match(text)
        if m:
            rec = Rec(rule="nanogpt", step=float(m.group(1)), step_span=m.start(1), step_src="key")
            _pairs(m.group(2), m.start(2), rec)
            rec.drop_if = _mfu_placeholder
            return rec
    elif c == "step ":
        m = _NANOGPT_EVAL_RE.match(text)
        if m and "/" not in text[: m.end(1) + 2]:
            rec = Rec(rule="nanogpt", step=float(m.group(1)), step_span=m.start(1), step_src="key")
            _pairs(m.group(2), m.start(2), rec)
            return rec
    return None


_LLMC_RE = re.compile(r"^step\s+(\d+)\s*/\s*(\d+)\s*\|(.*)$")
_LLMC_FIELD_RE = re.compile(
    rf"^\s*\(?(?:(?P<key>[A-Za-z_][\w ]*?)\s+(?P<val>{_VAL})(?:\s*\([^)]*\)?)?|(?P<val2>{_VAL})\s*(?P<unit>%|[A-Za-z][\w/]*)?\s*(?P<name>[A-Za-z][\w /]*?)?)\s*\)?\s*$"
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
                rec.pairs.append((f.group("key").strip(), _float(f.group("val")), pos + f.start("val")))
            else:
                name = (f.group("name") or "").strip() or (f.group("unit") or "").strip()
                if name:
                    rec.pairs.append((name, _float(f.group("val2")), pos + f.start("val2")))
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
    _pairs(m.group(2), m.start(2), rec)
    return rec


_DICT_PAIR_RE = re.compile(
    rf"""['"](?P<key>[^'"]+)['"]\s*:\s*(?:np\.float\d*\(|tensor\()?['"]?(?P<val>{_VAL}|-?(?:nan|inf|NaN|Infinity))['"]?"""
)
_FAIRSEQ_JSON_RE = re.compile(r"^(?:.*?\|\s*)?(?P<tag>train_inner|train|valid|valid_[\w]+|test|[\w]*valid[\w]*)\s*\|\s*(?P<body>\{.*\})\s*$")


def rule_container(text: str, tag: str | None = None) -> Rec | None:
    """A printed dict or JSON object: HF Trainer (v4 floats, v5 strings), fairseq/metaseq json."""
    body = text
    base = 0
    if not text.startswith("{"):
        if "{" not in text or not text.rstrip().endswith("}"):
            return None
        m = _FAIRSEQ_JSON_RE.match(text.rstrip())
        if not m:
            return None
        tag = m.group("tag")
        body = m.group("body")
        base = m.start("body")
    else:
        end = text.rfind("}")
        if end < 0:
            return None
        body = text[: end + 1]  # an annotation after the dict ("{...}  <-- spike") is not part of it
    rec = Rec(rule="dict", container=True)
    keys = []
    for m in _DICT_PAIR_RE.finditer(body):
        key = m.group("key")
        keys.append(key)
        try:
            val = _float(m.group("val"))
        except ValueError:
            continue
        low = key.lower()
        if low in ("num_updates", "global_step", "step", "_step", "trainer/global_step") or low.endswith("_num_updates"):
            if rec.step is None and val == val:
                rec.step = val
                rec.step_span = base + m.start("val")
                rec.step_src = "key"
            continue
        if low == "epoch":
            rec.epoch = val
            rec.epoch_span = base + m.start("val")
            continue
        rec.pairs.append((key, val, base + m.start("val")))
    if not rec.pairs:
        return None
    if any(k == "train_runtime" or k == "train_samples_per_second" for k in keys):
        rec.summary = True
    split = None
    if tag:
        rec.rule = "fairseq"
        if "valid" in tag or tag == "test":
            split = "test" if tag == "test" else "val"
    prefixed = all(k.startswith(("eval_", "test_", "valid_", "val_")) for k, _, _ in rec.pairs)
    if split is not None:
        rec.split = split
        rec.canon = {k: names.canonical(k, split_hint=split) for k, _, _ in rec.pairs}
    rec.ordinal = not prefixed and not rec.summary and split is None and (tag is None or tag == "train_inner")
    return rec


_KERAS_EPOCH_RE = re.compile(r"^Epoch (\d+)/(\d+)\s*$")
_KERAS_LINE_RE = re.compile(r"^\s*(\d+)/(\d+)\s+(?:\S*━\S*\s+|\[[=>.]*\]\s+-?\s*)?.*?\s-\s[\w/.]+: ")
_KERAS_PAIR_RE = re.compile(rf"(?:^|\s)-\s(?P<key>[A-Za-z_][\w/.]*): (?P<val>{_VAL})")


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
        rec.pairs.append((p.group("key"), _float(p.group("val")), p.start("val")))
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
        _pairs(desc, m.start("desc"), rec)
    inner = m.group("inner")
    if rich:
        tail = m.group("tail")
        _pairs(tail, m.start("tail"), rec)
        after = ""
    else:
        tail = m.group("tail")
        if "," in inner:
            # "00:01<00:02,  2.40it/s, loss=0.123, lr=1e-4": values after the rate
            parts = inner.split(",", 2)
            if len(parts) == 3:
                start = m.start("inner") + len(parts[0]) + len(parts[1]) + 2
                _pairs(parts[2], start, rec)
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


_CAFFE_ITER_RE = re.compile(rf"^Iteration (\d+)(?: \((?P<rate>\S+) iter/s[^)]*\))?, loss = (?P<loss>{_VAL})")
_CAFFE_LR_RE = re.compile(rf"^Iteration (\d+), lr = (?P<lr>{_VAL})")
_CAFFE_TEST_RE = re.compile(r"^Iteration (\d+), Testing net")
_CAFFE_OUT_RE = re.compile(rf"^\s*(Train|Test) net output #(\d+): (\S+) = (?P<val>{_VAL})")


def rule_caffe(text: str) -> Rec | None:
    c = text[:1]
    if c == "I":
        if not text.startswith("Iteration "):
            return None
        m = _CAFFE_ITER_RE.match(text)
        if m:
            rec = Rec(rule="caffe", step=float(m.group(1)), step_span=m.start(1), step_src="key")
            rec.pairs.append(("loss", _float(m.group("loss")), m.start("loss")))
            rate = m.group("rate")
            if rate:
                try:
                    r = float(rate)
                    if math.isfinite(r):  # "(-nan iter/s" at iteration 0 is a display artifact
                        rec.pairs.append(("iter/s", r, m.start("rate")))
                except ValueError:
                    pass
            rec.canon = {"iter/s": "iters_per_sec"}
            return rec
        m = _CAFFE_LR_RE.match(text)
        if m:
            rec = Rec(rule="caffe", step=float(m.group(1)), step_span=m.start(1), step_src="key")
            rec.pairs.append(("lr", _float(m.group("lr")), m.start("lr")))
            return rec
        m = _CAFFE_TEST_RE.match(text)
        if m:
            return Rec(rule="caffe_test", step=float(m.group(1)), step_span=m.start(1), step_src="key", split="val", keep=False)
        return None
    if "net output #" not in text:
        return None
    m = _CAFFE_OUT_RE.match(text)
    if not m:
        return None
    split = "val" if m.group(1) == "Test" else None
    name = m.group(3)
    raw = f"{m.group(1).lower()} net output {name}"
    rec = Rec(rule="caffe_output", split=split)
    rec.pairs.append((raw, _float(m.group("val")), m.start("val")))
    rec.canon = {raw: names.canonical(name, split_hint=split)}
    return rec


_MMDET_RE = re.compile(
    r"^(?:Epoch|Iter)\s*(?:\((?P<mode>train|val|test)\))?\s*(?:\[\s*(?P<e>\d+)\]\s*)?\[\s*(?P<i>\d+)(?:/(?P<N>\d+))?\]\s*(?P<rest>.*)$"
)


def rule_mmdet(text: str) -> Rec | None:
    if not (text.startswith("Epoch") or text.startswith("Iter")) or "][" not in text and "] " not in text:
        return None
    m = _MMDET_RE.match(text)
    if not m:
        return None
    mode = m.group("mode") or ("val" if not m.group("N") and m.group("e") else "train")
    rec = Rec(rule="mmdet")
    _pairs(m.group("rest"), m.start("rest"), rec)
    rec.step = None
    rec.step_src = ""
    if mode == "train":
        i = float(m.group("i"))
        if m.group("e") is not None and m.group("N"):
            e = float(m.group("e"))
            rec.epoch = e
            rec.step = (e - 1) * float(m.group("N")) + i
        else:
            rec.step = i
        rec.step_src = "mmdet"
        # mmdetection prints seconds per iteration as "time" (nanoGPT prints milliseconds)
        rec.canon = {"time": "step_time", "data_time": "data_time"}
    else:
        rec.split = "val"
        if m.group("e") is not None:
            rec.epoch = float(m.group("e"))
        rec.canon = {k: names.canonical(k, split_hint="val") for k, _, _ in rec.pairs}
        if m.group("N") and m.group("i") != m.group("N"):
            rec.keep = False  # progress of the evaluation loop, not its result
    return rec


_YOLACT_RE = re.compile(r"^\[\s*(\d+)\]\s+(\d+)\s+\|\|(.*)$")


def rule_yolact(text: str) -> Rec | None:
    if not text.startswith("[") or "||" not in text:
        return None
    m = _YOLACT_RE.match(text)
    if not m:
        return None
    rec = Rec(rule="yolact", step=float(m.group(2)), step_span=m.start(2), step_src="key", epoch=float(m.group(1)))
    rest = m.group(3)
    base = m.start(3)
    for seg in rest.split("||"):
        if seg.strip().upper().startswith("ETA"):
            base += len(seg) + 2
            continue
        _pairs(seg, base, rec)
        base += len(seg) + 2
    return rec


_GPT2S_RE = re.compile(r"^\[(\d+) \| ([\d.]+)\] (.*)$")


def rule_gpt2simple(text: str) -> Rec | None:
    if not text.startswith("[") or " | " not in text[:20]:
        return None
    m = _GPT2S_RE.match(text)
    if not m:
        return None
    rec = Rec(rule="gpt2simple", step=float(m.group(1)), step_span=m.start(1), step_src="key")
    rec.pairs.append(("elapsed_s", float(m.group(2)), m.start(2)))
    _pairs(m.group(3), m.start(3), rec)
    return rec


_BLOCK_HEAD_RE = re.compile(r"^(TRAIN|TRAINING|VAL|VALID|VALIDATION|TEST|EVAL) EPOCH\s+(\d+):?\s*$", re.I)
_BLOCK_ROW_RE = re.compile(rf"^(?P<key>[A-Za-z_][\w./\-]*)\s+(?P<val>{_VAL})\s*$")
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
    _pairs(m.group("rest"), m.start("rest"), rec)
    if not rec.pairs:
        return None
    rec.step = rec.epoch
    rec.step_src = "epoch"
    if split:
        rec.canon = {k: names.canonical(k, split_hint=split) for k, _, _ in rec.pairs}
    return rec


# format fingerprints, scored on the first HEAD_LINES normalised lines
FINGERPRINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("nanogpt", re.compile(r"^iter \d+: loss")),
    ("llmc", re.compile(r"^step\s+\d+/\d+ \| (?:train )?loss")),
    ("llmc", re.compile(r"^s:\d+ t[re]l:")),
    ("hf_trainer", re.compile(r"^\{'(?:loss|eval_loss|train_runtime|grad_norm|learning_rate)'")),
    ("keras", re.compile(r"^Epoch \d+/\d+$|^\s*\d+/\d+ .*- (?:loss|accuracy): ")),
    ("lightning", re.compile(r"^Epoch \d+:\s+\d+%\||^Epoch \d+/\d+\s+━")),
    ("fairseq", re.compile(r"(?:^|\| )(?:train_inner|train|valid) \| \{|^epoch \d+ \| (?:loss|valid on)|^epoch \d+:\s+\d+ / \d+ ")),
    ("megatron", re.compile(r"iteration\s+\d+/\s*\d+ \| consumed samples:|(?:validation|valid) loss at iteration \d+")),
    ("deepspeed", re.compile(r"\[deepspeed\]|\[Rank \d+\] step=")),
    ("caffe", re.compile(r"^Iteration \d+.*, (?:loss|lr) = |net output #\d+:")),
    ("mmdet", re.compile(r"^Epoch\s*(?:\((?:train|val)\))?\s*\[\d+\]\[\s*\d+/\d+\]|^Iter\((?:train|val)\)")),
    ("yolact", re.compile(r"^\[\s*\d+\]\s+\d+ \|\| ")),
    ("gpt2simple", re.compile(r"^\[\d+ \| [\d.]+\] loss=")),
    ("tqdm", re.compile(r"\d+%\|.*\| \d+/\d+ \[[^\]]*, \w+=")),
)  # fmt: skip


def _detect_text(raw: str) -> str:
    ln = normalize(raw)
    return f"{ln.tag} | {ln.text}" if ln.tag else ln.text


def detect_format(lines: list[str]) -> tuple[str, dict[str, int]]:
    """The best-scoring fingerprint over normalised lines, and all scores."""
    scores: Counter[str] = Counter()
    for t in lines:
        if not t:
            continue
        for fmt, pat in FINGERPRINTS:
            if pat.search(t):
                scores[fmt] += 1
                break
    if not scores:
        return "generic", {}
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return best, dict(scores)


# which dedicated rules a format tries first
_RULE_ORDER: dict[str, tuple[str, ...]] = {
    "megatron": ("megatron",),
    "nanogpt": ("nanogpt",),
    "llmc": ("llmc", "modded"),
    "hf_trainer": ("container", "bar"),
    "fairseq": ("container",),
    "keras": ("keras",),
    "lightning": ("bar",),
    "tqdm": ("bar",),
    "caffe": ("caffe",),
    "mmdet": ("mmdet",),
    "yolact": ("yolact",),
    "gpt2simple": ("gpt2simple",),
}
_ALL_RULES = ("megatron", "nanogpt", "llmc", "modded", "container", "keras", "bar", "caffe", "mmdet", "yolact", "gpt2simple", "split_epoch")

_RULE_FUNCS: dict[str, Callable[..., Any]] = {
    "megatron": rule_megatron,
    "nanogpt": rule_nanogpt,
    "llmc": rule_llmc,
    "modded": rule_modded,
    "keras": rule_keras,
    "caffe": rule_caffe,
    "mmdet": rule_mmdet,
    "yolact": rule_yolact,
    "gpt2simple": rule_gpt2simple,
    "split_epoch": rule_split_epoch,
}


# ---------------------------------------------------------------------------
# the reading state
# ---------------------------------------------------------------------------


_PROSE_WORD = re.compile(r"(?<![\w./\-])[A-Za-z][a-z']+(?![\w./\-])")
_SENTENCE = re.compile(r"(?:(?<![\w./\-=:])[A-Za-z][a-z']*[,;]?[ ]+){6}[A-Za-z][a-z']*(?![\w/=:])")


_EVENT_RULES = {"generic", "epoch_summary", "epoch_block"}


def _is_prose(text: str, n_pairs: int) -> bool:
    """Sentences (issue text, notes) yield accidental pairs; skip lines that read as prose."""
    if len(text) < 30:
        return False
    if _SENTENCE.search(text):
        return True
    words = len(_PROSE_WORD.findall(text))
    return words >= 8 and words > 3 * (n_pairs + 1)


class _Reader:
    """Reads one file's lines into a Part; all per-file state lives here."""

    def __init__(self, part: Part, *, markdown: bool = False) -> None:
        self.part = part
        self.markdown = markdown
        self.fmt = "generic"
        self.order: tuple[str, ...] = _ALL_RULES
        # step context
        self.step: float | None = None
        self.epoch: float | None = None
        self.header_epoch: float | None = None
        self.seen_step = False
        # within-epoch restarts
        self.w_epoch: float | None = None
        self.w_last: float | None = None
        self.w_min: float | None = None
        self.w_total: float | None = None
        self.w_offset = 0.0
        # keras
        self.keras_total: float | None = None
        # caffe
        self.caffe_step: float | None = None
        self.caffe_split: str | None = None
        self.caffe_seen: dict[str, int] = {}
        # pandas-style epoch blocks
        self.block_epoch: float | None = None
        self.block_split: str | None = None
        # deferred steps (dicts without a step; lines before any step)
        self.pending: list[tuple[str, str | None, float, int, float | None, bool]] = []  # raw, canon, value, line, epoch, container
        self.ordinal_lines = array("q")
        self.bulk_pending: list[tuple[str, str | None, np.ndarray, np.ndarray, np.ndarray]] = []
        self.bar_lines = array("q")
        self.bar_steps = array("d")
        # events
        self.tracebacks: dict[int | None, TracebackTracker] = {}
        self.in_fence = False
        self.last_checkpoint: tuple[Any, int] | None = None
        self.last_kill_pid: Any = None
        # joins of wrapped lines
        self.join_text: str | None = None
        self.join_line = 0
        self.join_kind = ""
        self.join_count = 0
        self.raw_units: dict[str, str] = {}
        self.mem_rank: int | None = None
        self.n_records = 0

    # -- setup ---------------------------------------------------------------
    def set_format(self, fmt: str) -> None:
        self.fmt = fmt
        first = _RULE_ORDER.get(fmt, ())
        self.order = first + tuple(r for r in _ALL_RULES if r not in first)
        self.part.format = fmt

    # -- one line --------------------------------------------------------------
    def feed(self, lineno: int, raw: str) -> None:
        if self.markdown:
            s = raw.lstrip()
            if s.startswith("```") or s.startswith("~~~"):
                self.in_fence = not self.in_fence
                self._flush_join()
                return
        if "\r" in raw:
            self._redraws(lineno, raw)
        ln = normalize(raw)
        text = ln.text
        if self.join_text is not None:
            if self._continue_join(lineno, text):
                return
        if self._events_allowed():
            tb = self.tracebacks.get(ln.rank)
            if tb is None:
                tb = self.tracebacks[ln.rank] = TracebackTracker()
            inside, done = tb.feed(lineno, text)
            for f in done:
                self._emit(f, f.line or lineno, ln.rank)
            if inside:
                return
        if not text.strip():
            return
        self._line(lineno, text, ln)

    def _redraws(self, lineno: int, raw: str) -> None:
        """Progress-bar redraws joined by ``\\r`` before the text that is kept.

        The last train-bar redraw of each epoch (Lightning keeps one bar line for
        the whole fit) is read as its own record; the last bar redraw before a
        printed dict gives that dict its step.
        """
        segs = [x for x in raw.split("\r") if x.strip()]
        if len(segs) < 2:
            return
        bars: list[tuple[Rec, str]] = []
        for seg in segs[:-1]:
            if "|" not in seg and "━" not in seg:
                continue
            got = rule_bar(_ANSI_RE.sub("", seg) if "\x1b" in seg else seg)
            if got is not None and got[0].bar:
                bars.append((got[0], seg))
        if not bars:
            return
        last_text = normalize(segs[-1]).text
        last = rule_bar(last_text)
        last_epoch = last[0].epoch if last is not None and last[0].bar else None
        if last is None or not last[0].bar:
            # the kept text is not a bar (a dict printed by tqdm.write): the bar
            # state it was printed at locates it
            rec = bars[-1][0]
            if rec.step is not None:
                self._record(lineno, Rec(rule=rec.rule, step=rec.step, step_src=rec.step_src, total=rec.total, epoch=rec.epoch, within=rec.within, bar=True, keep=False), has_events=False)
        for i, (rec, _seg) in enumerate(bars):
            if rec.epoch is None:
                continue
            nxt = bars[i + 1][0].epoch if i + 1 < len(bars) else last_epoch
            if nxt is not None and nxt != rec.epoch and rec.pairs:
                self._record(lineno, rec, has_events=False)

    def _events_allowed(self) -> bool:
        return not self.markdown or self.in_fence

    def _line(self, lineno: int, text: str, ln: Line) -> None:
        rec: Rec | None = None
        after = ""
        for name in self.order:
            if name == "container":
                rec = rule_container(text, ln.tag)
            elif name == "bar":
                got = rule_bar(text)
                if got is not None:
                    rec, after = got
            else:
                rec = _RULE_FUNCS[name](text)
            if rec is not None:
                break
        if rec is None and text.startswith("  ") and _MEGATRON_ARG_RE.match(text) and not self.seen_step:
            m = _MEGATRON_ARG_RE.match(text)
            assert m is not None
            self.part.set_config(m.group(1), _config_value(m.group(2)), lineno)
            return
        if rec is None:
            rec = self._block_or_generic(lineno, text, ln)
        if rec is not None and rec.rule == "megatron" and not text.rstrip().endswith("|") and rec.step_src == "key" and rec.split is None:
            # a Megatron record wrapped onto the next lines (logbooks): join first
            self.join_text, self.join_line, self.join_kind, self.join_count = text, lineno, "megatron", 0
            return
        if rec is not None and rec.rule == "rich":
            self.join_text, self.join_line, self.join_kind, self.join_count = text, lineno, "rich", 0
            return
        events: list[Found] = []
        if self._events_allowed() and (rec is None or rec.rule in _EVENT_RULES or (rec.bar and after)):
            # lines of a metric format never state events; text printed after a
            # progress bar on the same line gets the bar's step
            events = line_events(after if (after and rec is not None and rec.bar) else text)
        if rec is not None:
            self._record(lineno, rec, has_events=bool(events))
        for f in events:
            self._emit(f, lineno, ln.rank)
        if after and rec is not None and rec.bar and after.strip() and not events:
            self._line(lineno, after.strip(), Line(after.strip(), -1, ln.rank, ln.tag))

    def _block_or_generic(self, lineno: int, text: str, ln: Line) -> Rec | None:
        # pandas-style epoch blocks ("TRAIN EPOCH  0:" then "loss   1.356284" rows)
        if "POCH" in text[:20] or "poch" in text[:20]:
            m = _BLOCK_HEAD_RE.match(text)
            if m:
                self.block_epoch = float(m.group(2))
                self.block_split = SPLIT_WORDS.get(m.group(1).lower())
                self.epoch = self.block_epoch
                return None
        if self.block_epoch is not None:
            m = _BLOCK_ROW_RE.match(text)
            if m:
                key = m.group("key")
                rec = Rec(rule="epoch_block", step=self.block_epoch, step_src="epoch", epoch=self.block_epoch, unit="epoch", split=self.block_split)
                rec.pairs.append((key, _float(m.group("val")), m.start("val")))
                if self.block_split:
                    rec.canon = {key: names.canonical(key, split_hint=self.block_split)}
                return rec
            self.block_epoch = None
            self.block_split = None
            if text.startswith("dtype:"):
                return None
        if self.markdown:
            return None
        rec = _pairs(text)
        rec.rule = "generic"
        if (rec.pairs or rec.step is not None) and _is_prose(text, len(rec.pairs)):
            return None
        if ln.tag and ln.tag.lower() in SPLIT_WORDS and rec.pairs:
            rec.split = SPLIT_WORDS[ln.tag.lower()]
            rec.canon = {k: names.canonical(k, split_hint=rec.split) for k, _, _ in rec.pairs}
        head = text.lstrip()[:24].lower()
        if rec.split is None and rec.pairs and (head.startswith(("valid on", "val ", "valid ", "validation", "eval ", "evaluation", "test ")) or "| valid on '" in text or text.startswith("epoch") and "valid on '" in text):
            rec.split = "val"
            rec.canon = {k: names.canonical(k, split_hint="val") for k, _, _ in rec.pairs}
        return rec

    # -- joins of wrapped lines ---------------------------------------------------
    def _continue_join(self, lineno: int, text: str) -> bool:
        kind = self.join_kind
        if kind == "megatron":
            if text and not _MEGATRON_RE.search(text) and self.join_count < 3 and not text.startswith("time (ms)"):
                self.join_text = (self.join_text or "") + " " + text.strip()
                self.join_count += 1
                if self.join_text.rstrip().endswith("|"):
                    self._flush_join()
                return True
        elif kind == "rich":
            if text.startswith((" ", "\t")) and text.strip() and "━" not in text and self.join_count < 20:
                self.join_text = (self.join_text or "") + " " + text.strip()
                self.join_count += 1
                return True
        self._flush_join()
        return False

    def _flush_join(self) -> None:
        if self.join_text is None:
            return
        text, lineno, kind = self.join_text, self.join_line, self.join_kind
        self.join_text = None
        rec: Rec | None
        if kind == "megatron":
            rec = rule_megatron(text)
        else:
            got = rule_bar(text)
            rec = got[0] if got else None
        if rec is not None:
            self._record(lineno, rec, has_events=False)

    # -- records -> points ------------------------------------------------------
    def _record(self, lineno: int, rec: Rec, *, has_events: bool) -> None:
        part = self.part
        if rec.header_epoch is not None:
            self.header_epoch = rec.header_epoch
            self.epoch = rec.header_epoch
            return
        if rec.rule == "megatron_mem":
            # every rank reports; keep the first rank seen so one series means one GPU
            if self.mem_rank is None:
                self.mem_rank = rec.rank
            if rec.rank != self.mem_rank:
                return
        if rec.rule == "caffe_test":
            self.caffe_step = rec.step
            self.step = rec.step
            self.caffe_split = "val"
            self.caffe_seen = {}
            return
        # epoch context
        if rec.epoch is not None:
            self.epoch = rec.epoch
        epoch = rec.epoch if rec.epoch is not None else self.epoch
        # resolve the step
        step = rec.step
        unit = rec.unit
        if rec.rule == "keras":
            if rec.total is not None and self.keras_total is None and self.header_epoch is not None:
                self.keras_total = rec.total
            if self.header_epoch is None or (self.keras_total is not None and rec.total != self.keras_total):
                # model.evaluate() after training: a test score at the last epoch
                if not rec.pairs:
                    return
                step = self.header_epoch if self.header_epoch is not None else None
                rec.canon = {k: names.canonical(k, split_hint="test") for k, _, _ in rec.pairs}
                rec.pairs = [(f"evaluate {k}", v, s) for k, v, s in rec.pairs]
                rec.canon = {f"evaluate {k}": c for k, c in rec.canon.items()}
                epoch = self.header_epoch
            else:
                n, total = rec.step or 0.0, rec.total or 1.0
                step = self.header_epoch if n >= total else (self.header_epoch - 1) + n / total
                epoch = self.header_epoch
        elif rec.rule.startswith("caffe"):
            if rec.rule == "caffe":
                if rec.step != self.caffe_step or self.caffe_split is not None or rec.pairs[0][0] == "loss":
                    self.caffe_seen = {}
                self.caffe_step = rec.step
                self.caffe_split = None
            else:
                step = self.caffe_step
                if self.caffe_split == "val" and rec.split is None:
                    raw = rec.pairs[0][0].replace("train net", "test net")
                    rec.pairs = [(raw, rec.pairs[0][1], rec.pairs[0][2])]
                name = rec.pairs[0][0]
                k = self.caffe_seen.get(name, 0)
                self.caffe_seen[name] = k + 1
                if k:
                    canon = (rec.canon or {}).get(rec.pairs[0][0])
                    name2 = f"{name} #{k}"
                    rec.pairs = [(name2, rec.pairs[0][1], rec.pairs[0][2])]
                    rec.canon = {name2: (canon + f" #{k}") if canon else name2}
        elif step is not None and rec.within and rec.step_src in ("bar", "key", "fraction"):
            step = self._within(step, rec)
        if step is not None and rec.step_src in ("epoch",):
            unit = "epoch"
        # bars locate dicts that have no step of their own
        if rec.bar and step is not None:
            self.bar_lines.append(lineno)
            self.bar_steps.append(step)
        if not rec.keep:
            if step is not None:
                self.step = step
            return
        if rec.summary:
            for k, v, _ in rec.pairs:
                part.set_summary(k, v, lineno)
            return
        pairs = rec.pairs
        if rec.drop_if is not None:
            pairs = [p for p in pairs if not rec.drop_if(p[0], p[1])]
        if has_events or not pairs:
            if step is not None and rec.step_src not in ("", "epoch"):
                self.step = step
                self.seen_step = True
            return
        own = step is not None
        if not own and not rec.container:
            if rec.rule == "generic" and len(pairs) < 2:
                # one value and no step of its own ("number of parameters: 10.65M") is
                # noise, unless it is a known metric printed alone ("val loss 3.28")
                key = pairs[0][0]
                if self.step is None or names.canonical(key) == key or len(key) > 40:
                    return
        if own:
            self.step = step
            self.seen_step = True
        canon = rec.canon or {}
        if step is None:
            if rec.container:
                if rec.ordinal:
                    self.ordinal_lines.append(lineno)
                for k, v, _ in pairs:
                    self.pending.append((k, canon.get(k), v, lineno, epoch, True))
                return
            if self.step is not None:
                step = self.step
                unit = self.raw_units.get(pairs[0][0], "step")
            elif epoch is not None and rec.rule != "generic":
                step, unit = epoch, "epoch"
            elif epoch is not None and rec.epoch is not None:
                step, unit = epoch, "epoch"
            else:
                for k, v, _ in pairs:
                    self.pending.append((k, canon.get(k), v, lineno, epoch, False))
                return
        self.n_records += 1
        for k, v, _ in pairs:
            name = self._point(k, canon.get(k), step, v, lineno, epoch)
            if unit != "step":
                self.raw_units[name] = unit

    def _point(self, raw: str, canon: str | None, step: float, value: float, line: int, epoch: float | None) -> str:
        """Add a point; a raw name already used for another quantity (``loss`` of a train
        block and of a ``Val epoch`` line) gets the canonical name appended."""
        b = self.part.series.get(raw)
        name = raw
        if b is not None and b.canonical != canon:
            want = canon or names.canonical(raw)
            have = b.canonical or names.canonical(raw)
            if want != have:
                name = f"{raw} [{want}]"
                canon = want
            else:
                canon = b.canonical
        self.part.point(name, step, value, line, epoch=epoch, canonical=canon)
        return name

    def _within(self, step: float, rec: Rec) -> float:
        """A counter that restarts each epoch (bar position, ``Epoch 2, Step 0``) as a global step."""
        ep = rec.epoch
        if self.w_epoch is not None and ep != self.w_epoch and self.w_last is not None and step <= self.w_last:
            if self.w_total:
                self.w_offset += self.w_total
            else:
                self.w_offset += self.w_last - (self.w_min or 0.0) + 1.0
            self.w_min = step
        if self.w_min is None or ep != self.w_epoch:
            self.w_min = step if self.w_min is None or ep != self.w_epoch else min(self.w_min, step)
        self.w_epoch = ep
        self.w_last = step
        if rec.total:
            self.w_total = rec.total if rec.step_src == "bar" else None
        return step + self.w_offset

    # -- events ----------------------------------------------------------------
    def _emit(self, f: Found, lineno: int, rank: int | None) -> None:
        data = dict(f.data)
        if rank is not None:
            data.setdefault("rank", rank)
        step = self.step
        for reserved in ("kind", "text", "line", "step"):
            if reserved in data:
                data["data_" + reserved] = data.pop(reserved)
        if f.kind == "checkpoint":
            key = data.get("checkpoint_step", data.get("path"))
            if self.last_checkpoint is not None and self.last_checkpoint[0] == key and lineno - self.last_checkpoint[1] <= 5:
                return
            self.last_checkpoint = (key, lineno)
            if "checkpoint_step" in data:
                step = float(data["checkpoint_step"])
        if f.kind == "killed" and "pid" in data:
            if data["pid"] == self.last_kill_pid:
                return
            self.last_kill_pid = data["pid"]
        if self.epoch is not None:
            data.setdefault("epoch", self.epoch)
        self.part.event(f.kind, f.text or "", lineno, step, **data)
        if f.kind == "loss_scale_overflow" and step is not None and isinstance(data.get("to"), float):
            self.part.point("loss_scale (overflow)", step, data["to"], lineno, epoch=self.epoch, canonical="loss_scale")

    # -- end of file -------------------------------------------------------------
    def finish(self) -> None:
        self._flush_join()
        for rank in sorted(self.tracebacks, key=lambda r: -1 if r is None else r):
            for f in self.tracebacks[rank].close():
                self._emit(f, f.line or 0, rank)
        self._resolve_pending()
        self._settings_out_of_series()
        for b in self.part.series.values():
            _order_by_line(b)
        for raw, unit in self.raw_units.items():
            if unit != self.part.step_unit:
                self.part.units[raw] = unit
        # a file whose only step-bearing series are per-epoch reads in epochs
        if self.part.series and all(self.part.units.get(r) == "epoch" for r in self.part.series):
            self.part.step_unit = "epoch"
            for r in list(self.part.units):
                if self.part.units[r] == "epoch":
                    del self.part.units[r]

    def _settings_out_of_series(self, *, curve: int = 5) -> None:
        """A value printed once in a log that has real curves is a setting, not a curve:
        move it to the config (``log.<name>``) so it neither clutters the series nor
        stretches the step range (a header line "... cosine to 1e-3 at step 800")."""
        series = self.part.series
        if not any(len(b) >= curve for b in series.values()):
            return
        # only names the metric table does not know: a single validation loss is still a measurement
        for raw in [r for r, b in series.items() if len(b) == 1 and (b.canonical or names.canonical(r)) == r]:
            b = series.pop(raw)
            key = "log." + re.sub(r"\s+", "_", raw.strip())
            self.part.set_config(key, b.values[0], int(b.lines[0]) or None)
            self.part.units.pop(raw, None)
            self.part.step_sources.pop(raw, None)

    def _resolve_pending(self) -> None:
        """Steps for lines that had none: a nearby tqdm bar, else their order among such lines."""
        if not self.pending and not self.bulk_pending:
            return
        part = self.part
        has_logged = part.n_points > 0
        blines = np.frombuffer(self.bar_lines, dtype=np.int64) if len(self.bar_lines) else np.zeros(0, np.int64)
        bsteps = np.frombuffer(self.bar_steps, dtype=np.float64) if len(self.bar_steps) else np.zeros(0)
        groups: dict[tuple[str, str | None, bool], list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        if self.pending:
            per: dict[tuple[str, str | None, bool], tuple[list[float], list[int], list[float]]] = {}
            for raw, canon, v, line, epoch, container in self.pending:
                g = per.setdefault((raw, canon, container), ([], [], []))
                g[0].append(v)
                g[1].append(line)
                g[2].append(math.nan if epoch is None else epoch)
            for key, (vs, ls, es) in per.items():
                groups.setdefault(key, []).append((np.asarray(vs, np.float64), np.asarray(ls, np.int64), np.asarray(es, np.float64)))
        for raw, canon, vs, ls, es in self.bulk_pending:
            groups.setdefault((raw, canon, True), []).append((vs, ls, es))
        has_containers = any(key[2] for key in groups)
        # Lines with no step in a file that has nothing better: a key must recur on
        # at least MIN_GENERIC_LINES lines to be a series (a sentence with two
        # numbers is not a training log).
        ord_parts = [np.frombuffer(self.ordinal_lines, dtype=np.int64)] if len(self.ordinal_lines) else []
        keep: dict[tuple[str, str | None, bool], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for key, blocks in groups.items():
            vs = np.concatenate([b[0] for b in blocks])
            ls = np.concatenate([b[1] for b in blocks])
            es = np.concatenate([b[2] for b in blocks])
            if not key[2]:
                if has_logged or has_containers or len(np.unique(ls)) < MIN_GENERIC_LINES:
                    continue  # header noise before the first step, prose, config lines
                ord_parts.append(ls)
            keep[key] = (vs, ls, es)
        if not keep:
            return
        ords = np.unique(np.concatenate(ord_parts)) if ord_parts else np.zeros(0, np.int64)
        resolved = []
        inferred = []
        for (raw, canon, container), (vs, ls, es) in keep.items():
            steps = _bar_steps(blines, bsteps, ls) if container else np.full(len(ls), np.nan)
            got = np.isfinite(steps)
            if got.any():
                resolved.append((raw, canon, steps[got], vs[got], ls[got], es[got]))
            if not got.all():
                miss = ~got
                n = np.searchsorted(ords, ls[miss], side="right").astype(np.float64)
                inferred.append((raw, canon, n, vs[miss], ls[miss], es[miss]))
        for raw, canon, st, vs, ls, es in resolved:
            self._bulk(raw, canon, st, vs, ls, es)
        if not inferred:
            return
        if not has_logged and not resolved:
            part.step_source = "inferred"
            for raw, canon, st, vs, ls, es in inferred:
                self._bulk(raw, canon, st, vs, ls, es)
            return
        # Mixed: series with a logged step and series placed by line order in one
        # file. The ordinal ones get a raw name of their own and are marked
        # inferred; discover prefers a logged series of the same canonical name.
        for raw, canon, st, vs, ls, es in inferred:
            name = f"{raw} (line order)"
            part.step_sources[name] = "inferred"
            self._bulk(name, canon, st, vs, ls, es)

    def _bulk(self, raw: str, canon: str | None, steps: np.ndarray, values: np.ndarray, lines: np.ndarray, epochs: np.ndarray | None) -> str:
        """Add many points to one raw series at once (same renaming rule as :meth:`_point`)."""
        if not len(steps):
            return raw
        part = self.part
        name = raw
        b = part.series.get(raw)
        if b is not None and b.canonical != canon:
            name = self._point(raw, canon, float(steps[0]), float(values[0]), int(lines[0]), None if epochs is None or epochs[0] != epochs[0] else float(epochs[0]))
            steps, values, lines = steps[1:], values[1:], lines[1:]
            epochs = None if epochs is None else epochs[1:]
            canon = part.series[name].canonical
        b = part.builder(name, canon)
        b.steps.frombytes(np.ascontiguousarray(steps, dtype=np.float64).tobytes())
        b.values.frombytes(np.ascontiguousarray(values, dtype=np.float64).tobytes())
        b.lines.frombytes(np.ascontiguousarray(lines, dtype=np.int64).tobytes())
        if epochs is not None and not np.isnan(epochs).all():
            b.epochs.frombytes(np.ascontiguousarray(epochs, dtype=np.float64).tobytes())
            b.has_epochs = True
        else:
            b.epochs.frombytes(np.full(len(steps), np.nan).tobytes())
        return name


def _order_by_line(b: Any) -> None:
    """Put a builder's points in (step, line) order, so that of two points at one step
    the later line is the one kept (the fast path adds a chunk's points out of line order)."""
    n = len(b.steps)
    if n < 2:
        return
    st = np.frombuffer(b.steps, dtype=np.float64)
    if np.all(st[1:] > st[:-1]):
        return
    ln = np.frombuffer(b.lines, dtype=np.int64)
    order = np.lexsort((ln, st))
    if np.array_equal(order, np.arange(n)):
        return
    for name in ("steps", "values", "lines", "epochs"):
        arr = getattr(b, name)
        if len(arr) != n:
            continue
        a = np.frombuffer(arr, dtype=np.int64 if name == "lines" else np.float64)[order].copy()
        setattr(b, name, array("q" if name == "lines" else "d", a.tobytes()))


def _bar_steps(blines: np.ndarray, bsteps: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The step of the tqdm bar printed right after each line (else right before), within
    BAR_WINDOW lines; NaN where there is none."""
    out = np.full(len(lines), np.nan)
    if not len(blines) or not len(lines):
        return out
    i = np.searchsorted(blines, lines, side="left")
    nxt = np.minimum(i, len(blines) - 1)
    after = (i < len(blines)) & (blines[nxt] - lines <= BAR_WINDOW)
    out[after] = bsteps[nxt[after]]
    prv = np.maximum(i - 1, 0)
    before = ~after & (i > 0) & (lines - blines[prv] <= BAR_WINDOW)
    out[before] = bsteps[prv[before]]
    return out


def _config_value(text: str) -> Any:
    t = text.strip()
    if t in ("True", "False"):
        return t == "True"
    if t == "None":
        return None
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


# ---------------------------------------------------------------------------
# the fast path: templated lines parsed a chunk at a time
# ---------------------------------------------------------------------------


@dataclass
class _Template:
    """The skeleton shared by most lines of a file, and how to turn its numbers into points.

    ``prefix`` bytes (a fixed-width timestamp) are blanked; then ``literals``,
    the non-numeric pieces of the line (whitespace trimmed), are blanked too,
    which leaves only numbers for ``numpy.fromstring`` to parse a chunk at a
    time. Any text that is not a template literal makes the parse fail, so a
    block whose number count is not exactly ``k`` per candidate line holds a
    line that does not fit the template; it is bisected until the odd lines are
    found, and those go through the line rules like any other line.
    """

    prefix: int
    anchor: bytes
    tail: bytes
    literals: list[bytes]
    k: int
    mode: str  # "col": the step is a column; "ordinal": a dict without step; "keras": the epoch header
    step_col: int | None
    epoch_col: int | None
    cols: list[tuple[int, str, str | None]]  # column, raw name, canonical
    total_col: int | None = None  # keras: N of "n/N"
    keras_total: float | None = None
    drop_mfu_col: int | None = None
    unit: str = "step"
    failures: int = 0


_UNSAFE_LITERAL = re.compile(rb"^[\d.eE+\-\s]*$")


def _skeleton(body: str) -> tuple[tuple[str, ...], list[tuple[int, int]]] | None:
    spans = [(m.start(), m.end()) for m in _NUMBER_TOKEN.finditer(body)]
    if len(spans) < 2:
        return None
    lits = []
    prev = 0
    for s, e in spans:
        lits.append(body[prev:s].strip())
        prev = e
    lits.append(body[prev:].strip())
    return tuple(lits), spans


def _learn_template(samples: list[tuple[str, Line, Rec]], n_head: int, keras_total: float | None) -> _Template | None:
    """The dominant skeleton among head lines that a rule parsed, if it is safe to vectorise."""
    counts: Counter[tuple[int, tuple[str, ...]]] = Counter()
    first: dict[tuple[int, tuple[str, ...]], tuple[str, Line, Rec, list[tuple[int, int]]]] = {}
    examples: dict[tuple[int, tuple[str, ...]], list[str]] = {}
    for raw, ln, rec in samples:
        if ln.offset < 0 or not rec.pairs or rec.within or rec.summary or not rec.keep:
            continue
        if rec.rule in ("caffe_output", "epoch_block", "tqdm", "rich", "megatron_mem", "epoch_summary"):
            continue
        if rec.rule == "keras":
            if keras_total is None or rec.total != keras_total:
                continue
        elif rec.step is None and not rec.ordinal:
            continue
        sk = _skeleton(raw[ln.offset :])
        if sk is None:
            continue
        key = (ln.offset, sk[0])
        counts[key] += 1
        first.setdefault(key, (raw, ln, rec, sk[1]))
        if len(examples.setdefault(key, [])) < 20:
            examples[key].append(raw[ln.offset :])
    if not counts:
        return None
    key, n = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
    if n < max(50, n_head // 4):
        return None
    raw, ln, rec, spans = first[key]
    body = raw[ln.offset :]
    skel = key[1]
    lits = [s.encode("utf-8") for s in skel]
    for i in range(1, len(lits)):
        b = lits[i]
        if i < len(lits) - 1 and not b:
            return None  # two numbers side by side
        if b and _UNSAFE_LITERAL.match(b):
            # " - " (Keras) is safe with its spaces: a negative number has none after its sign
            lo = spans[i - 1][1]
            hi = spans[i][0] if i < len(spans) else len(body)
            spaced = body[lo:hi]
            if i < len(lits) - 1 and spaced == " " + skel[i] + " ":
                lits[i] = spaced.encode("utf-8")
            else:
                return None
    col_of = {s: i for i, (s, _e) in enumerate(spans)}
    canon = rec.canon or {}
    cols: list[tuple[int, str, str | None]] = []
    for name, _v, pos in rec.pairs:
        c = col_of.get(pos)
        if c is None:
            return None
        cols.append((c, name, canon.get(name)))
    if len({c for c, _, _ in cols}) != len(cols):
        return None
    mode = "col"
    step_col = None
    total_col = None
    if rec.rule == "keras":
        mode = "keras"
        step_col = col_of.get(rec.step_span)
        if step_col is None:
            return None
        total_col = step_col + 1
    elif rec.step is not None:
        step_col = col_of.get(rec.step_span)
        if step_col is None or rec.step_src not in ("key", "fraction"):
            return None
    else:
        mode = "ordinal"
    epoch_col = None
    if rec.epoch is not None and rec.epoch_span >= 0:
        epoch_col = col_of.get(rec.epoch_span)
        if epoch_col is None:
            return None
    drop = next((c for c, k, _ in cols if k == "mfu"), None) if rec.drop_if is _mfu_placeholder else None
    anchor = body[: spans[0][0]].rstrip().encode("utf-8")[:64]
    tail = body[spans[-1][1] :].rstrip().encode("utf-8")
    # blanking order matters when literals overlap (Keras "s -" and " - "): use the
    # first order that gives back exactly the numbers of the example lines
    uniq = list(dict.fromkeys(b for b in lits if b))
    literals = None
    for order in (sorted(uniq, key=lambda b: (-len(b), b)), uniq[::-1], uniq):
        if all(_numbers_ok(ex, order) for ex in examples[key]):
            literals = order
            break
    if literals is None:
        return None
    return _Template(
        prefix=ln.offset,
        anchor=anchor,
        tail=tail,
        literals=literals,
        k=len(spans),
        mode=mode,
        step_col=step_col,
        epoch_col=epoch_col,
        cols=cols,
        total_col=total_col,
        keras_total=keras_total if mode == "keras" else None,
        drop_mfu_col=drop,
        unit="epoch" if mode == "keras" else "step",
    )


def _numbers_ok(body: str, literals: list[bytes]) -> bool:
    want = [_float(m.group(0)) for m in _NUMBER_TOKEN.finditer(body)]
    got = _parse_numbers(body.encode("utf-8"), literals)
    return got is not None and len(got) == len(want) and np.array_equal(got, np.asarray(want, dtype=np.float64), equal_nan=True)


def _parse_numbers(block: bytes, literals: list[bytes]) -> np.ndarray | None:
    for lit in literals:
        block = block.replace(lit, b" ")
    if not block.strip():
        return np.zeros(0)
    try:
        return np.fromstring(block, dtype=np.float64, sep=" ")
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------


def _iter_chunks(path: Path, part: Part) -> Iterator[tuple[int, bytes]]:
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
                part.issue(f"line is longer than {MAX_LINE_BYTES:,} bytes; skipped", skip_line)
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
            part.issue(f"line is longer than {MAX_LINE_BYTES:,} bytes; skipped", skip_line)
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
            part.issue(f"line is longer than {MAX_LINE_BYTES:,} bytes; skipped", ln)
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


def _lines_of(chunk: bytes, lineno: int, enc: str) -> Iterator[tuple[int, str]]:
    text = chunk.decode(enc, errors="replace")
    for i, line in enumerate(text.split("\n")[:-1]):
        yield lineno + i, line.rstrip("\r")


def read(src: Source) -> Part:
    """Read a printed training log (or a Markdown logbook, strictly) into a Part."""
    part = Part(source=src, reader=NAME)
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
    reader = _Reader(part, markdown=md)
    if enc == "utf-16":
        _read_text_lines(path, reader, part)
    else:
        _read_binary(path, reader, part, enc)
    reader.finish()
    return part


def _read_text_lines(path: Path, reader: _Reader, part: Part) -> None:
    from .textio import iter_lines

    head: list[tuple[int, str]] = []
    it = iter_lines(path, part)
    for ln, line in it:
        head.append((ln, line))
        if len(head) >= HEAD_LINES:
            break
    fmt, _ = detect_format([_detect_text(x) for _, x in head])
    reader.set_format(fmt)
    for ln, line in head:
        reader.feed(ln, line)
    for ln, line in it:
        reader.feed(ln, line)


def _read_binary(path: Path, reader: _Reader, part: Part, enc: str) -> None:
    dec = "utf-8" if enc in ("utf-8", "utf-8-sig") else enc
    chunks = _iter_chunks(path, part)
    head: list[tuple[int, str]] = []
    rest: list[tuple[int, bytes]] = []
    for first, chunk in chunks:
        lines = list(_lines_of(chunk, first, dec))
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
    fmt, _scores = detect_format([_detect_text(x) for _, x in head])
    reader.set_format(fmt)
    samples: list[tuple[str, Line, Rec]] = []
    for ln, line in head:
        reader.feed(ln, line)
    tpl = None
    if rest and not reader.markdown and FAST_PATH:
        for _ln, line in head[:HEAD_LINES]:
            norm = normalize(line)
            if norm.offset < 0 or not norm.text:
                continue
            rec = _sample_rule(norm, reader.order)
            if rec is not None:
                samples.append((line, norm, rec))
        tpl = _learn_template(samples, len(head), reader.keras_total)
    for first, chunk in _chain(rest, chunks):
        if tpl is not None and tpl.failures < 50:
            _vector_chunk(chunk, first, tpl, reader, dec)
        else:
            for ln, line in _lines_of(chunk, first, dec):
                reader.feed(ln, line)


def _chain(rest: list[tuple[int, bytes]], chunks: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
    yield from rest
    yield from chunks


def _sample_rule(ln: Line, order: tuple[str, ...]) -> Rec | None:
    """What the line rules make of a head line (no context), for learning the template."""
    text = ln.text
    for name in order:
        if name == "container":
            rec = rule_container(text, ln.tag)
        elif name == "bar":
            continue
        else:
            rec = _RULE_FUNCS[name](text)
        if rec is not None:
            return rec
    rec = _pairs(text)
    if rec.step is not None and len(rec.pairs) >= 1 and not _is_prose(text, len(rec.pairs)):
        return rec
    return None


def _candidates(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, tpl: _Template) -> np.ndarray:
    """Indexes of the lines that start with the template's anchor and end with its tail."""
    a = np.frombuffer(tpl.anchor, dtype=np.uint8)
    t = np.frombuffer(tpl.tail, dtype=np.uint8)
    e = ends - (buf[np.maximum(ends - 1, 0)] == 13)  # line end without a trailing \r
    idx = np.flatnonzero((e - starts) >= tpl.prefix + len(a) + len(t) + tpl.k)
    s = starts[idx] + tpl.prefix
    if not len(a):  # a line that starts with its first number: no letter first
        first = buf[np.minimum(s, len(buf) - 1)]
        ok = ((first >= 48) & (first <= 57)) | (first == 32) | (first == 45) | (first == 43) | (first == 46)
        idx, s = idx[ok], s[ok]
    for j in range(len(a)):
        if not len(idx):
            break
        ok = buf[s + j] == a[j]
        idx, s = idx[ok], s[ok]
    if len(t) and len(idx):
        ee = e[idx]
        for j in range(len(t)):
            ok = buf[ee - 1 - j] == t[len(t) - 1 - j]
            idx, ee = idx[ok], ee[ok]
    return idx


def _vector_chunk(chunk: bytes, first: int, tpl: _Template, reader: _Reader, dec: str) -> None:
    """Parse a chunk: template lines in bulk, every other line through the line rules, in order."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    n = len(ends)
    if n == 0:
        return
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    idx = _candidates(buf, starts, ends, tpl)
    if len(idx) < max(8, n // 20):
        tpl.failures += 1 if len(idx) < n // 100 else 0
        for ln, line in _lines_of(chunk, first, dec):
            reader.feed(ln, line)
        return
    is_cand = np.zeros(n, dtype=bool)
    is_cand[idx] = True
    # blank every other line, and the fixed-width prefix of candidates
    work = buf.copy()
    work[np.repeat(~is_cand, ends - starts + 1)] = 32
    if tpl.prefix:
        pre = (starts[idx][:, None] + np.arange(tpl.prefix)[None, :]).ravel()
        work[pre] = 32
    work[ends] = 10
    wbytes = work.tobytes()
    good: list[np.ndarray] = []
    rows_l: list[np.ndarray] = []
    bad: list[int] = []
    stack = [(0, len(idx))]
    k = tpl.k
    while stack:
        lo, hi = stack.pop()
        seg = wbytes[starts[idx[lo]] : ends[idx[hi - 1]] + 1]
        vals = _parse_numbers(seg, tpl.literals)
        if vals is not None and vals.shape[0] == (hi - lo) * k:
            good.append(idx[lo:hi])
            rows_l.append(vals.reshape(hi - lo, k))
            continue
        if hi - lo == 1:
            bad.append(int(idx[lo]))
            continue
        mid = (lo + hi) // 2
        stack.append((mid, hi))
        stack.append((lo, mid))
    if good:
        g_idx = np.concatenate(good)
        rows = np.concatenate(rows_l)
        order = np.argsort(g_idx, kind="stable")
        g_idx, rows = g_idx[order], rows[order]
    else:
        g_idx = np.zeros(0, dtype=np.int64)
        rows = np.zeros((0, k))
    # rows that parse but do not mean what the template says go through the rules too
    if len(g_idx):
        ok = np.ones(len(g_idx), dtype=bool)
        if tpl.step_col is not None:
            st = rows[:, tpl.step_col]
            ok &= np.isfinite(st) & (st >= 0)
            if tpl.mode == "col":
                ok &= st == np.floor(st)
        if tpl.mode == "keras" and tpl.total_col is not None:
            ok &= rows[:, tpl.total_col] == tpl.keras_total
        if not ok.all():
            bad.extend(g_idx[~ok].tolist())
            g_idx, rows = g_idx[ok], rows[ok]
    if len(bad) > max(10, len(idx) // 10):
        tpl.failures += 1
    if bad:
        is_cand[np.asarray(bad, dtype=np.int64)] = False
    others = np.flatnonzero(~is_cand)
    _apply_vector(g_idx, rows, others, starts, ends, chunk, first, tpl, reader, dec)


def _apply_vector(
    g_idx: np.ndarray,
    rows: np.ndarray,
    others: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    chunk: bytes,
    first: int,
    tpl: _Template,
    reader: _Reader,
    dec: str,
) -> None:
    """Feed the other lines in order (each sees the step of the template line before it), then
    add the template lines' points to the builders in bulk."""
    part = reader.part
    g_steps = rows[:, tpl.step_col] if tpl.mode == "col" and tpl.step_col is not None else None
    g_epochs = rows[:, tpl.epoch_col] if tpl.epoch_col is not None else None
    start_epoch, start_header = reader.epoch, reader.header_epoch
    ctx_epoch = np.full(len(others), np.nan)
    ctx_header = np.full(len(others), np.nan)
    prev_other = -1
    if len(others):
        pos = np.searchsorted(g_idx, others, side="left")
        olist = others.tolist()
        plist = pos.tolist()
        for j, li in enumerate(olist):
            p = plist[j]
            if p > 0 and int(g_idx[p - 1]) > prev_other:
                # a template line came after the previous other line: its step is the context
                if g_steps is not None:
                    reader.step = float(g_steps[p - 1])
                    reader.seen_step = True
                if g_epochs is not None:
                    reader.epoch = float(g_epochs[p - 1])
            line = chunk[starts[li] : ends[li]].decode(dec, errors="replace")
            reader.feed(first + li, line.rstrip("\r"))
            prev_other = li
            if reader.epoch is not None:
                ctx_epoch[j] = reader.epoch
            if reader.header_epoch is not None:
                ctx_header[j] = reader.header_epoch
    if not len(g_idx):
        return
    lines = (g_idx + first).astype(np.int64)
    # context of each template line: the state after the last other line before it
    before = np.searchsorted(others, g_idx, side="left") - 1 if len(others) else np.full(len(g_idx), -1)
    has_before = before >= 0
    safe = np.maximum(before, 0)

    def ctx(arr: np.ndarray, start: float | None) -> np.ndarray:
        out = arr[safe] if len(arr) else np.full(len(g_idx), np.nan)
        return np.where(has_before, out, np.nan if start is None else start)

    if g_epochs is not None:
        epochs = g_epochs
    else:
        epochs = ctx(ctx_epoch, start_epoch)
        if np.isnan(epochs).all():
            epochs = None
    if tpl.mode == "keras":
        header = ctx(ctx_header, start_header)
        nn = rows[:, tpl.step_col] if tpl.step_col is not None else np.ones(len(g_idx))
        tot = rows[:, tpl.total_col] if tpl.total_col is not None else np.ones(len(g_idx))
        steps = np.where(nn >= tot, header, header - 1 + nn / tot)
        epochs = header
        keep = np.isfinite(steps)
        if not keep.all():  # no "Epoch N/M" before them: not epochs (model.evaluate)
            steps, epochs, rows, lines = steps[keep], epochs[keep], rows[keep], lines[keep]
    else:
        steps = g_steps
    if tpl.mode == "ordinal":
        reader.ordinal_lines.extend(array("q", lines.tobytes()))
    for col, raw, canon in tpl.cols:
        vals = rows[:, col]
        mask = vals != -100.0 if tpl.drop_mfu_col is not None and col == tpl.drop_mfu_col else None
        ll = lines if mask is None else lines[mask]
        vl = vals if mask is None else vals[mask]
        el = None if epochs is None else (epochs if mask is None else epochs[mask])
        if steps is None:
            # dicts without a step: placed after reading, like any other
            reader.bulk_pending.append((raw, canon, vl, ll, np.full(len(vl), np.nan) if el is None else el))
            continue
        st = steps if mask is None else steps[mask]
        name = reader._bulk(raw, canon, st, vl, ll, el)
        if tpl.unit != "step":
            reader.raw_units[name] = tpl.unit
    last = len(g_idx) - 1
    if steps is not None and len(steps) and (not len(others) or g_idx[last] > others[-1]):
        reader.step = float(steps[-1])
        reader.seen_step = True
        if epochs is not None and epochs[-1] == epochs[-1]:
            reader.epoch = float(epochs[-1])
    reader.n_records += len(g_idx)


# ---------------------------------------------------------------------------
# sniff
# ---------------------------------------------------------------------------

_SNIFF_HINT = re.compile(
    rb"iter \d+: loss|step\s+\d+/\d+ \||^s:\d+ t[re]l:|\{'(?:loss|eval_loss|train_runtime)'|Epoch \d+/\d+|\d+%\|.*\| \d+/\d+ \[|"
    rb"iteration\s+\d+/\s*\d+ \||train_inner \||Iteration \d+|Traceback \(most recent call last\)|[Ll]oss[ =:]+\d",
    re.M,
)


def sniff(path: Path, head: bytes) -> float:
    """Low scores on purpose: a structured reader claims its format first."""
    try:
        if not head:
            return 0.0
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return 0.2
        if is_binary(head):
            return 0.0
        ext = path.suffix.lower()
        if ext in STRUCTURED_EXT:
            return 0.05
        hint = _SNIFF_HINT.search(head) is not None
        if ext in MARKDOWN_EXT:
            return 0.15
        if ext in TEXT_EXT or re.fullmatch(r"\.(?:log|out|err|txt)\.\d+|\.\d+", ext):
            return 0.3 if hint else 0.2
        return 0.15 if hint else 0.1
    except Exception:  # a sniff must never raise
        return 0.0
