"""PNG plots annotated with what the diagnosis found (matplotlib, imported only here, only when used).

Each plot draws the curves and, on them, the places the symptoms point at:
the onset of a divergence, each loss or gradient spike, the first non-finite
value, the best validation step (where early stopping would stop). Non-finite
values are never dropped silently: they are drawn as red crosses along the top
of the axes and counted in the legend. Long series are downsampled first
(:mod:`.downsample` keeps every bucket's extremes and non-finite points), so a
plot of millions of points draws a few thousand and takes well under a second.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas
(no pyplot, no GUI, no global backend switch), at a fixed size and DPI, from the
default style, with the PNG software tag removed so the same diagnosis gives
the same bytes with the same matplotlib.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks.gradients.layers import GLOBAL_GRAD, natural_key
from ..diagnosis import Diagnosis
from ..run import Run, Series, display_name, fmt_num, fmt_step
from .common import (
    NO_MARK,
    PLOT_FILES,
    RUN_WIDE,
    Mark,
    axis_range,
    marks_for,
    symptom_marks,
    symptom_words,
)
from .downsample import downsample

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_DRAWN = 4000  # points per series handed to matplotlib (before the extremes of each bucket are added)
DPI = 100
WIDTH_IN = 10.0

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
SERIES_COLORS = {"loss/train": "#1f77b4", "loss/val": "#ff7f0e", "loss/test": "#8c564b", "lr": "#2ca02c", "grad_norm": "#9467bd"}
SEVERITY_COLORS = {"critical": "#c92a2a", "high": "#e8590c", "medium": "#e0a100", "low": "#1c7ed6", "info": "#868e96"}
NONFINITE_COLOR = "#e03131"
BEST_COLOR = "#2b8a3e"

CLIP_KEYS = ("max_grad_norm", "grad_clip", "clip_grad", "clip_grad_norm", "gradient_clip_val", "gradient_clipping", "clip_norm", "max_norm")
MEMORY_PREFIXES = ("memory/", "mem/", "mem_", "gpu_mem", "memory_", "rss")
TIME_SERIES = ("step_time", "step_time_ms", "epoch_time", "data_wait", "data_time", "throughput", "samples_per_sec", "iters_per_sec", "tflops_per_gpu", "updates_per_sec")


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def _mpl() -> Any:
    try:
        import matplotlib
        import matplotlib.style
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise PlotUnavailable("plots need matplotlib: pip install 'traindx[plots]'") from e
    return matplotlib


def styled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a plotting function under matplotlib's default style, whatever the user's matplotlibrc says."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        mpl = _mpl()
        with mpl.style.context("default"), mpl.rc_context({"svg.hashsalt": "traindx", "svg.fonttype": "none"}):
            return fn(*args, **kwargs)

    return wrapper


def _figure(height_in: float, width_in: float = WIDTH_IN) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")


def save(fig: Figure, path: Path) -> None:
    """Write ``fig``; PNG/SVG/PDF by the suffix, without the metadata that changes from run to run."""
    suffix = path.suffix.lower().lstrip(".") or "png"
    meta: dict[str, Any] = {}
    if suffix == "png":
        meta = {"Software": None}
    elif suffix == "svg":
        meta = {"Date": None, "Creator": None}
    elif suffix == "pdf":
        meta = {"CreationDate": None, "Producer": None, "Creator": None}
    fig.savefig(path, format=suffix, dpi=DPI, metadata=meta)


# -- text that goes into matplotlib -------------------------------------------------------------
def tx(text: str) -> str:
    """User-derived text made safe for matplotlib: ``$`` would start mathtext, a leading ``_`` hides a legend entry."""
    t = text.replace("\\", "\\\\").replace("$", r"\$")
    return " " + t if t.startswith("_") else t


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# -- drawing helpers ---------------------------------------------------------------------------
def _color(name: str, i: int) -> str:
    return SERIES_COLORS.get(name, COLORS[i % len(COLORS)])


@dataclass
class Drawn:
    """What :func:`draw_series` handed to matplotlib (downsampled), for scaling the axis."""

    steps: np.ndarray
    values: np.ndarray
    color: str
    name: str


def draw_series(ax: Axes, s: Series, *, color: str, label: str | None = None, lw: float = 1.3) -> Drawn:
    """Draw ``s`` (downsampled), its non-finite points as crosses along the top; returns what was drawn."""
    steps, vals = downsample(s.steps, s.values, MAX_DRAWN)
    fin = np.isfinite(vals)
    n_fin = int(fin.sum())
    label = tx(label or display_name(s.name))
    sparse = n_fin <= 60
    y = np.where(fin, vals, np.nan)
    ax.plot(steps, y, color=color, lw=lw, label=label, marker="o" if sparse else None, ms=3.5 if sparse else 0)
    if n_fin == 1:  # a lone point between non-finite ones draws no line: give it a visible marker
        ax.plot(steps[fin], vals[fin], ls="", marker="o", ms=5, color=color)
    bad = ~fin
    if bad.any():
        total_bad = int((~np.isfinite(s.values)).sum())
        kinds = sorted({"NaN" if math.isnan(v) else ("inf" if v > 0 else "-inf") for v in vals[bad]})
        ax.plot(
            steps[bad],
            np.full(int(bad.sum()), 0.97),
            transform=ax.get_xaxis_transform(),
            ls="",
            marker="x",
            ms=6,
            mew=1.6,
            color=NONFINITE_COLOR,
            clip_on=False,
            label=tx(f"{display_name(s.name)}: {'/'.join(kinds)} ({total_bad} point{'s' if total_bad != 1 else ''})"),
        )
    return Drawn(steps, vals, color, s.name)


def step_axis(ax: Axes) -> None:
    """Step ticks as people write them: 250k, 1.5M rather than an offset exponent."""
    from matplotlib.ticker import FuncFormatter

    def fmt(v: float, _pos: int) -> str:
        a = abs(v)
        if a >= 1e6:
            return f"{v / 1e6:g}M"
        if a >= 1e4:
            return f"{v / 1e3:g}k"
        return f"{v:g}"

    ax.xaxis.set_major_formatter(FuncFormatter(fmt))


def scale_axis(ax: Axes, drawn: Sequence[Drawn], *, ylabel: str) -> None:
    """Log or linear by the range; clip a far outlying tail and draw it as arrows at the top."""
    log, top = axis_range([d.values for d in drawn])
    if log:
        ax.set_yscale("log")
    if top is not None:
        fin = np.concatenate([d.values[np.isfinite(d.values)] for d in drawn])
        bottom = float(fin.min())
        pad = (top / bottom) ** 0.03 if log else None
        ax.set_ylim(bottom / pad if pad else bottom - 0.03 * (top - bottom), top)
        for d in drawn:
            over = np.isfinite(d.values) & (d.values > top)
            if over.any():
                ax.plot(
                    d.steps[over],
                    np.full(int(over.sum()), 0.99),
                    transform=ax.get_xaxis_transform(),
                    ls="",
                    marker="^",
                    ms=6,
                    color=d.color,
                    clip_on=False,
                    label=tx(f"{display_name(d.name)} off the scale (up to {fmt_num(float(d.values[over].max()), 3)})"),
                )
    ax.set_ylabel(tx(ylabel))
    ax.grid(True, alpha=0.3, lw=0.6)
    step_axis(ax)


def legend(fig: Figure, axes: Sequence[Axes]) -> None:
    """One legend for the figure, outside the plotting area on the right, so it never hides a curve."""
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    if not handles:
        return
    try:
        fig.legend(handles, labels, loc="outside upper center", ncols=min(3, len(handles)), fontsize=8, frameon=False)
    except ValueError:  # matplotlib before 3.7 has no "outside" placement
        axes[0].legend(handles, labels, loc="upper right", fontsize=8, framealpha=0.85)


def _value_at(s: Series, step: float) -> float | None:
    """The value logged at ``step``, or the last one before it (None when none is finite)."""
    if not len(s):
        return None
    i = int(np.searchsorted(s.steps, step, side="right")) - 1
    if i < 0:
        return None
    v = float(s.values[i])
    return v if math.isfinite(v) else None


def draw_marks(ax: Axes, marks: Sequence[Mark], *, labels: bool, series: Sequence[Series] = ()) -> None:
    """Vertical lines at onsets, first NaN and best steps (labelled when ``labels``); markers on spikes."""
    lines = [m for m in marks if m.kind != "spike"]
    lo, hi = ax.get_xlim()
    span = (hi - lo) or 1.0
    placed: list[tuple[float, int]] = []
    for m in sorted(lines, key=lambda m: (m.step, m.kind)):
        color = NONFINITE_COLOR if m.kind == "nan" else BEST_COLOR if m.kind == "best" else SEVERITY_COLORS.get(m.severity, "#495057")
        ls = "-" if m.kind == "nan" else ":" if m.kind == "best" else "--"
        ax.axvline(m.step, color=color, ls=ls, lw=1.1, alpha=0.85, zorder=1.5)
        if not labels:
            continue
        # stagger labels of marks that sit close together so they do not print over each other
        level = sum(1 for x, _ in placed if abs(x - m.step) < 0.06 * span)
        placed.append((m.step, level))
        ax.annotate(
            tx(f"{m.label} · {'epoch' if m.unit == 'epoch' else 'step'} {fmt_step(m.step)}"),
            xy=(m.step, 1.0),
            xycoords=ax.get_xaxis_transform(),
            xytext=(3 + 11 * level, -4),
            textcoords="offset points",
            rotation=90,
            va="top",
            ha="left",
            fontsize=7.5,
            color=color,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
            zorder=5,
        )
    spikes = [m for m in marks if m.kind == "spike"]
    for s in series:
        pts = [(m.step, _value_at(s, m.step)) for m in spikes if m.applies_to(s.name, s.step_unit)]
        pts = [(x, y) for x, y in pts if y is not None]
        if pts:
            ax.plot(
                [x for x, _ in pts],
                [y for _, y in pts],
                ls="",
                marker="o",
                ms=8,
                mfc="none",
                mec=SEVERITY_COLORS["high"],
                mew=1.6,
                zorder=4,
                label=tx(f"{display_name(s.name)} spikes ({len(pts)})"),
            )


def _footer(fig: Figure, series: Sequence[Series]) -> None:
    """Where the curves came from, in small print under the plot."""
    parts = [f"{s.name} = {s.source_name!s} in {s.source} ({len(s)} points)" for s in series[:4]]
    if parts:
        fig.supxlabel(tx(_cut("source: " + "; ".join(parts), 200)), fontsize=6.5, color="#666666", x=0.005, ha="left")


def _title(d: Diagnosis, names: Sequence[str]) -> str:
    found = []
    fam = {n.split("/", 1)[0] for n in names}
    for s in d.symptoms:
        if s.step is None or s.id in NO_MARK:
            continue
        if s.metric is None or s.metric.split("/", 1)[0] in fam or s.id in RUN_WIDE:
            found.append(f"{symptom_words(s.id)} at {s.step_unit} {fmt_step(s.step)}")
    head = ", ".join(display_name(n) for n in names[:3])
    return _cut(head + (": " + "; ".join(found[:3]) if found else ""), 110)


def _set_title(ax: Axes, text: str) -> None:
    ax.set_title(tx(text), fontsize=10.5, loc="left")


# -- the plots ---------------------------------------------------------------------------------
@styled
def plot_loss(d: Diagnosis, path: Path) -> bool:
    """Training and validation loss with the symptoms' marks, and the LR in a panel below."""
    _mpl()
    run = d.run
    main = run.first("loss/train", "loss/val")
    if main is None:
        return False
    losses = [s for s in (run.get("loss/train"), run.get("loss/val"), run.get("loss/test")) if s is not None and len(s)]
    unit = main.step_unit
    same = [s for s in losses if s.step_unit == unit]
    other = [s for s in losses if s.step_unit != unit]
    lr = run.get("lr")
    lr = lr if lr is not None and len(lr) else None
    ratios = [3.0] + ([2.0] if other else []) + ([1.2] if lr is not None else [])
    fig = _figure(4.2 + 1.5 * (len(ratios) - 1))
    axes = list(fig.subplots(len(ratios), 1, gridspec_kw={"height_ratios": ratios}, squeeze=False)[:, 0])
    marks = symptom_marks(d)
    ax = axes[0]
    _loss_panel(ax, same, marks)
    _set_title(ax, _title(d, [s.name for s in same]))
    k = 1
    if other:
        _loss_panel(axes[k], other, marks)
        k += 1
    if lr is not None:
        lx = axes[k]
        if lr.step_unit == unit:
            lx.sharex(ax)
        scale_axis(lx, [draw_series(lx, lr, color=_color("lr", 2))], ylabel="learning rate")
        lmarks = [m for m in marks if m.unit == lr.step_unit and m.kind in ("onset", "nan") and any(m.applies_to(s.name, m.unit) for s in same)]
        draw_marks(lx, lmarks, labels=False)
        _lr_at_onsets(lx, lr, lmarks)
        lx.set_xlabel(lr.step_unit)
    if lr is not None and lr.step_unit == unit and not other:
        ax.set_xlabel("")
        ax.tick_params(labelbottom=False)
    legend(fig, axes)
    _footer(fig, same + other + ([lr] if lr is not None else []))
    save(fig, path)
    return True


