"""The reading state of one file: line records turned into points, events and config.

:class:`Reader` is fed every line in order (:meth:`Reader.feed`), or, on the fast
path, most lines in bulk (:meth:`Reader.add_bulk`). It keeps the step and epoch
context, joins records wrapped onto several lines, tracks traceback blocks,
defers values that have no step yet, and at :meth:`Reader.finish` resolves
them (a nearby progress bar, else the order of such lines).
"""

from __future__ import annotations

import math
import re
from array import array
from typing import Any

import numpy as np

from .. import names
from ..logevents import Found, TracebackTracker, line_events
from ..part import Part, SeriesBuilder
from .normalize import ANSI_RE, Line, normalize
from .pairs import is_prose, pairs
from .record import Rec
from .rules import apply_rules, rule_order
from .rules_llm import MEGATRON_ARG_RE, MEGATRON_RE, rule_megatron
from .rules_misc import BLOCK_HEAD_RE, BLOCK_ROW_RE
from .rules_progress import rule_bar
from .tokens import SPLIT_WORDS, to_float

BAR_WINDOW = 3  # lines between an HF dict and the tqdm bar that gives its step
MIN_GENERIC_LINES = 3  # a stepless key must recur this often to become a series
GENERIC_CACHE = 4096  # lines remembered by the generic extractor (logs repeat lines word for word)
LINE_CACHE = 4096  # raw lines remembered with what normalising, the line rules and the event signatures made of them
CACHE_ENABLED = True  # tests compare reading with and without the line cache

_UNSET: Any = object()  # a slot of the line cache not filled yet

_EVENT_RULES = {"generic", "epoch_summary", "epoch_block"}


class Reader:
    """Reads one file's lines into a Part; all per-file state lives here."""

    def __init__(self, part: Part, *, markdown: bool = False) -> None:
        self.part = part
        self.markdown = markdown
        self.fmt = "generic"
        self.order: tuple[str, ...] = rule_order("generic")
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
        self.generic_cache: dict[tuple[str, str | None], Rec | None] = {}
        # raw line -> [Line, (rule Rec, text after a bar) | _UNSET, events | _UNSET]: each part
        # depends on the text alone (and on the rule order, so a new format empties it)
        self.line_cache: dict[str, list[Any]] = {}

    # -- setup ---------------------------------------------------------------
    def set_format(self, fmt: str) -> None:
        self.fmt = fmt
        self.order = rule_order(fmt)
        self.line_cache.clear()
        self.part.format = fmt

    def idle(self) -> bool:
        """No traceback block is open and no wrapped record waits for its next line."""
        return self.join_text is None and not any(tb.active for tb in self.tracebacks.values())

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
        slot: list[Any] | None = None
        if CACHE_ENABLED:
            slot = self.line_cache.get(raw)
            if slot is None:
                if len(self.line_cache) >= LINE_CACHE:
                    self.line_cache.clear()
                slot = self.line_cache[raw] = [normalize(raw), _UNSET, _UNSET]
            ln = slot[0]
        else:
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
        self._line(lineno, text, ln, slot)

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
            got = rule_bar(ANSI_RE.sub("", seg) if "\x1b" in seg else seg)
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

    def _line(self, lineno: int, text: str, ln: Line, slot: list[Any] | None = None) -> None:
        rec: Rec | None
        if slot is None:
            rec, after = apply_rules(text, ln.tag, self.order)
        else:
            # the cached Rec stays as the rules made it: the reading state gets a copy to change
            if slot[1] is _UNSET:
                slot[1] = apply_rules(text, ln.tag, self.order)
            rec, after = slot[1]
            if rec is not None:
                rec = rec.copy()
        if rec is None and text.startswith("  ") and MEGATRON_ARG_RE.match(text) and not self.seen_step:
            m = MEGATRON_ARG_RE.match(text)
            assert m is not None
            self.part.set_config(m.group(1), config_value(m.group(2)), lineno)
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
            # which text is asked depends on the rules' answer only (``after`` is set for a bar only)
            if slot is None:
                events = line_events(after if (after and rec is not None and rec.bar) else text)
            else:
                if slot[2] is _UNSET:
                    slot[2] = line_events(after if (after and rec is not None and rec.bar) else text)
                events = slot[2]
        if rec is not None:
            self._record(lineno, rec, has_events=bool(events))
        for f in events:
            self._emit(f, lineno, ln.rank)
        if after and rec is not None and rec.bar and after.strip() and not events:
            self._line(lineno, after.strip(), Line(after.strip(), -1, ln.rank, ln.tag))

    def _block_or_generic(self, lineno: int, text: str, ln: Line) -> Rec | None:
        # pandas-style epoch blocks ("TRAIN EPOCH  0:" then "loss   1.356284" rows)
        if "POCH" in text[:20] or "poch" in text[:20]:
            m = BLOCK_HEAD_RE.match(text)
            if m:
                self.block_epoch = float(m.group(2))
                self.block_split = SPLIT_WORDS.get(m.group(1).lower())
                self.epoch = self.block_epoch
                return None
        if self.block_epoch is not None:
            m = BLOCK_ROW_RE.match(text)
            if m:
                key = m.group("key")
                rec = Rec(rule="epoch_block", step=self.block_epoch, step_src="epoch", epoch=self.block_epoch, unit="epoch", split=self.block_split)
                rec.pairs.append((key, to_float(m.group("val")), m.start("val")))
                if self.block_split:
                    rec.canon = {key: names.canonical(key, split_hint=self.block_split)}
                return rec
            self.block_epoch = None
            self.block_split = None
            if text.startswith("dtype:"):
                return None
        if self.markdown:
            return None
        key = (text, ln.tag)
        if key in self.generic_cache:
            got = self.generic_cache[key]
            return None if got is None else got.copy()
        rec = _generic(text, ln)
        if len(self.generic_cache) >= GENERIC_CACHE:
            self.generic_cache.clear()
        self.generic_cache[key] = rec
        return None if rec is None else rec.copy()


    # -- joins of wrapped lines ---------------------------------------------------
    def _continue_join(self, lineno: int, text: str) -> bool:
        kind = self.join_kind
        if kind == "megatron":
            if text and not MEGATRON_RE.search(text) and self.join_count < 3 and not text.startswith("time (ms)"):
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
        shared: dict[tuple[str, int], list[np.ndarray]] = {}
        for b in self.part.series.values():
            b.compact(shared)  # series given the same step and line arrays keep sharing them
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
            self.part.set_config(key, float(b.values[0]), int(b.lines[0]) or None)
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
                if has_logged or has_containers or len(_sorted_unique(ls)) < MIN_GENERIC_LINES:
                    continue  # header noise before the first step, prose, config lines
                ord_parts.append(ls)
            keep[key] = (vs, ls, es)
        if not keep:
            return
        ords = _sorted_unique(np.concatenate(ord_parts)) if ord_parts else np.zeros(0, np.int64)
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
            self.add_bulk(raw, canon, st, vs, ls, es)
        if not inferred:
            return
        if not has_logged and not resolved:
            part.step_source = "inferred"
            for raw, canon, st, vs, ls, es in inferred:
                self.add_bulk(raw, canon, st, vs, ls, es)
            return
        # Mixed: series with a logged step and series placed by line order in one
        # file. The ordinal ones get a raw name of their own and are marked
        # inferred; discover prefers a logged series of the same canonical name.
        for raw, canon, st, vs, ls, es in inferred:
            name = f"{raw} (line order)"
            part.step_sources[name] = "inferred"
            self.add_bulk(name, canon, st, vs, ls, es)

    def add_bulk(self, raw: str, canon: str | None, steps: np.ndarray, values: np.ndarray, lines: np.ndarray, epochs: np.ndarray | None) -> str:
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
        if epochs is not None and np.isnan(epochs).all():
            epochs = None  # no epoch array for points that have none
        part.builder(name, canon).extend(steps, values, lines, epochs)
        return name


