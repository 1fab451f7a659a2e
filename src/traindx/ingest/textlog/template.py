"""The template of the fast path: the skeleton most lines of a file share, learnt from its head.

:func:`learn_templates` looks at the head lines that a line rule parsed, splits
each into numbers (``NUMBER_TOKEN``) and the literal text between them, and
takes the most common skeleton if enough lines have it, then the next common
skeletons of a log whose line types interleave. It records which
number is the step, the epoch and each series, and how to blank the literals
(:mod:`.blanking`), checked on example lines: a template is only used when
blanking gives back exactly the numbers the line rules read.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .blanking import Blanker, parse_numbers, replace_literals
from .normalize import Line
from .record import Rec
from .rules_llm import mfu_placeholder
from .tokens import NUMBER_TOKEN, to_float


@dataclass
class Template:
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
    blanker: Blanker | None = None  # the quick blanking, when it is exact on the examples


SECOND_SHARE = 0.02  # a further template must cover this share of the head lines
MIN_SECOND_LINES = 20
MAX_TEMPLATES = 6

_UNSAFE_LITERAL = re.compile(rb"^[\d.eE+\-\s]*$")


def _skeleton(body: str) -> tuple[tuple[str, ...], list[tuple[int, int]]] | None:
    spans = [(m.start(), m.end()) for m in NUMBER_TOKEN.finditer(body)]
    if len(spans) < 2:
        return None
    lits = []
    prev = 0
    for s, e in spans:
        lits.append(body[prev:s].strip())
        prev = e
    lits.append(body[prev:].strip())
    return tuple(lits), spans


def learn_templates(
    samples: list[tuple[str, Line, Rec]], n_head: int, keras_total: float | None, *, share: float = SECOND_SHARE, most: int = MAX_TEMPLATES
) -> list[Template]:
    """The dominant skeleton among head lines that a rule parsed, if it is safe to vectorise, then the next most common skeletons
    that each cover at least ``share`` of the head lines, most common first; empty if no
    template dominates. A Keras template stays alone: its epoch header is a state of its own."""
    counts, first, examples = _count(samples, keras_total)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if not ranked or ranked[0][1] < max(50, n_head // 4):
        return []
    out: list[Template] = []
    floor = max(MIN_SECOND_LINES, math.ceil(share * n_head))
    for i, (key, n) in enumerate(ranked):
        if len(out) >= most or (i and n < floor):
            break
        tpl = _build(key, first[key], examples[key], keras_total)
        if tpl is None:
            if not i:
                return []
            continue
        if tpl.mode == "keras":
            if not i:
                return [tpl]
            continue
        out.append(tpl)
    return out


_Key = tuple[int, tuple[str, ...]]


def _count(
    samples: list[tuple[str, Line, Rec]], keras_total: float | None
) -> tuple[Counter[_Key], dict[_Key, tuple[str, Line, Rec, list[tuple[int, int]]]], dict[_Key, list[str]]]:
    """How many head lines have each skeleton, the first line of each and up to 20 examples."""
    counts: Counter[_Key] = Counter()
    first: dict[_Key, tuple[str, Line, Rec, list[tuple[int, int]]]] = {}
    examples: dict[_Key, list[str]] = {}
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
    return counts, first, examples


def _build(
    key: _Key, firstline: tuple[str, Line, Rec, list[tuple[int, int]]], examples: list[str], keras_total: float | None
) -> Template | None:
    """The template of one skeleton, or None if it is not safe to vectorise."""
    raw, ln, rec, spans = firstline
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
    drop = next((c for c, k, _ in cols if k == "mfu"), None) if rec.drop_if is mfu_placeholder else None
    anchor = body[: spans[0][0]].rstrip().encode("utf-8")[:64]
    tail = body[spans[-1][1] :].rstrip().encode("utf-8")
    # blanking order matters when literals overlap (Keras "s -" and " - "): use the
    # first order that gives back exactly the numbers of the example lines
    uniq = list(dict.fromkeys(b for b in lits if b))
    literals = None
    for order in (sorted(uniq, key=lambda b: (-len(b), b)), uniq[::-1], uniq):
        if all(_numbers_ok(ex, order) for ex in examples):
            literals = order
            break
    if literals is None:
        return None
    return Template(
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
        blanker=_quick_blanker(literals, examples),
    )


def _wanted(body: str) -> np.ndarray:
    return np.asarray([to_float(m.group(0)) for m in NUMBER_TOKEN.finditer(body)], dtype=np.float64)


def _same(got: np.ndarray | None, want: np.ndarray) -> bool:
    return got is not None and len(got) == len(want) and np.array_equal(got, want, equal_nan=True)


def _numbers_ok(body: str, literals: list[bytes]) -> bool:
    return _same(parse_numbers(replace_literals(body.encode("utf-8"), literals)), _wanted(body))


def _quick_blanker(literals: list[bytes], examples: list[str]) -> Blanker | None:
    """The quick blanking of these literals, if it gives back exactly the numbers of every
    example and blanks the same bytes in each of them."""
    blanker = Blanker.for_literals(literals)
    expected: np.ndarray | None = None
    for ex in examples:
        data = ex.encode("utf-8")
        if not _same(parse_numbers(blanker.blank(data).tobytes()), _wanted(ex)):
            return None
        got = blanker.blanked_bytes(data)
        if expected is None:
            expected = got
        elif not np.array_equal(expected, got):
            return None
    if expected is None:
        return None
    blanker.expected = expected
    return blanker