def _loss_panel(ax: Axes, series: Sequence[Series], marks: Sequence[Mark]) -> None:
    drawn = [draw_series(ax, s, color=_color(s.name, i)) for i, s in enumerate(series)]
    unit = series[0].step_unit
    mk = [m for m in marks if any(m.applies_to(s.name, unit) for s in series)]
    scale_axis(ax, drawn, ylabel="loss")
    draw_marks(ax, mk, labels=True, series=series)
    _best_points(ax, mk, series)
    ax.set_xlabel(unit)


def _lr_at_onsets(ax: Axes, lr: Series, marks: Sequence[Mark]) -> None:
    """A dot on the LR curve at the most severe onsets, with the LR value there: "diverged when the LR peaked"."""
    shown = 0
    for m in marks:
        if m.kind != "onset" or shown >= 2:
            continue
        v = _value_at(lr, m.step)
        if v is None:
            continue
        shown += 1
        ax.plot([m.step], [v], marker="o", ms=5, color=SEVERITY_COLORS.get(m.severity, "#495057"), zorder=4)
        # the label goes towards the middle of the panel, so that it never runs off an edge or over the tick labels
        left, right = float(np.nanmin(lr.steps)), float(np.nanmax(lr.steps))
        fin = lr.values[np.isfinite(lr.values)]
        low, high = (float(fin.min()), float(fin.max())) if fin.size else (v, v)
        on_left = right <= left or (m.step - left) / (right - left) < 0.5
        on_top = high <= low or (v - low) / (high - low) >= 0.5
        ax.annotate(
            tx(f"LR {fmt_num(v)} at {m.label}"),
            xy=(m.step, v),
            xytext=(6 if on_left else -6, -4 if on_top else 4),
            textcoords="offset points",
            ha="left" if on_left else "right",
            va="top" if on_top else "bottom",
            fontsize=7.5,
            color="#333333",
        )