def _order_by_line(b: SeriesBuilder) -> None:
    """Put a builder's points in (step, line) order, so that of two points at one step
    the later line is the one kept (the fast path adds a chunk's points out of line order)."""
    if len(b) < 2:
        return
    st = b.steps
    if np.all(st[1:] > st[:-1]):
        return
    order = np.lexsort((b.lines, st))
    if np.array_equal(order, np.arange(len(order))):
        return
    b.reorder(order)


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


def config_value(text: str) -> Any:
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


def _generic(text: str, ln: Line) -> Rec | None:
    """What the generic extractor makes of a line no rule read (None for prose)."""
    rec = pairs(text)
    rec.rule = "generic"
    if (rec.pairs or rec.step is not None) and is_prose(text, len(rec.pairs)):
        return None
    if ln.tag and ln.tag.lower() in SPLIT_WORDS and rec.pairs:
        rec.split = SPLIT_WORDS[ln.tag.lower()]
        rec.canon = {k: names.canonical(k, split_hint=rec.split) for k, _, _ in rec.pairs}
    head = text.lstrip()[:24].lower()
    if rec.split is None and rec.pairs and (head.startswith(("valid on", "val ", "valid ", "validation", "eval ", "evaluation", "test ")) or "| valid on '" in text or text.startswith("epoch") and "valid on '" in text):
        rec.split = "val"
        rec.canon = {k: names.canonical(k, split_hint="val") for k, _, _ in rec.pairs}
    return rec


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """``numpy.unique`` of line numbers, skipped when they are already strictly increasing
    (the usual case: lines are collected in file order)."""
    if len(a) < 2 or bool(np.all(a[1:] > a[:-1])):
        return a
    return np.unique(a)
