"""The end of reading a TensorBoard run: series to the Part, a derived global gradient norm, text, restart events.

Split from :mod:`.tensorboard_events` (which decodes the records); these
functions run once per run, after the last record.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

import numpy as np

from . import names
from . import tensorboard_text as tt
from .part import SeriesBuilder

if TYPE_CHECKING:  # pragma: no cover
    from .tensorboard_events import EventReader

MAX_RESTART_EVENTS = 20
MAX_SAMPLES = 1000
GLOBAL_GRAD = ("grad_norm", "grad_norm/pre_clip", "grad_norm/post_clip")


def finish(r: EventReader) -> None:
    """Hand the series, the derived global gradient norm, the text and the restart events to the part."""
    part = r.part
    for t in r.all_tags():
        if not len(t.steps):
            continue
        hand_over(part.builder(t.name, t.canonical), t.steps, t.values, t.epoch_unit)
        if t.epoch_unit:
            part.units[t.name] = "epoch"
    global_grad_norm(r)
    texts(r)
    restart_events(r)


def global_grad_norm(r: EventReader) -> None:
    """sqrt(sum of squared layer norms) at steps where every gradient histogram was logged."""
    grads = [t for t in r.derived.values() if t.canonical and t.canonical.startswith("grad_norm/") and len(t.steps)]
    if len(grads) < 2:
        return
    for t in r.tags.values():
        if len(t.steps) and (t.canonical or names.canonical(t.name)) in GLOBAL_GRAD:
            return  # the run logs its own global norm
    steps = np.concatenate([np.frombuffer(t.steps, dtype=np.float64) for t in grads])
    sq = np.concatenate([np.frombuffer(t.values, dtype=np.float64) ** 2 for t in grads])
    uniq, inverse, counts = np.unique(steps, return_inverse=True, return_counts=True)
    total = np.bincount(inverse, weights=sq, minlength=len(uniq))
    full = counts == len(grads)
    if not full.any():
        return
    s = uniq[full]
    steps, values = array("d"), array("d")
    steps.frombytes(s.astype(np.float64).tobytes())
    values.frombytes(np.sqrt(total[full]).astype(np.float64).tobytes())
    hand_over(r.part.builder("norm(gradient histograms)", "grad_norm"), steps, values, False)


def texts(r: EventReader) -> None:
    n_samples = 0
    for tag in sorted(r.texts):
        entries = r.texts[tag]
        _, body0 = entries[0]
        parsed = tt.text_config(tag, body0)
        if parsed is not None:
            for k, v in parsed.items():
                r.part.set_config(k, v)
            continue
        if len({s for s, _ in entries}) > 1:
            for step, body in entries:
                if n_samples < MAX_SAMPLES:
                    r.part.sample(body, None, step=step)
                    n_samples += 1
            continue
        r.part.set_config(f"text.{tag}", body0[: tt.MAX_TEXT])
    if n_samples >= MAX_SAMPLES:
        r.part.issue(f"more than {MAX_SAMPLES} text samples; the first {MAX_SAMPLES} kept")


def restart_events(reader: EventReader) -> None:
    restarts = sorted(reader.restarts.values(), key=lambda r: (r.file, r.step))
    for r in restarts[:MAX_RESTART_EVENTS]:
        if r.why == "start":
            what = f"TensorBoard SessionLog START at step {_num(r.step)} (the run restarted from a checkpoint)"
        elif r.why == "resumed":
            what = f"the run resumed in a new event file at step {_num(r.step)} (the previous file ended at step {_num(r.until)})"
        else:
            what = f"restart at step {_num(r.step)}: steps went back (a resumed run, or a new run written into the same folder)"
        if r.superseded:
            what += (
                f"; {r.superseded} points logged before it at steps {_num(r.step)}-{_num(r.until)}"
                f" ({', '.join(r.tags)}) are superseded by the later ones"
            )
            if r.nonfinite:
                what += f", {r.nonfinite} of them NaN or inf"
        msg = f"{r.file}: {what}" if reader.several else what
        reader.part.event("restart", msg, None, r.step, file=r.file, superseded=r.superseded, nonfinite=r.nonfinite)
    if len(restarts) > MAX_RESTART_EVENTS:
        reader.part.issue(f"{len(restarts)} restarts in all (steps went back {len(restarts)} times); the first {MAX_RESTART_EVENTS} are events")


def hand_over(b: SeriesBuilder, steps: array, values: array, epoch_unit: bool) -> None:
    """Give a fresh builder whole ``array`` buffers, as if each point had been added with ``add`` (line 0).

    ``add`` per point would cost a call each on files of millions of scalars;
    the buffers are the builder's own kind, so its views stay zero-copy and its
    lines read as plain integers.
    """
    if len(b):
        for i in range(len(steps)):  # never the case for a tag's own builder; kept correct anyway
            b.add(steps[i], values[i], 0, steps[i] if epoch_unit else None)
        return
    b._s, b._v, b._l = steps, values, array("q", bytes(8 * len(steps)))
    if epoch_unit:
        b.has_epochs = True
        b._e = array("d", steps)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