def _best_points(ax: Axes, marks: Sequence[Mark], series: Sequence[Series]) -> None:
    for m in marks:
        if m.kind != "best":
            continue
        for s in series:
            if m.metric is not None and s.name != m.metric:
                continue
            v = _value_at(s, m.step)
            if v is not None:
                ax.plot([m.step], [v], marker="*", ms=11, color=BEST_COLOR, zorder=4, ls="")
                ax.annotate(tx(fmt_num(v)), xy=(m.step, v), xytext=(6, -10), textcoords="offset points", fontsize=7.5, color=BEST_COLOR)


def clip_threshold(run: Run) -> tuple[float, str] | None:
    """The gradient-clipping norm the config sets (0 or none means no clipping), and where it was set."""
    got = run.config_number(*CLIP_KEYS)
    if got is None:
        return None
    v, cv = got
    if not math.isfinite(v) or v <= 0:
        return None
    return v, f"{cv.key} = {cv.value!s}, {cv.where}"


@styled
def plot_grad_norm(d: Diagnosis, path: Path) -> bool:
    """Global gradient norm (pre/post clip when both), clipping threshold, spikes and onsets."""
    _mpl()
    run = d.run
    grads = [g for g in (run.get(n) for n in GLOBAL_GRAD) if g is not None and len(g)]
    if not grads:
        return False
    unit = grads[0].step_unit
    grads = [g for g in grads if g.step_unit == unit]
    fig = _figure(4.4)
    ax = fig.subplots()
    drawn = [draw_series(ax, g, color=_color(g.name, i + 3)) for i, g in enumerate(grads)]
    clip = clip_threshold(run)
    if clip is not None:
        fin = np.concatenate([x.values[np.isfinite(x.values)] for x in drawn])
        top = float(fin.max()) if fin.size else clip[0]
        if clip[0] <= top * 10:
            ax.axhline(clip[0], color="#495057", ls="-.", lw=1.1, label=tx(f"clipping threshold {fmt_num(clip[0])} ({clip[1]})"))
            drawn.append(Drawn(np.array([float(grads[0].steps[0])]), np.array([clip[0]]), "#495057", "clip"))
        else:
            ax.plot([], [], ls="", label=tx(f"clipping at {fmt_num(clip[0])} ({clip[1]}): above every logged norm, never active"))
    marks = [m for m in symptom_marks(d) if any(m.applies_to(g.name, unit) for g in grads)]
    scale_axis(ax, drawn, ylabel="gradient norm")
    draw_marks(ax, marks, labels=True, series=grads)
    _set_title(ax, _title(d, [g.name for g in grads]))
    ax.set_xlabel(unit)
    legend(fig, [ax])
    _footer(fig, grads)
    save(fig, path)
    return True


