"""The generic extractor: ``key=value``, ``key: value`` and ``key value`` pairs of any line.

Lines of trainers that no dedicated rule knows go through :func:`pairs`. Step,
epoch and split words are taken out of the values (``step=20`` is the line's
step, not a series); ``N/M`` after ``step``/``iter`` gives the step and its
total. :func:`is_prose` recognises sentences (issue text, notes), whose
accidental pairs are no measurements.
"""

from __future__ import annotations

import re

from .record import Rec
from .tokens import (
    EPOCH_KEYS,
    IGNORE_KEYS,
    KEY,
    NANINF_EQ,
    NUM,
    SPLIT_WORDS,
    STEP_KEYS,
    STOP_WORDS,
    VAL,
    to_float,
)

PAIR_RE = re.compile(
    rf"(?<![\w./\-])(?P<key>{KEY})[ \t]*(?:[:=][ \t]*\[?(?P<val>{NANINF_EQ}|{NUM})|[ \t]+\[?(?P<val2>{VAL}))"
    rf"(?P<unit>%|[A-Za-z][A-Za-z/]{{0,5}}\b)?(?![\w.])"
)
FRACTION_RE = re.compile(r"\b(?P<w>(?i:step|iter|iteration|global_step))\s*[:=]?\s*(?P<n>\d+)\s*/\s*(?P<N>\d+)")
EPOCH_RE = re.compile(r"\b(?i:epoch)\s*[:=]?\s*\[?\s*(?P<e>\d+(?:\.\d+)?)(?:\s*/\s*(?P<E>\d+))?")

_PROSE_WORD = re.compile(r"(?<![\w./\-])[A-Za-z][a-z']+(?![\w./\-])")
_SENTENCE = re.compile(r"(?:(?<![\w./\-=:])[A-Za-z][a-z']*[,;]?[ ]+){6}[A-Za-z][a-z']*(?![\w/=:])")


def clean_key(key: str) -> str:
    """A key without the stop words around it (``"of lr"`` -> ``"lr"``); empty when nothing is left."""
    if " " not in key:
        return "" if key.lower() in STOP_WORDS else key
    words = key.split(" ")
    while words and words[0].lower() in STOP_WORDS:
        words = words[1:]
    while words and words[-1].lower() in STOP_WORDS:
        words = words[:-1]
    return " ".join(words)


def pairs(text: str, base: int = 0, rec: Rec | None = None) -> Rec:
    """Generic key/value extraction; step, epoch and split words are taken out of the values."""
    rec = rec if rec is not None else Rec()
    fm = FRACTION_RE.search(text) if "/" in text else None
    if fm and rec.step is None:
        rec.step = float(fm.group("n"))
        rec.step_span = base + fm.start("n")
        rec.total = float(fm.group("N"))
        rec.step_src = "fraction"
    matches = list(PAIR_RE.finditer(text))
    first_eq = _first_eq(text, matches)
    for m in matches:
        key = m.group("key")
        if key[0] == "(":
            continue
        raw_key = key
        key = clean_key(key)
        if not key:
            continue
        if first_eq is not None and m.group("val") is None and (m.start() > first_eq or key != raw_key):
            # the line states its values as key=value: a number in the prose around them
            # ("... warmup to 5e-01 over 400 steps, cosine to 1e-03 at step 800") is no pair
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
            val = to_float(m.group(vg))
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
        em = EPOCH_RE.search(text)
        if em:
            rec.epoch = float(em.group("e"))
            rec.epoch_span = base + em.start("e")
    return rec


def _first_eq(text: str, matches: list[re.Match[str]]) -> int | None:
    """Where the first ``key=value`` pair of the line starts, if it has one."""
    for m in matches:
        if m.group("val") is not None and "=" in text[m.end("key") : m.start("val")]:
            return m.start()
    return None


def is_prose(text: str, n_pairs: int) -> bool:
    """Sentences (issue text, notes) yield accidental pairs; skip lines that read as prose."""
    if len(text) < 30:
        return False
    if _SENTENCE.search(text):
        return True
    words = len(_PROSE_WORD.findall(text))
    return words >= 8 and words > 3 * (n_pairs + 1)
