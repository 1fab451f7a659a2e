"""The rule for printed dicts and JSON objects: HF Trainer (v4 floats, v5 strings), fairseq/metaseq json."""

from __future__ import annotations

import re

from .. import names
from .record import Rec
from .tokens import VAL, to_float

_DICT_PAIR_RE = re.compile(
    rf"""['"](?P<key>[^'"]+)['"]\s*:\s*(?:np\.float\d*\(|tensor\()?['"]?(?P<val>{VAL}|-?(?:nan|inf|NaN|Infinity))['"]?"""
)
_FAIRSEQ_JSON_RE = re.compile(r"^(?:.*?\|\s*)?(?P<tag>train_inner|train|valid|valid_[\w]+|test|[\w]*valid[\w]*)\s*\|\s*(?P<body>\{.*\})\s*$")
_STEP_KEYS = ("num_updates", "global_step", "step", "_step", "trainer/global_step")


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
            val = to_float(m.group("val"))
        except ValueError:
            continue
        low = key.lower()
        if low in _STEP_KEYS or low.endswith("_num_updates"):
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