def layer_series(run: Run, prefix: str = "grad_norm") -> list[Series]:
    """``<prefix>/<layer>`` series, the input side first (natural order of the layer names); biases
    included, unlike the checks' :func:`~traindx.checks.gradients.layers.per_layer`: the heatmap shows every row."""
    out = [s for n, s in run.series.items() if n.startswith(prefix + "/") and n not in GLOBAL_GRAD and len(s)]
    out.sort(key=lambda s: natural_key(s.name[len(prefix) + 1 :]))
    return out


def gradient_grid(layers: Sequence[Series], columns: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log10 of the largest norm per layer x step bucket, non-finite mask, bucket edges)."""
    lo = min(float(s.steps[0]) for s in layers)
    hi = max(float(s.steps[-1]) for s in layers)
    distinct = len(np.unique(np.concatenate([s.steps[: 10 * columns] for s in layers])))
    cols = max(1, min(columns, distinct))
    edges = np.linspace(lo, hi if hi > lo else lo + 1, cols + 1)
    grid = np.full((len(layers), cols), -np.inf)
    bad = np.zeros((len(layers), cols), dtype=bool)
    for r, s in enumerate(layers):
        c = np.clip(np.searchsorted(edges, s.steps, side="right") - 1, 0, cols - 1)
        v = s.values
        ok = np.isfinite(v) & (v > 0)
        np.maximum.at(grid[r], c[ok], np.log10(v[ok]))
        bad[r, c[~np.isfinite(v)]] = True
    grid[np.isneginf(grid)] = np.nan
    return grid, bad, edges


@styled
def plot_gradient_flow(d: Diagnosis, path: Path) -> bool:
    """Heatmap of per-layer gradient norms (layers x steps, log10 colour), non-finite cells in red."""
    mpl = _mpl()
    from matplotlib.colors import ListedColormap

    layers = layer_series(d.run)
    if not layers:
        return False
    unit = layers[0].step_unit
    layers = [s for s in layers if s.step_unit == unit]
    grid, bad, edges = gradient_grid(layers)
    n = len(layers)
    fig = _figure(min(9.0, 3.2 + 0.16 * min(n, 40)))
    ax = fig.subplots()
    cmap = mpl.colormaps["viridis"].with_extremes(bad="#e9ecef")
    fin = grid[np.isfinite(grid)]
    vmin, vmax = (float(fin.min()), float(fin.max())) if fin.size else (0.0, 1.0)
    if vmax <= vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    extent = (float(edges[0]), float(edges[-1]), n - 0.5, -0.5)
    im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap=cmap, vmin=vmin, vmax=vmax, extent=extent)
    if bad.any():
        ax.imshow(np.where(bad, 1.0, np.nan), aspect="auto", interpolation="nearest", cmap=ListedColormap([NONFINITE_COLOR]), extent=extent)
        ax.plot([], [], ls="", marker="s", color=NONFINITE_COLOR, label="non-finite (NaN/inf)")
    cb = fig.colorbar(im, ax=ax, pad=0.01)
    cb.set_label("log10 gradient norm (max per cell)")
    every = max(1, math.ceil(n / 40))
    ticks = list(range(0, n, every))
    ax.set_yticks(ticks)
    ax.set_yticklabels([tx(_cut(layers[i].name.split("/", 1)[1], 40)) for i in ticks], fontsize=7)
    ax.set_xlabel(unit)
    step_axis(ax)
    ax.set_ylabel("layer (input side at the top)")
    marks = [
        m
        for m in symptom_marks(d)
        if m.kind != "spike" and m.unit == unit and (m.metric is None or m.metric.startswith("grad_norm") or m.symptom in RUN_WIDE)
    ]
    draw_marks(ax, marks, labels=True)
    sub = _title(d, ["grad_norm"])
    _set_title(ax, f"Gradient flow: {n} layer{'s' if n != 1 else ''}" + (f" ({sub.split(': ', 1)[1]})" if ": " in sub else ""))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8, framealpha=0.85)
    _footer(fig, layers[:2])
    save(fig, path)
    return True


@styled
def plot_loss_scale(d: Diagnosis, path: Path) -> bool:
    """The fp16 loss scale (log2 axis), overflow messages as ticks, skipped steps in a panel below."""
    _mpl()
    run = d.run
    scale = run.get("loss_scale")
    scale = scale if scale is not None and len(scale) else None
    overflows = [e for e in run.events_of("loss_scale_overflow") if e.step is not None]
    if scale is None and not overflows:
        return False
    skipped = run.get("skipped_steps")
    if skipped is not None and not (len(skipped) and np.any(np.isfinite(skipped.values) & (skipped.values > 0))):
        skipped = None
    two = skipped is not None
    fig = _figure(5.2 if two else 4.0)
    axes = list(fig.subplots(2 if two else 1, 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": [3, 1.3] if two else [1]})[:, 0])
    ax = axes[0]
    unit = scale.step_unit if scale is not None else "step"
    if scale is not None:
        st, va = downsample(scale.steps, scale.values, MAX_DRAWN)
        ok = np.isfinite(va) & (va > 0)
        ax.plot(st[ok], va[ok], drawstyle="steps-post", color="#1098ad", lw=1.4, marker="o" if ok.sum() <= 60 else None, ms=3.5, label=tx(f"loss scale ({scale.source_name})"))
        if ok.any():
            ax.set_yscale("log", base=2)
    if overflows:
        xs = [float(e.step) for e in overflows if e.step is not None]
        ax.plot(xs, np.full(len(xs), 0.03), transform=ax.get_xaxis_transform(), ls="", marker="|", ms=12, mew=1.5, color=NONFINITE_COLOR, label=f"overflow messages ({len(overflows)})")
    marks = [m for m in symptom_marks(d) if m.unit == unit and m.kind != "spike" and (m.metric in (None, "loss_scale") or m.symptom in RUN_WIDE)]
    draw_marks(ax, marks, labels=True)
    ax.grid(True, alpha=0.3, lw=0.6)
    step_axis(ax)
    ax.set_ylabel("loss scale")
    _set_title(ax, _title(d, ["loss_scale"]))
    if skipped is not None:
        sx = axes[1]
        st, va = downsample(skipped.steps, skipped.values, MAX_DRAWN)
        width = max(1.0, (float(st[-1]) - float(st[0])) / max(len(st), 1) * 0.8)
        sx.bar(st, np.where(np.isfinite(va), va, 0), width=width, color=NONFINITE_COLOR, alpha=0.7, label="skipped steps per logged interval")
        sx.set_ylabel("skipped")
        sx.grid(True, alpha=0.3, lw=0.6)
        draw_marks(sx, marks, labels=False)
    axes[-1].set_xlabel(unit)
    legend(fig, axes)
    _footer(fig, [s for s in (scale, skipped) if s is not None])
    save(fig, path)
    return True


def system_series(run: Run) -> tuple[list[Series], list[Series]]:
    """(memory series, step-time and throughput series) that have at least two points."""
    mem = [s for n, s in sorted(run.series.items()) if n.startswith(MEMORY_PREFIXES) and len(s) >= 2]
    tim = [s for n, s in sorted(run.series.items()) if n in TIME_SERIES and len(s) >= 2]
    return mem[:6], tim[:4]


@styled
def plot_system(d: Diagnosis, path: Path) -> bool:
    """Memory and step time (or throughput) panels, with the memory-growth and throughput-drop onsets."""
    _mpl()
    mem, tim = system_series(d.run)
    groups = [(g, label) for g, label in ((mem, "memory"), (tim, "time / throughput")) if g]
    if not groups:
        return False
    fig = _figure(3.0 + 2.2 * len(groups))
    axes = list(fig.subplots(len(groups), 1, squeeze=False)[:, 0])
    marks = symptom_marks(d)
    for i, (ax, (group, label)) in enumerate(zip(axes, groups)):
        unit = group[0].step_unit
        group = [s for s in group if s.step_unit == unit]
        drawn = [draw_series(ax, s, color=COLORS[(3 * i + j) % len(COLORS)], label=s.name) for j, s in enumerate(group)]
        names = {s.name for s in group}
        mk = [m for m in marks if m.unit == unit and m.kind != "spike" and (m.metric in names or m.symptom in RUN_WIDE)]
        scale_axis(ax, drawn, ylabel=group[0].name if len(group) == 1 else label)
        draw_marks(ax, mk, labels=True)
        ax.set_xlabel(unit)
    _set_title(axes[0], _title(d, [s.name for s in (mem + tim)]))
    legend(fig, axes)
    _footer(fig, mem[:2] + tim[:2])
    save(fig, path)
    return True


@styled
def plot_metrics(d: Diagnosis, names: Sequence[str], path: Path) -> None:
    """One panel per named series (shared step axis where the units agree), with the symptoms' marks."""
    _mpl()
    run = d.run
    series = [run.series[n] for n in names]
    fig = _figure(2.0 + 2.3 * len(series))
    axes = list(fig.subplots(len(series), 1, squeeze=False)[:, 0])
    marks = symptom_marks(d)
    for i, (ax, s) in enumerate(zip(axes, series)):
        if i and s.step_unit == series[0].step_unit:
            ax.sharex(axes[0])
        drawn = draw_series(ax, s, color=_color(s.name, i))
        mk = marks_for(marks, s.name, s.step_unit)
        scale_axis(ax, [drawn], ylabel=_cut(display_name(s.name), 30))
        draw_marks(ax, mk, labels=True, series=[s])
        _best_points(ax, mk, [s])
        ax.set_xlabel(s.step_unit)
    _set_title(axes[0], _title(d, list(names)))
    legend(fig, axes)
    _footer(fig, series)
    save(fig, path)


