"""The fast path: lines that share one template, parsed a chunk at a time with numpy.

When most lines of a big file share one skeleton (``iter N: loss X, time Yms,
mfu Z%``, see :mod:`.template`), :func:`parse_chunk` takes whole chunks of such
lines at once: the lines that start with the template's anchor and end with its
tail are candidates, the template's literal text is blanked (:mod:`.blanking`)
and ``numpy.fromstring`` reads what is left. Lines whose literal text is not
the template's, and blocks whose numbers do not come out as exactly ``k`` per
line, are set aside (a failing block is bisected until its odd lines are
found); those get the careful literal-by-literal blanking, and what still does
not fit goes through the line rules like any other line, in order.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Callable

import numpy as np

from .blanking import SPACE, parse_numbers, parse_rows, replace_literals
from .lines import lines_of
from .reader import Reader
from .template import Template

ENABLED = True  # tests compare the fast path with the line-by-line path


def _candidates(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, tpl: Template) -> np.ndarray:
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


def _blank_lines(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, keep: np.ndarray, prefix: int) -> np.ndarray:
    """A copy of ``buf`` where every line not in ``keep`` (indexes) and the first ``prefix``
    bytes of those in it are spaces; line ends stay."""
    n = len(starts)
    work = buf.copy()
    if len(keep) < n:
        drop = np.ones(n, dtype=bool)
        drop[keep] = False
        work[np.repeat(drop, ends - starts + 1)] = SPACE
    if prefix and len(keep):
        work[(starts[keep][:, None] + np.arange(prefix)[None, :]).ravel()] = SPACE
    work[ends] = 10
    return work


def _bisect(
    idx: np.ndarray, k: int, parse: Callable[[int, int], np.ndarray | None]
) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Parse the candidate lines ``idx`` block by block: a block whose numbers are not exactly
    ``k`` per line is halved until its odd lines are found. ``parse(lo, hi)`` reads the numbers
    of lines ``idx[lo:hi]``. Returns the parsed line indexes, their rows, and the odd lines."""
    good: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    bad: list[int] = []
    stack = [(0, len(idx))] if len(idx) else []
    while stack:
        lo, hi = stack.pop()
        vals = parse(lo, hi)
        if vals is not None and vals.size == (hi - lo) * k:
            good.append(idx[lo:hi])
            rows.append(vals.reshape(hi - lo, k))
            continue
        if hi - lo == 1:
            bad.append(int(idx[lo]))
            continue
        mid = (lo + hi) // 2
        stack.append((mid, hi))
        stack.append((lo, mid))
    return good, rows, bad


def _quick(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray, tpl: Template) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """The quick blanking over the candidates: (parsed lines, their rows, lines set aside)."""
    blanker = tpl.blanker
    assert blanker is not None
    work = _blank_lines(buf, starts, ends, idx, tpl.prefix)
    t = blanker.blank(work.tobytes())
    ok = blanker.check(work, t, starts[idx])
    del work
    aside = idx[~ok]
    if len(aside):
        idx = idx[ok]
        drop = np.zeros(len(starts), dtype=bool)
        drop[aside] = True
        t[np.repeat(drop, ends - starts + 1)] = SPACE
        t[ends] = 10
    data = t.tobytes()
    del t

    def parse(lo: int, hi: int) -> np.ndarray | None:
        return parse_rows(data[starts[idx[lo]] : ends[idx[hi - 1]] + 1], tpl.k)

    good, rows, bad = _bisect(idx, tpl.k, parse)
    if bad:
        aside = np.sort(np.concatenate([aside, np.asarray(bad, dtype=np.int64)]))
    return good, rows, aside


