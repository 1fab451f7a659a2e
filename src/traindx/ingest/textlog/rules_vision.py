"""Line rules of vision trainers: Caffe (glog), mmdetection and yolact."""

from __future__ import annotations

import math
import re

from .. import names
from .pairs import pairs
from .record import Rec
from .tokens import VAL, to_float

_CAFFE_ITER_RE = re.compile(rf"^Iteration (\d+)(?: \((?P<rate>\S+) iter/s[^)]*\))?, loss = (?P<loss>{VAL})")
_CAFFE_LR_RE = re.compile(rf"^Iteration (\d+), lr = (?P<lr>{VAL})")
_CAFFE_TEST_RE = re.compile(r"^Iteration (\d+), Testing net")
_CAFFE_OUT_RE = re.compile(rf"^\s*(Train|Test) net output #(\d+): (\S+) = (?P<val>{VAL})")


def rule_caffe(text: str) -> Rec | None:
    c = text[:1]
    if c == "I":
        if not text.startswith("Iteration "):
            return None
        m = _CAFFE_ITER_RE.match(text)
        if m:
            rec = Rec(rule="caffe", step=float(m.group(1)), step_span=m.start(1), step_src="key")
            rec.pairs.append(("loss", to_float(m.group("loss")), m.start("loss")))
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
            rec.pairs.append(("lr", to_float(m.group("lr")), m.start("lr")))
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
    rec.pairs.append((raw, to_float(m.group("val")), m.start("val")))
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
    pairs(m.group("rest"), m.start("rest"), rec)
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
        pairs(seg, base, rec)
        base += len(seg) + 2
    return rec