@styled
def plot_confusion(d: Diagnosis, path: Path) -> bool:
    """The confusion matrix of the (first) predictions: rows are true classes, shaded by row share,
    with counts in the cells, each class's recall in its label and the failing classes in red."""
    preds = [p for p in d.run.predictions if p.labels and p.counts]
    if not preds:
        return False
    p = preds[0]
    counts = np.asarray(p.counts, dtype=np.float64)
    k = len(p.labels)
    totals = counts.sum(axis=1)
    share = np.divide(counts, totals[:, None], out=np.zeros_like(counts), where=totals[:, None] > 0)
    failing: set[str] = set()
    for s in d.symptoms:
        if s.id == "minority_class_failure" and s.data.get("source", p.source) == p.source:
            failing.update(str(x) for x in s.data.get("failing", []))
    size = min(9.0, 3.5 + 0.35 * min(k, 30))
    fig = _figure(size, min(WIDTH_IN, size + 4.0))
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    cb = fig.colorbar(im, ax=ax, pad=0.01)
    cb.set_label("share of the true class")
    every = max(1, math.ceil(k / 30))
    ticks = list(range(0, k, every))
    ylabels = []
    for i in ticks:
        rec = f"{share[i, i]:.0%}" if totals[i] else "n/a"
        ylabels.append(tx(f"{_cut(p.labels[i], 24)} (n={int(totals[i])}, recall {rec})"))
    ax.set_yticks(ticks)
    ax.set_yticklabels(ylabels, fontsize=8)
    ax.set_xticks(ticks)
    ax.set_xticklabels([tx(_cut(p.labels[i], 16)) for i in ticks], fontsize=8, rotation=45 if k > 6 else 0, ha="right" if k > 6 else "center")
    for t, i in zip(ax.get_yticklabels(), ticks):
        if p.labels[i] in failing:
            t.set_color(NONFINITE_COLOR)
            t.set_fontweight("bold")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(int(counts[i, j])), ha="center", va="center", fontsize=8, color="white" if share[i, j] > 0.6 else "#222222")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = float(np.trace(counts) / counts.sum()) if counts.sum() else 0.0
    head = f"Confusion matrix ({p.where}): accuracy {acc:.0%}"
    if failing:
        head += f"; failing: {', '.join(sorted(failing))[:60]}"
    fig.suptitle(tx(_cut(head, 110)), x=0.01, ha="left", fontsize=10.5)
    if len(preds) > 1:
        fig.supxlabel(tx(f"{len(preds) - 1} more prediction file(s) not drawn: " + ", ".join(q.where for q in preds[1:4])), fontsize=6.5, color="#666666", x=0.005, ha="left")
    save(fig, path)
    return True