def _careful(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray, tpl: Template) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Literal-by-literal blanking over the candidates ``idx``: (parsed lines, rows, odd lines)."""
    data = _blank_lines(buf, starts, ends, idx, tpl.prefix).tobytes()

    def parse(lo: int, hi: int) -> np.ndarray | None:
        return parse_numbers(replace_literals(data[starts[idx[lo]] : ends[idx[hi - 1]] + 1], tpl.literals))

    return _bisect(idx, tpl.k, parse)


def parse_chunk(chunk: bytes, first: int, tpls: list[Template], reader: Reader, dec: str) -> None:
    """Parse a chunk: template lines in bulk, every other line through the line rules, in order.

    With several templates, each takes its candidates among the lines that no earlier
    template parsed."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    n = len(ends)
    if n == 0:
        return
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    taken = np.zeros(n, dtype=bool)
    groups: list[tuple[Template, np.ndarray, np.ndarray]] = []
    for i, t in enumerate(tpls):
        idx = _candidates(buf, starts, ends, t)
        if i and len(idx):
            idx = idx[~taken[idx]]
        if len(idx) < max(8, n // 20 if not i else n // 200):
            if not i:
                t.failures += 1 if len(idx) < n // 100 else 0
            continue
        g_idx, rows, bad = _parse_template(buf, starts, ends, idx, t)
        if len(bad) > max(10, len(idx) // 10):
            t.failures += 1
        if len(g_idx):
            taken[g_idx] = True
            groups.append((t, g_idx, rows))
    if not groups:
        for ln, line in lines_of(chunk, first, dec):
            reader.feed(ln, line)
        return
    others = np.flatnonzero(~taken)
    if groups[0][0].mode == "keras":
        g_tpl, g_idx, rows = groups[0]
        _apply_vector(g_idx, rows, others, starts, ends, chunk, first, g_tpl, reader, dec)
    else:
        _apply_groups(groups, others, starts, ends, chunk, first, reader, dec)


def _parse_template(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray, tpl: Template) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The candidate lines ``idx`` of one template: (parsed line indexes in order, their rows,
    the candidates that go through the line rules after all)."""
    k = tpl.k
    good: list[np.ndarray] = []
    rows_l: list[np.ndarray] = []
    rest = idx
    if tpl.blanker is not None:
        good, rows_l, rest = _quick(buf, starts, ends, idx, tpl)
    bad: list[int] = []
    if len(rest):
        g2, r2, bad = _careful(buf, starts, ends, rest, tpl)
        good += g2
        rows_l += r2
    if good:
        g_idx = np.concatenate(good)
        rows = np.concatenate(rows_l)
        if len(good) > 1:
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
    return g_idx, rows, bad


def _apply_vector(
    g_idx: np.ndarray,
    rows: np.ndarray,
    others: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    chunk: bytes,
    first: int,
    tpl: Template,
    reader: Reader,
    dec: str,
) -> None:
    """Feed the other lines in order (each sees the step of the template line before it), then
    add the template lines' points to the builders in bulk."""
    # columns as arrays of their own: the builders keep them, the rows matrix is freed
    g_steps = np.ascontiguousarray(rows[:, tpl.step_col]) if tpl.mode == "col" and tpl.step_col is not None else None
    g_epochs = np.ascontiguousarray(rows[:, tpl.epoch_col]) if tpl.epoch_col is not None else None
    start_epoch, start_header = reader.epoch, reader.header_epoch
    ctx_epoch = np.full(len(others), np.nan)
    ctx_header = np.full(len(others), np.nan)
    prev_other = -1
    if len(others):
        pos = np.searchsorted(g_idx, others, side="left").tolist()
        g_list = g_idx.tolist()
        st_list = g_steps.tolist() if g_steps is not None else None
        ep_list = g_epochs.tolist() if g_epochs is not None else None
        keras = tpl.mode == "keras"
        for j, li in enumerate(others.tolist()):
            p = pos[j]
            if p > 0 and g_list[p - 1] > prev_other:
                # a template line came after the previous other line: its step is the context
                if st_list is not None:
                    reader.step = st_list[p - 1]
                    reader.seen_step = True
                if ep_list is not None:
                    reader.epoch = ep_list[p - 1]
            if not (keras and _keras_header(chunk, int(starts[li]), int(ends[li]), reader)):
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
        vals = np.ascontiguousarray(rows[:, col])  # its own array: the rows matrix is freed after the chunk
        mask = vals != -100.0 if tpl.drop_mfu_col is not None and col == tpl.drop_mfu_col else None
        ll = lines if mask is None else lines[mask]
        vl = vals if mask is None else vals[mask]
        el = None if epochs is None else (epochs if mask is None else epochs[mask])
        if steps is None:
            # dicts without a step: placed after reading, like any other
            reader.bulk_pending.append((raw, canon, vl, ll, np.full(len(vl), np.nan) if el is None else el))
            continue
        st = steps if mask is None else steps[mask]
        name = reader.add_bulk(raw, canon, st, vl, ll, el)
        if tpl.unit != "step":
            reader.raw_units[name] = tpl.unit
    last = len(g_idx) - 1
    if steps is not None and len(steps) and (not len(others) or g_idx[last] > others[-1]):
        reader.step = float(steps[-1])
        reader.seen_step = True
        if epochs is not None and epochs[-1] == epochs[-1]:
            reader.epoch = float(epochs[-1])
    reader.n_records += len(g_idx)


def _setters(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Line indexes and values of the template lines that set one piece of the reader's
    state (its step, its epoch), merged in line order."""
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    idx = np.concatenate([p[0] for p in parts])
    val = np.concatenate([p[1] for p in parts])
    order = np.argsort(idx, kind="stable")
    return idx[order], val[order]


def _apply_groups(
    groups: list[tuple[Template, np.ndarray, np.ndarray]],
    others: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    chunk: bytes,
    first: int,
    reader: Reader,
    dec: str,
) -> None:
    """Feed the other lines in order, then add the template lines' points in bulk, for one or
    several templates (none of them Keras): each other line sees the step and the epoch of the
    last line before it that set them, whatever its template. While a traceback or a wrapped
    record is open after an other line, the template lines that follow go to the rules too."""
    cols: list[tuple[np.ndarray | None, np.ndarray | None]] = []
    step_parts: list[tuple[np.ndarray, np.ndarray]] = []
    epoch_parts: list[tuple[np.ndarray, np.ndarray]] = []
    for tpl, g_idx, rows in groups:
        g_steps = np.ascontiguousarray(rows[:, tpl.step_col]) if tpl.mode == "col" and tpl.step_col is not None else None
        g_epochs = np.ascontiguousarray(rows[:, tpl.epoch_col]) if tpl.epoch_col is not None else None
        cols.append((g_steps, g_epochs))
        if g_steps is not None:
            step_parts.append((g_idx, g_steps))
        if g_epochs is not None:
            epoch_parts.append((g_idx, g_epochs))
    s_idx, s_val = _setters(step_parts)
    e_idx, e_val = _setters(epoch_parts)
    start_epoch = reader.epoch
    g_all = np.sort(np.concatenate([g for _, g, _ in groups])) if len(groups) > 1 else groups[0][1]
    g_list = g_all.tolist()
    fed_lines: list[int] = []  # template lines read by the rules: a traceback or a wrapped record was open
    fed_epoch: list[float] = []
    q = 0
    nxt = int(others[0]) if len(others) else len(starts)
    while q < len(g_list) and g_list[q] < nxt and not reader.idle():
        # a traceback or a wrapped record still open from the chunk before
        _feed_one(chunk, starts, ends, g_list[q], first, reader, dec)
        fed_lines.append(g_list[q])
        fed_epoch.append(math.nan if reader.epoch is None else reader.epoch)
        q += 1
    if len(others):
        s_pos = np.searchsorted(s_idx, others, side="left").tolist()
        e_pos = np.searchsorted(e_idx, others, side="left").tolist()
        g_pos = np.searchsorted(g_all, others, side="right").tolist()
        s_lines, s_vals = s_idx.tolist(), s_val.tolist()
        e_lines, e_vals = e_idx.tolist(), e_val.tolist()
        o_list = others.tolist()
        prev_other = fed_lines[-1] if fed_lines else -1
        for j, li in enumerate(o_list):
            p = s_pos[j]
            if p > 0 and s_lines[p - 1] > prev_other:
                reader.step = s_vals[p - 1]
                reader.seen_step = True
            p = e_pos[j]
            if p > 0 and e_lines[p - 1] > prev_other:
                reader.epoch = e_vals[p - 1]
            _feed_one(chunk, starts, ends, li, first, reader, dec)
            prev_other = li
            fed_lines.append(li)
            fed_epoch.append(math.nan if reader.epoch is None else reader.epoch)
            # the template lines right after it are the rules' while the reader is busy
            q = g_pos[j]
            nxt = o_list[j + 1] if j + 1 < len(o_list) else len(starts)
            while q < len(g_list) and g_list[q] < nxt and not reader.idle():
                _feed_one(chunk, starts, ends, g_list[q], first, reader, dec)
                prev_other = g_list[q]
                fed_lines.append(prev_other)
                fed_epoch.append(math.nan if reader.epoch is None else reader.epoch)
                q += 1
    if len(fed_lines) > len(others):
        # template lines the rules read leave the bulk; they count as other lines from here on
        taken = np.setdiff1d(np.asarray(fed_lines, dtype=np.int64), others)
        kept = []
        for (tpl, g_idx, rows), (g_steps, g_epochs) in zip(groups, cols):
            ok = ~np.isin(g_idx, taken)
            kept.append(((tpl, g_idx[ok], rows[ok]), (None if g_steps is None else g_steps[ok], None if g_epochs is None else g_epochs[ok])))
        groups = [k[0] for k in kept]
        cols = [k[1] for k in kept]
        step_parts = [(g, st) for (_, g, _), (st, _) in zip(groups, cols) if st is not None]
        epoch_parts = [(g, ep) for (_, g, _), (_, ep) in zip(groups, cols) if ep is not None]
        s_idx, s_val = _setters(step_parts)
        e_idx, e_val = _setters(epoch_parts)
    order = np.argsort(np.asarray(fed_lines, dtype=np.int64), kind="stable")
    others = np.asarray(fed_lines, dtype=np.int64)[order]
    ctx_epoch = np.asarray(fed_epoch, dtype=np.float64)[order]
    last_other = int(others[-1]) if len(others) else -1
    for (tpl, g_idx, rows), (g_steps, g_epochs) in zip(groups, cols):
        if not len(g_idx):
            continue
        lines = (g_idx + first).astype(np.int64)
        if g_epochs is not None:
            epochs: np.ndarray | None = g_epochs
        else:
            epochs = _epoch_context(g_idx, others, ctx_epoch, e_idx, e_val, start_epoch)
            if np.isnan(epochs).all():
                epochs = None
        if tpl.mode == "ordinal":
            reader.ordinal_lines.extend(array("q", lines.tobytes()))
        for col, raw, canon in tpl.cols:
            vals = np.ascontiguousarray(rows[:, col])
            mask = vals != -100.0 if tpl.drop_mfu_col is not None and col == tpl.drop_mfu_col else None
            ll = lines if mask is None else lines[mask]
            vl = vals if mask is None else vals[mask]
            el = None if epochs is None else (epochs if mask is None else epochs[mask])
            if g_steps is None:
                reader.bulk_pending.append((raw, canon, vl, ll, np.full(len(vl), np.nan) if el is None else el))
                continue
            st = g_steps if mask is None else g_steps[mask]
            name = reader.add_bulk(raw, canon, st, vl, ll, el)
            if tpl.unit != "step":
                reader.raw_units[name] = tpl.unit
        reader.n_records += len(g_idx)
    # the state after the chunk: the last line that set each piece, if it is a template line
    if len(s_idx) and s_idx[-1] > last_other:
        reader.step = float(s_val[-1])
        reader.seen_step = True
    if len(e_idx) and e_idx[-1] > last_other:
        reader.epoch = float(e_val[-1])


def _feed_one(chunk: bytes, starts: np.ndarray, ends: np.ndarray, li: int, first: int, reader: Reader, dec: str) -> None:
    line = chunk[starts[li] : ends[li]].decode(dec, errors="replace")
    reader.feed(first + li, line.rstrip("\r"))


def _epoch_context(
    g_idx: np.ndarray, others: np.ndarray, ctx_epoch: np.ndarray, e_idx: np.ndarray, e_val: np.ndarray, start: float | None
) -> np.ndarray:
    """The reader's epoch at each template line ``g_idx`` (that has no epoch of its own): that
    of the last line before it that set it, an other line or a template line with an epoch."""
    out = np.full(len(g_idx), np.nan if start is None else start)
    o_before = np.searchsorted(others, g_idx, side="left") - 1 if len(others) else np.full(len(g_idx), -1)
    e_before = np.searchsorted(e_idx, g_idx, side="left") - 1 if len(e_idx) else np.full(len(g_idx), -1)
    o_line = np.where(o_before >= 0, others[np.maximum(o_before, 0)] if len(others) else -1, -1)
    e_line = np.where(e_before >= 0, e_idx[np.maximum(e_before, 0)] if len(e_idx) else -1, -1)
    use_o = (o_line >= 0) & (o_line > e_line)
    use_e = (e_line >= 0) & (e_line > o_line)
    if use_o.any():
        out[use_o] = ctx_epoch[o_before[use_o]]
    if use_e.any():
        out[use_e] = e_val[e_before[use_e]]
    return out


_KERAS_HEADER = re.compile(rb"Epoch (\d+)/(\d+)\s*$")


def _keras_header(chunk: bytes, start: int, end: int, reader: Reader) -> bool:
    """A Keras ``Epoch N/M`` line between template lines, taken as the line rules would take it
    (it only sets the epoch of what follows) without decoding it; False if the line is anything
    else or the reader is inside a traceback or a wrapped record."""
    if chunk[start : start + 6] != b"Epoch " or not reader.idle():
        return False
    m = _KERAS_HEADER.match(chunk, start, end)
    if m is None:
        return False
    reader.header_epoch = reader.epoch = float(m.group(1))
    return True
