"""Blanking the literal text of a template in a chunk, so that only its numbers are left.

Two ways, both leaving every byte where it was:

* :class:`Blanker`, the quick one: one ``bytes.translate`` turns every
  character that only literals use (letters, ``:``, ``|``, quotes...) into a
  space. What a number can also hold (digits, ``.``, ``+``, ``-``, ``e``/``E``)
  is kept, then blanked where no number can have it: an ``e`` that does not
  sit between a digit and an exponent, a ``.`` with no digit beside it, a sign
  before no digit. Literals that hold digits (``bf16``) are replaced whole
  first. Nothing text could hold is trusted blindly: the blanked bytes of each
  line must be exactly the template's literal bytes, in order
  (:meth:`Blanker.check`), so an extra word, a renamed key or a ``nan`` value
  sends the line elsewhere.
* :func:`replace_literals`, the old careful one: each literal is replaced where
  it occurs. It reads ``nan`` and ``inf`` values in bulk, so lines that the quick
  way turned down get a second chance here.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

SPACE = 32
_DIGITS = frozenset(b"0123456789")
_KEPT = frozenset(b"0123456789.+-eE")  # what the translation keeps: a number may hold it
_WHITESPACE = frozenset(b" \t\r\n\x0b\x0c")


def replace_literals(block: bytes, literals: list[bytes]) -> bytes:
    """Each literal replaced by one space wherever it occurs (the order of ``literals`` counts)."""
    for lit in literals:
        block = block.replace(lit, b" ")
    return block


def parse_numbers(block: bytes) -> np.ndarray | None:
    """The whitespace-separated numbers of a block; None if anything else is left."""
    if not block.strip():
        return np.zeros(0)
    try:
        return np.fromstring(block, dtype=np.float64, sep=" ")
    except ValueError:
        return None


def parse_rows(block: bytes, k: int) -> np.ndarray | None:
    """The numbers of a block of lines as rows of ``k``; None unless every non-blank line holds
    exactly ``k`` whitespace-separated numbers and nothing else.

    ``numpy.loadtxt`` reads the lines with its C parser (about twice as fast as
    ``numpy.fromstring`` here); ``#`` is no comment and blank lines are skipped.
    """
    if not block.strip():
        return np.zeros((0, k))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = np.loadtxt(io.BytesIO(block), dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None
    return rows if rows.shape[1] == k else None


@dataclass
class Blanker:
    """The quick blanking of one template: a translation table, a few fixes and a check."""

    table: bytes  # literal-only characters -> space
    pre: list[bytes]  # literals holding digits: replaced (same length) before the translation
    fix_e: bool  # some literal holds an e/E
    fix_dot: bool
    fix_sign: bool
    expected: np.ndarray | None = None  # the blanked bytes of one template line, in order

    @classmethod
    def for_literals(cls, literals: list[bytes]) -> Blanker:
        pre = [lit for lit in literals if any(c in _DIGITS for c in lit)]
        chars: set[int] = set()
        for lit in literals:
            if lit not in pre:
                chars.update(lit)
        table = bytes(SPACE if (c in chars and c not in _KEPT and c not in _WHITESPACE) else c for c in range(256))
        kept = {c for c in chars if c in _KEPT}
        return cls(
            table=table,
            pre=sorted(pre, key=lambda b: (-len(b), b)),
            fix_e=bool(kept & {ord("e"), ord("E")}),
            fix_dot=ord(".") in kept,
            fix_sign=bool(kept & {ord("+"), ord("-")}),
        )

    def blank(self, data: bytes) -> np.ndarray:
        """``data`` with the literal text blanked (a new writable array, same length)."""
        for lit in self.pre:
            data = data.replace(lit, b" " * len(lit))
        t = np.frombuffer(data.translate(self.table), dtype=np.uint8).copy()
        n = len(t)
        if n < 2:
            return t
        # the fixes look at the few kept e . + - bytes and their neighbours only
        if self.fix_e:
            # an e is kept only between a digit (or '.') and the exponent: 1e-05, 2.E3
            p = np.flatnonzero((t == 101) | (t == 69))
            if len(p):
                prev = t[np.maximum(p - 1, 0)]
                nxt = t[np.minimum(p + 1, n - 1)]
                ok = (_is_digit(prev) | (prev == 46)) & (_is_digit(nxt) | (nxt == 43) | (nxt == 45)) & (p > 0) & (p < n - 1)
                t[p[~ok]] = SPACE
        if self.fix_dot:
            # a '.' is kept only next to a digit: 1.5, .5, 5.
            p = np.flatnonzero(t == 46)
            if len(p):
                prev = t[np.maximum(p - 1, 0)]
                nxt = t[np.minimum(p + 1, n - 1)]
                ok = (_is_digit(prev) & (p > 0)) | (_is_digit(nxt) & (p < n - 1))
                t[p[~ok]] = SPACE
        if self.fix_sign:
            # a sign is kept only before a digit or a '.': -5, +.5, 1e-05
            p = np.flatnonzero((t == 43) | (t == 45))
            if len(p):
                nxt = t[np.minimum(p + 1, n - 1)]
                ok = (_is_digit(nxt) | (nxt == 46)) & (p < n - 1)
                t[p[~ok]] = SPACE
        return t

    def blanked_bytes(self, data: bytes) -> np.ndarray:
        """The bytes of ``data`` that :meth:`blank` turns into spaces, in order."""
        w = np.frombuffer(data, dtype=np.uint8)
        t = self.blank(data)
        return w[(w != SPACE) & (t == SPACE)]

    def check(self, w: np.ndarray, t: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """For each line starting at ``starts[i]`` in ``w`` (in order; the bytes of other lines
        are all spaces), whether the bytes that ``t`` blanked are exactly the template's
        literal bytes, in order."""
        exp = self.expected
        n = len(starts)
        if exp is None or not n:
            return np.zeros(n, dtype=bool)
        pos = np.flatnonzero(w != t)  # t is w with the blanked bytes turned into spaces
        seq = w[pos]
        width = len(exp)
        if len(seq) == n * width and seq.tobytes() == exp.tobytes() * n:
            return np.ones(n, dtype=bool)  # every line, the usual case
        # blanked bytes per line: other lines are all spaces, so the blanked bytes between
        # two line starts belong to the first of them
        bounds = np.searchsorted(pos, np.append(starts, len(w)))
        counts = np.diff(bounds)
        ok = counts == width
        if width and ok.any():
            at = bounds[:-1][ok][:, None] + np.arange(width)[None, :]
            ok[ok] = (seq[at] == exp).all(axis=1)
        return ok


def _is_digit(a: np.ndarray) -> np.ndarray:
    return (a >= 48) & (a <= 57)