def _count(n: float) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{suffix}"
    return f"{int(n)}"


@styled
def plot_params(d: Diagnosis, path: Path) -> bool:
    """Parameter count by module group (share of the total) and by layer, from the run's model summary.

    Reads only ``groups`` (group -> count), ``layers`` (layer -> count), ``total`` and ``source`` of
    ``run.model``; a run without a model summary gets no plot.
    """
    model = getattr(d.run, "model", None)
    groups = dict(getattr(model, "groups", None) or {})
    total = float(getattr(model, "total", 0) or sum(groups.values()))
    if not groups or total <= 0:
        return False
    layers = dict(getattr(model, "layers", None) or {})
    flagged = {s.data.get("group") for s in d.symptoms if s.id == "param_imbalance"} - {None}
    two = len(layers) >= 2
    fig = _figure(4.0 + (3.2 if two else 0.0))
    axes = list(fig.subplots(2 if two else 1, 1, squeeze=False, gridspec_kw={"height_ratios": [1, 1.4] if two else [1]})[:, 0])
    ax = axes[0]
    names = list(groups)[::-1]
    vals = [groups[g] / total * 100 for g in names]
    colors = [NONFINITE_COLOR if g in flagged else "#4c6ef5" for g in names]
    ax.barh(range(len(names)), vals, color=colors)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([tx(g) for g in names])
    for i, g in enumerate(names):
        share = f"{vals[i]:.1f}%" if vals[i] >= 0.1 else "<0.1%"
        ax.annotate(f"{share} ({_count(groups[g])})", xy=(vals[i], i), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlim(0, max(vals) * 1.25 + 1)
    ax.set_xlabel("share of the parameters (%)")
    ax.grid(True, axis="x", alpha=0.3, lw=0.6)
    title = f"Parameters: {_count(total)} in {len(groups)} group{'s' if len(groups) != 1 else ''} ({getattr(model, 'source', '')})"
    if flagged:
        title += f"; imbalance: {', '.join(sorted(str(f) for f in flagged))}"
    _set_title(ax, _cut(title, 110))
    if two:
        lx = axes[1]
        items = list(layers.items())
        if len(items) > 80:
            items = items[:80]
            lx.annotate(f"first 80 of {len(layers)} layers", xy=(1, 1), xycoords="axes fraction", ha="right", va="bottom", fontsize=7.5, color="#666666")
        lx.bar(range(len(items)), [v for _, v in items], color="#868e96")
        every = max(1, math.ceil(len(items) / 30))
        lx.set_xticks(range(0, len(items), every))
        lx.set_xticklabels([tx(_cut(items[i][0], 18)) for i in range(0, len(items), every)], rotation=60, ha="right", fontsize=7)
        from matplotlib.ticker import FuncFormatter

        lx.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _count(v)))
        lx.set_ylabel("parameters")
        lx.grid(True, axis="y", alpha=0.3, lw=0.6)
    save(fig, path)
    return True


PLOTTERS: dict[str, Callable[[Diagnosis, Path], bool]] = {
    "loss_visualization": plot_loss,
    "gradient_norm": plot_grad_norm,
    "gradient_flow": plot_gradient_flow,
    "loss_scale": plot_loss_scale,
    "system_metrics": plot_system,
    "confusion_matrix": plot_confusion,
    "parameter_distribution": plot_params,
}


def render_plots(d: Diagnosis, out: Path) -> tuple[dict[str, str], list[str]]:
    """Every plot the run has data for, written into ``out``: (artifact key -> file name, errors).

    A plot that fails is reported as an error and the others are still drawn.
    """
    written: dict[str, str] = {}
    errors: list[str] = []
    for key, filename, _ in PLOT_FILES:
        try:
            if PLOTTERS[key](d, out / filename):
                written[key] = filename
        except PlotUnavailable:
            raise
        except Exception as e:  # noqa: BLE001 - one failed plot must not cost the report
            errors.append(f"plot {key}: internal error: {type(e).__name__}: {e}")
    return written, errors
