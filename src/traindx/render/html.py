"""report.html: the whole diagnosis in one self-contained file, with an interactive chart.

One file, no network and no external asset: the CSS and the script are inline,
the PNG plots are ``data:`` URIs, and the chart is SVG drawn by a small script
from the data embedded in the page (a ``<script type="application/json">``
block). A Content-Security-Policy in the page forbids every fetch and lets run
only the page's own script, identified by its SHA-256 hash, so the file opens
the same from an e-mail attachment or on an air-gapped cluster, and a log line
that smuggles ``<script>`` or an ``onerror=`` attribute into the report could
not run even if escaping failed (every piece of user-derived text is escaped;
the script writes text with ``textContent`` only).

When the run holds a model, a section gives its size, its parameter groups
with their shares and the parameter-balance verdict (the contract's ``model`` block).

The chart: panels that share the step axis (loss, LR, gradient norm, loss
scale, the metrics the symptoms name), the symptoms' marks on them; drag
across a panel to zoom into a step range, double-click or "reset" to zoom
out, hover for the values at a step, "zoom" on a symptom or an evidence line to
jump there. Each series is embedded as an extreme-preserving overview (see
:mod:`.downsample`) plus the raw points around each marked step, so zooming on
an onset shows the points as logged; the page stays small (the embedded data
is bounded by series and points, whatever the length of the run).
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..diagnosis import Diagnosis, balance_shares, model_lines, model_section
from ..findings import Evidence
from ..run import Series, display_name, fmt_num, fmt_step
from .common import (
    PLOT_FILES,
    missing_notes,
    sources_line,
    status_word,
    symptom_marks,
    symptom_words,
)
from .downsample import keep_indices

OVERVIEW_POINTS = 2400  # per series, before each bucket's extremes and non-finite points are added
DETAIL_HALF = 250  # raw points kept on each side of a marked step
MAX_DETAIL_MARKS = 8
MAX_PANEL_EXTRA = 4  # panels for symptom metrics beyond loss, LR, gradient norm and loss scale
MAX_TABLE_SERIES = 500
MAX_LISTED = 200
SPARK_POINTS = 48

SERIES_COLORS = {"loss/train": "#1f77b4", "loss/val": "#ff7f0e", "loss/test": "#8c564b", "lr": "#2ca02c", "grad_norm": "#9467bd", "loss_scale": "#1098ad"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def esc(text: Any) -> str:
    """Text for HTML content and attribute values (quotes included)."""
    return html.escape(str(text), quote=True)


# -- numbers into compact JSON ------------------------------------------------------------------
def _jnum(v: float) -> str:
    if math.isnan(v):
        return "null"
    if math.isinf(v):
        return '"inf"' if v > 0 else '"-inf"'
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def _jarr(values: Iterable[float]) -> str:
    return "[" + ",".join(_jnum(float(v)) for v in values) + "]"


class Raw(str):
    """A JSON fragment already serialized (the number arrays, written compactly)."""


def _dump(obj: Any) -> str:
    """JSON with :class:`Raw` fragments spliced in; safe to put inside a ``<script>`` element."""
    if isinstance(obj, Raw):
        return str(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + _dump(v) for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(_dump(v) for v in obj) + "]"
    if isinstance(obj, float):
        return _jnum(obj)
    return json.dumps(obj, ensure_ascii=False)


def script_safe(js: str) -> str:
    """JSON text that cannot close the ``<script>`` element it sits in (``<``, ``>`` and ``&`` escaped)."""
    return js.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# -- the chart data -----------------------------------------------------------------------------
def _series_points(s: Series, marks: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Overview (extremes kept) plus the raw points around each marked step, in step order."""
    idx = [keep_indices(s.values, OVERVIEW_POINTS)]
    n = len(s)
    if n > OVERVIEW_POINTS:
        for step in list(marks)[:MAX_DETAIL_MARKS]:
            i = int(np.searchsorted(s.steps, step))
            idx.append(np.arange(max(0, i - DETAIL_HALF), min(n, i + DETAIL_HALF + 1), dtype=np.int64))
    keep = np.unique(np.concatenate(idx)) if len(idx) > 1 else idx[0]
    return s.steps[keep], s.values[keep]


def _value_at(s: Series, step: float) -> float | None:
    i = int(np.searchsorted(s.steps, step, side="right")) - 1
    if i < 0 or i >= len(s):
        return None
    v = float(s.values[i])
    return v if math.isfinite(v) else None


def chart_panels(d: Diagnosis) -> tuple[str, list[tuple[str, str, list[Series]]]]:
    """(step unit, panels as (id, title, series)) for the interactive chart."""
    run = d.run
    main = run.first("loss/train", "loss/val") or next((s for _, s in sorted(run.series.items()) if len(s)), None)
    if main is None:
        return "step", []
    unit = main.step_unit

    def ok(s: Series | None) -> bool:
        return s is not None and len(s) > 0 and s.step_unit == unit

    panels: list[tuple[str, str, list[Series]]] = []
    used: set[str] = set()

    def add(pid: str, title: str, names: Sequence[str]) -> None:
        ss = [run.series[n] for n in names if n in run.series and ok(run.series[n]) and n not in used]
        if ss:
            used.update(s.name for s in ss)
            panels.append((pid, title, ss))

    add("loss", "Loss", ["loss/train", "loss/val", "loss/test"])
    add("lr", "Learning rate", ["lr"])
    add("grad", "Gradient norm", ["grad_norm", "grad_norm/pre_clip", "grad_norm/post_clip"])
    add("scale", "Loss scale", ["loss_scale"])
    extra = 0
    for s in d.symptoms:
        if extra >= MAX_PANEL_EXTRA:
            break
        if s.metric and s.metric in run.series and s.metric not in used and ok(run.series[s.metric]):
            add(f"m{extra}", display_name(s.metric), [s.metric])
            extra += 1
    if not panels:
        add("main", display_name(main.name), [main.name])
    return unit, panels


def chart_data(d: Diagnosis) -> dict[str, Any]:
    """What the page's script draws: panels of series, marks, spikes, zoom targets."""
    unit, panels = chart_panels(d)
    marks = [m for m in symptom_marks(d) if m.unit == unit]
    mark_steps = sorted({m.step for m in marks if m.kind != "spike"} | {m.step for m in marks if m.kind == "spike"})
    out_panels = []
    lo, hi = math.inf, -math.inf
    spikes = []
    for pid, title, series in panels:
        out_series = []
        for i, s in enumerate(series):
            near = [m.step for m in marks if m.applies_to(s.name, unit)] or mark_steps
            x, y = _series_points(s, near)
            if len(x):
                lo, hi = min(lo, float(x[0])), max(hi, float(x[-1]))
            n_bad = int((~np.isfinite(s.values)).sum())
            out_series.append(
                {
                    "name": s.name,
                    "label": display_name(s.name),
                    "color": SERIES_COLORS.get(s.name, PALETTE[i % len(PALETTE)]),
                    "source": f"{s.source_name} in {s.source}",
                    "points": len(s),
                    "nonfinite": n_bad,
                    "x": Raw(_jarr(x)),
                    "y": Raw(_jarr(y)),
                }
            )
            for m in marks:
                if m.kind == "spike" and m.applies_to(s.name, unit):
                    v = _value_at(s, m.step)
                    if v is not None:
                        spikes.append({"panel": pid, "x": m.step, "y": v, "label": f"{symptom_words(m.symptom)} at {unit} {fmt_step(m.step)}: {fmt_num(v)}"})
        out_panels.append({"id": pid, "title": title, "series": out_series})
    out_marks = []
    for m in marks:
        if m.kind == "spike":
            continue
        ids = [pid for pid, _, series in panels if any(m.applies_to(s.name, unit) for s in series)]
        if ids:
            out_marks.append({"x": m.step, "kind": m.kind, "label": m.label, "severity": m.severity, "symptom": m.symptom, "panels": ids})
    if lo == math.inf:
        lo, hi = 0.0, 1.0
    return {"unit": unit, "range": [lo, hi], "panels": out_panels, "marks": out_marks, "spikes": spikes[:400]}


def zoom_window(step: float, rng: Sequence[float]) -> tuple[float, float]:
    """A step range around ``step`` to zoom the chart to."""
    lo, hi = float(rng[0]), float(rng[1])
    w = max((hi - lo) * 0.06, 5.0)
    return max(lo, step - w), min(hi, step + w)


# -- page parts ---------------------------------------------------------------------------------
def _zoom_button(step: float | None, unit: str, chart_unit: str, rng: Sequence[float], label: str | None = None) -> str:
    if step is None or unit != chart_unit or not (rng[0] <= step <= rng[1]):
        return ""
    a, b = zoom_window(step, rng)
    text = label or f"{unit} {fmt_step(step)}"
    return f'<button type="button" class="zoom" data-x0="{_jnum(a)}" data-x1="{_jnum(b)}" title="show {esc(text)} on the chart">⤢ {esc(text)}</button>'


def _evidence_list(items: Sequence[Evidence], unit: str, chart_unit: str, rng: Sequence[float], against: bool = False) -> str:
    rows = []
    for e in items:
        cls = "ev against" if against else "ev"
        zoom = _zoom_button(e.step, unit, chart_unit, rng, "chart") if e.step is not None else ""
        rows.append(
            f'<li class="{cls}"><span class="ev-text">{"against: " if against else ""}{esc(e.text)}</span> '
            f'<code class="src">{esc(e.source)}</code>{zoom}</li>'
        )
    return "".join(rows)


def _causes(d: Diagnosis, unit: str, rng: Sequence[float]) -> str:
    if not d.root_causes:
        if d.status == "healthy":
            return '<p class="empty">Nothing to explain: no problem was found.</p>'
        return '<p class="empty">No root cause can be named from this evidence.</p>'
    step_unit = next((s.step_unit for s in d.symptoms), unit)
    parts = []
    for i, h in enumerate(d.root_causes, 1):
        pct = max(0, min(100, round(h.confidence * 100)))
        tier = "direct" if h.confidence > 0.9 else "circumstantial" if h.confidence >= 0.7 else "hypothesis"
        rows = [
            ("Fix", h.fix),
            ("Expected impact", h.expected_impact),
            ("How to verify", h.verify),
            ("If not", h.if_not),
        ]
        if h.confirm:
            rows.append(("To confirm", h.confirm))
        dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows if v)
        parts.append(
            f'<article class="cause sev-{esc(h.severity)}" id="cause-{i}">'
            f'<header><span class="rank">{i}</span><h3>{esc(h.issue)}</h3>'
            f'<span class="badge sev-{esc(h.severity)}">{esc(h.severity)}</span><code class="id">{esc(h.id)}</code></header>'
            f'<div class="conf" title="confidence {h.confidence:.2f}"><div class="bar tier-{tier}"><span style="width:{pct}%"></span></div>'
            f'<b>{h.confidence:.2f}</b> <span class="tier">{tier}</span></div>'
            f'<p class="basis">{esc(h.basis)}</p>'
            f'<p class="explains">Explains: {", ".join(f"<code>{esc(x)}</code>" for x in h.explains)}</p>'
            f'<h4>Evidence</h4><ul class="evidence">{_evidence_list(h.evidence, step_unit, unit, rng)}'
            f'{_evidence_list(h.contradicts, step_unit, unit, rng, against=True)}</ul>'
            f'<dl class="actions">{dl}</dl></article>'
        )
    return "".join(parts)


def _symptoms(d: Diagnosis, unit: str, rng: Sequence[float]) -> str:
    if not d.symptoms:
        return '<p class="empty">No symptom found.</p>'
    rows = []
    for s in d.symptoms:
        where = f"{s.step_unit} {fmt_step(s.step)}" if s.step is not None else "—"
        zoom = _zoom_button(s.step, s.step_unit, unit, rng, "zoom")
        rows.append(
            f'<tr class="sev-{esc(s.severity)}"><td><span class="badge sev-{esc(s.severity)}">{esc(s.severity)}</span></td>'
            f'<td><code>{esc(s.id)}</code><br><small>{esc(s.code)}</small></td><td>{esc(where)} {zoom}</td>'
            f'<td>{esc(s.summary)}<details><summary>evidence ({len(s.evidence)})</summary><ul class="evidence">'
            f"{_evidence_list(s.evidence, s.step_unit, unit, rng)}</ul></details></td></tr>"
        )
    return '<table class="symptoms"><thead><tr><th>severity</th><th>symptom</th><th>where</th><th>what</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>"


def _spark_svg(s: Series) -> str:
    """A tiny inline curve for the series table (median per bucket; red ticks where values are non-finite)."""
    v = s.values
    n = len(v)
    if n == 0:
        return ""
    edges = np.linspace(0, n, min(SPARK_POINTS, n) + 1).astype(int)
    pts: list[float | None] = []
    bad: list[int] = []
    for j, (a, b) in enumerate(itertools.pairwise(edges)):
        seg = v[a:b]
        fin = seg[np.isfinite(seg)]
        pts.append(float(np.median(fin)) if fin.size else None)
        if fin.size < seg.size:
            bad.append(j)
    vals = [p for p in pts if p is not None]
    w, h = 96, 20
    out = [f'<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true">']
    if vals:
        lo, hi = min(vals), max(vals)
        span = (hi - lo) or 1.0
        k = max(len(pts) - 1, 1)
        coords = []
        for j, p in enumerate(pts):
            if p is None:
                continue
            coords.append(f"{j / k * (w - 2) + 1:.1f},{h - 2 - (p - lo) / span * (h - 4):.1f}")
        if len(coords) == 1:
            x, y = coords[0].split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="1.8" fill="#1f77b4"/>')
        else:
            out.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.2" points="{" ".join(coords)}"/>')
    k = max(len(pts) - 1, 1)
    for j in bad[:SPARK_POINTS]:
        x = j / k * (w - 2) + 1
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{h}" stroke="#e03131" stroke-width="1.2"/>')
    out.append("</svg>")
    return "".join(out)


def _series_table(d: Diagnosis) -> str:
    run = d.run
    names = sorted(run.series)
    rows = []
    for name in names[:MAX_TABLE_SERIES]:
        s = run.series[name]
        fin = s.values[np.isfinite(s.values)]
        bad = len(s) - int(fin.size)
        rng = f"{fmt_num(float(fin.min()))} … {fmt_num(float(fin.max()))}" if fin.size else "no finite value"
        last = fmt_num(float(s.values[-1])) if len(s) else ""
        steps = f"{fmt_step(float(s.steps[0]))}–{fmt_step(float(s.steps[-1]))}" if len(s) else ""
        alts = run.alternates.get(name, [])
        alt = f'<br><small>also in: {esc(", ".join(a.source for a in alts))}</small>' if alts else ""
        rows.append(
            f"<tr><td><code>{esc(name)}</code></td><td>{_spark_svg(s)}</td><td>{len(s)}</td><td>{esc(s.step_unit)} {esc(steps)}</td>"
            f"<td>{esc(rng)}</td><td>{esc(last)}</td><td{' class=bad' if bad else ''}>{bad}</td>"
            f"<td><code>{esc(s.source_name)}</code> in <code>{esc(s.source)}</code>{alt}</td></tr>"
        )
    more = f'<p class="note">… and {len(names) - MAX_TABLE_SERIES} more series (listed in diagnosis.json).</p>' if len(names) > MAX_TABLE_SERIES else ""
    if not rows:
        return '<p class="empty">No metric series could be read.</p>'
    return (
        '<table class="series"><thead><tr><th>series</th><th>curve</th><th>points</th><th>range of steps</th>'
        "<th>min … max</th><th>last</th><th>non-finite</th><th>from</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>" + more
    )


def _files(d: Diagnosis) -> str:
    run = d.run
    out = ["<h3>Read</h3>"]
    if run.sources:
        out.append("<ul class=files>")
        for s in sorted(run.sources, key=lambda s: s.path):
            out.append(f"<li><code>{esc(s.path)}</code> — {esc(s.detail or s.reader)}, {s.series} series, {s.events} events</li>")
        out.append("</ul>")
    else:
        out.append('<p class="empty">No file could be read.</p>')
    if run.skipped:
        sk = sorted(run.skipped, key=lambda s: s.path)
        out.append(f"<h3>Skipped ({len(sk)})</h3><ul class=files>")
        for s in sk[:MAX_LISTED]:
            cls = ' class="err"' if s.error else ""
            out.append(f"<li{cls}><code>{esc(s.path)}</code> — {esc(s.reason)}</li>")
        if len(sk) > MAX_LISTED:
            out.append(f"<li>… and {len(sk) - MAX_LISTED} more</li>")
        out.append("</ul>")
    if run.choices:
        out.append("<h3>Series chosen among copies</h3><ul class=files>")
        for c in run.choices:
            out.append(f"<li><code>{esc(c.name)}</code> from {esc(c.used)} ({c.points} points; {esc(c.reason)}); also in: {esc(', '.join(c.others))}</li>")
        out.append("</ul>")
    if run.issues:
        out.append(f"<h3>Read issues ({len(run.issues)})</h3><ul class=files>")
        for i in run.issues[:100]:
            out.append(f"<li><code>{esc(str(i))}</code></li>")
        if len(run.issues) > 100:
            out.append(f"<li>… and {len(run.issues) - 100} more</li>")
        out.append("</ul>")
    return "".join(out)


def _plots(d: Diagnosis, images: dict[str, bytes]) -> str:
    figs = []
    for key, filename, caption in PLOT_FILES:
        data = images.get(key)
        if not data:
            continue
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        figs.append(f'<figure class="plot" id="plot-{esc(key)}"><img src="{uri}" alt="{esc(caption)}"><figcaption>{esc(caption)} (<code>{esc(filename)}</code>)</figcaption></figure>')
    if not figs:
        return '<p class="note">No PNG plots in this report (they are written with <code>--out</code> when matplotlib is installed: <code>pip install \'traindx[plots]\'</code>).</p>'
    return "".join(figs)


def _model(d: Diagnosis) -> str:
    """The model section: its size line, the parameter groups with their shares, the balance verdict."""
    block = model_section(d)
    if block is None:
        return ""
    first, _ = model_lines(block)
    bal = block["balance"]
    rows = "".join(
        f'<tr><td>{esc(g)}</td><td class="num">{v["parameters"]:,}</td><td class="num">{float(v["share"]):.1%}</td>'
        f'<td><span class="share"><span style="width:{float(v["share"]) * 100:.1f}%"></span></span></td></tr>'
        for g, v in block["groups"].items()
    )
    verdict = esc(bal["verdict"])
    return (
        f'<p class="model-line">{esc(first)}</p>'
        '<table class="model"><thead><tr><th>group</th><th>parameters</th><th>share</th><th></th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        f'<p class="balance">Balance: <b class="verdict b-{verdict}">{verdict}</b> ({esc(balance_shares(bal))}).</p>'
    )


def _list_section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>{body}</section>'


def render_html(d: Diagnosis, images: dict[str, bytes] | None = None) -> str:
    """The report page. ``images`` maps plot keys (``loss_visualization``...) to PNG bytes to embed."""
    images = images or {}
    data = chart_data(d)
    unit, rng = data["unit"], data["range"]
    payload = script_safe(_dump(data))
    status = d.status
    sections: list[str] = []
    sections.append(_list_section("causes", "Root causes, ranked", _causes(d, unit, rng)))
    notes = missing_notes(d)
    note_html = "".join(f"<li>{esc(n)}</li>" for n in notes)
    chips = "".join(
        _zoom_button(s.step, s.step_unit, unit, rng, f"{symptom_words(s.id)} · {s.step_unit} {fmt_step(s.step)}") for s in d.symptoms if s.step is not None
    )
    chart = (
        '<div class="controls"><button type="button" id="reset">reset zoom</button>'
        f'<label>from <input id="x0" type="number" step="any" value="{_jnum(rng[0])}"></label>'
        f'<label>to <input id="x1" type="number" step="any" value="{_jnum(rng[1])}"></label>'
        '<button type="button" id="apply">zoom</button>'
        f'<span class="chips">{chips}</span></div>'
        '<p class="hint">Drag across a panel to zoom into a step range; double-click to zoom out; hover for values.</p>'
        f'<div id="chart" data-unit="{esc(unit)}"></div><div id="tip" role="status" hidden></div>'
        '<noscript><p class="note">The interactive chart needs JavaScript; the PNG plots below show the same curves and marks.</p></noscript>'
        + (f'<ul class="missing">{note_html}</ul>' if notes else "")
    )
    if data["panels"]:
        sections.append(_list_section("chart-section", "Symptoms on the curves", chart))
    elif notes:
        sections.append(_list_section("chart-section", "Symptoms on the curves", f'<ul class="missing">{note_html}</ul>'))
    sections.append(_list_section("symptoms", "Symptoms", _symptoms(d, unit, rng)))
    model = _model(d)
    if model:
        sections.append(_list_section("model", "Model", model))
    if d.user_symptoms:
        items = "".join(
            f'<li><q>{esc(u.text)}</q> <span class="verdict v-{esc(u.verdict.replace(" ", "-"))}">{esc(u.verdict)}</span> — {esc(u.explanation)}'
            f'<ul class="evidence">{_evidence_list(u.evidence, unit, unit, rng)}</ul></li>'
            for u in d.user_symptoms
        )
        sections.append(_list_section("statements", "Your statements, checked", f"<ul class=statements>{items}</ul>"))
    if d.quick_fixes:
        sections.append(_list_section("quick-fixes", "Quick fixes", "<ul>" + "".join(f"<li>{esc(q)}</li>" for q in d.quick_fixes) + "</ul>"))
    if d.requests:
        items = "".join(f"<li><b>{esc(r.need)}</b>: {esc(r.why)}.<br><small>How: {esc(r.how)}</small></li>" for r in d.requests)
        sections.append(_list_section("requests", "More data that would help", f"<ul class=requests>{items}</ul>"))
    sections.append(_list_section("plots", "Plots", _plots(d, images)))
    sections.append(_list_section("series", f"Series read ({len(d.run.series)})", _series_table(d)))
    sections.append(_list_section("files", "Files", _files(d)))
    if d.errors:
        sections.append(_list_section("errors", "Internal errors (the rest of the diagnosis stands)", "<ul>" + "".join(f"<li><code>{esc(e)}</code></li>" for e in d.errors) + "</ul>"))
    nav = "".join(f'<a href="#{sid}">{esc(t)}</a>' for sid, t in (("causes", "Causes"), ("chart-section", "Chart"), ("symptoms", "Symptoms"), ("model", "Model"), ("requests", "Requests"), ("plots", "Plots"), ("series", "Series"), ("files", "Files")) if f'id="{sid}"' in "".join(sections))
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src '{SCRIPT_HASH}'; base-uri 'none'; form-action 'none'"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>traindx: {esc(status_word(d))}</title><style>{CSS}</style></head>"
        f'<body><header class="top status-{esc(status)}"><div class="brand">traindx {esc(__version__)}</div>'
        f'<h1 id="status">{esc(status_word(d))}</h1><p class="headline">{esc(d.headline())}</p>'
        f'<p class="meta">run: {esc(sources_line(d))}{(" · task: " + esc(d.task)) if d.task else ""}</p></header>'
        f"<nav>{nav}</nav><main>{''.join(sections)}</main>"
        '<footer>Written by traindx from the run\'s own files; every evidence line names its source (<code>file:line</code>). '
        "This file is self-contained: it loads nothing from the network.</footer>"
        f'<script type="application/json" id="traindx-data">{payload}</script>'
        f"<script>{SCRIPT}</script></body></html>\n"
    )


def write_html(d: Diagnosis, path: Path, images: dict[str, bytes] | None = None) -> None:
    path.write_text(render_html(d, images), encoding="utf-8")


CSS = """
:root{--fg:#1d2125;--muted:#5c6670;--line:#dee2e6;--bg:#fff;--soft:#f5f7f9;--crit:#c92a2a;--high:#e8590c;--med:#e0a100;--low:#1c7ed6;--info:#868e96;--ok:#2b8a3e}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
header.top{padding:20px 28px 14px;border-bottom:1px solid var(--line);border-left:8px solid var(--info)}
header.status-diagnosis_complete{border-left-color:var(--crit);background:#fff5f5}
header.status-needs_more_data{border-left-color:var(--med);background:#fff9db}
header.status-healthy{border-left-color:var(--ok);background:#ebfbee}
.brand{font-size:12px;color:var(--muted);letter-spacing:.05em;text-transform:uppercase}
h1{margin:2px 0 4px;font-size:26px}
.headline{font-size:17px;margin:0 0 6px;max-width:75em}
.meta{color:var(--muted);margin:0;font-size:13px}
nav{position:sticky;top:0;background:var(--bg);border-bottom:1px solid var(--line);padding:6px 28px;z-index:5}
nav a{margin-right:16px;color:var(--low);text-decoration:none;font-size:14px}
main{padding:4px 28px 24px;max-width:1200px}
h2{font-size:20px;margin:26px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{margin:0;font-size:17px}
h4{margin:10px 0 4px;font-size:14px;color:var(--muted)}
.cause{border:1px solid var(--line);border-left:6px solid var(--info);border-radius:6px;padding:12px 16px;margin:12px 0;background:var(--bg)}
.cause.sev-critical{border-left-color:var(--crit)}.cause.sev-high{border-left-color:var(--high)}.cause.sev-medium{border-left-color:var(--med)}.cause.sev-low{border-left-color:var(--low)}
.cause header{display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.rank{display:inline-block;width:26px;height:26px;border-radius:13px;background:var(--fg);color:#fff;text-align:center;font-weight:600;line-height:26px}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;background:var(--info)}
.badge.sev-critical{background:var(--crit)}.badge.sev-high{background:var(--high)}.badge.sev-medium{background:var(--med);color:#222}.badge.sev-low{background:var(--low)}
.id{color:var(--muted)}
.conf{display:flex;align-items:center;gap:8px;margin:8px 0 2px}
.bar{width:220px;height:12px;border-radius:6px;background:#e9ecef;overflow:hidden}
.bar span{display:block;height:100%;background:var(--info)}
.bar.tier-direct span{background:var(--ok)}.bar.tier-circumstantial span{background:var(--low)}.bar.tier-hypothesis span{background:var(--med)}
.tier{color:var(--muted);font-size:13px}
.basis,.explains{margin:4px 0;color:var(--muted);font-size:14px}
ul.evidence{margin:4px 0;padding-left:18px}
li.ev{margin:3px 0}
li.ev.against .ev-text{color:var(--muted);font-style:italic}
code.src{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:0 4px;margin-left:4px;white-space:nowrap}
button.zoom{margin-left:6px;font-size:12px;border:1px solid var(--line);background:var(--soft);border-radius:10px;padding:0 8px;cursor:pointer}
button.zoom:hover{background:#e7f5ff}
dl.actions{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:10px 0 0}
dl.actions dt{font-weight:600}dl.actions dd{margin:0}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
td.bad{color:var(--crit);font-weight:600}
table.symptoms code,table.series code{word-break:normal;white-space:nowrap}
table.series td:last-child code{white-space:normal;word-break:break-all}
table.model{width:auto;min-width:50%}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.share{display:inline-block;width:160px;max-width:30vw;height:10px;border-radius:5px;background:#e9ecef;overflow:hidden;vertical-align:middle}
.share span{display:block;height:100%;background:var(--info)}
.model-line{overflow-wrap:anywhere}
.b-embedding-dominated{background:#ffe3e3}.b-balanced{background:#d3f9d8}
details summary{cursor:pointer;color:var(--low);font-size:13px}
.controls{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:6px 0}
.controls input{width:9em}
.controls button{cursor:pointer}
.chips button.zoom{margin:0 4px 0 0}
.hint{color:var(--muted);font-size:13px;margin:2px 0 6px}
#chart{position:relative;user-select:none}
#chart svg.panel{display:block;width:100%;height:auto;margin:0 0 4px;touch-action:none}
#chart .ptitle{font-size:13px;font-weight:600;fill:var(--fg)}
#chart .tick{font-size:11px;fill:var(--muted)}
#chart .grid{stroke:#eceff1;stroke-width:1}
#chart .axis{stroke:#adb5bd;stroke-width:1}
#chart path.series{fill:none;stroke-width:1.5;stroke-linejoin:round}
#chart .mark{stroke-width:1.3;stroke-dasharray:5 3}
#chart .mark.nan{stroke:var(--crit);stroke-dasharray:none}
#chart .mark.best{stroke:var(--ok);stroke-dasharray:2 3}
#chart .mlabel{font-size:11px}
#chart .nonfinite{fill:var(--crit);font-size:12px;font-weight:700}
#chart .offscale{font-size:11px}
#chart .sel{fill:rgba(28,126,214,.15);stroke:var(--low)}
#chart .cross{stroke:#495057;stroke-width:1;stroke-dasharray:3 2}
#chart .legend{font-size:12px}
#tip{position:fixed;z-index:10;pointer-events:none;background:rgba(33,37,41,.94);color:#fff;font-size:12px;line-height:1.45;padding:6px 9px;border-radius:5px;white-space:pre;max-width:480px}
ul.missing{color:#8a6100;background:#fff9db;border:1px solid #ffe066;border-radius:6px;padding:6px 8px 6px 26px;font-size:14px}
.note,.empty{color:var(--muted)}
figure.plot{margin:14px 0}
figure.plot img{max-width:100%;height:auto;border:1px solid var(--line);border-radius:4px}
figcaption{color:var(--muted);font-size:13px}
svg.spark{vertical-align:middle}
.verdict{font-weight:600;padding:0 6px;border-radius:8px;background:#e9ecef}
.v-confirmed{background:#d3f9d8}.v-refuted{background:#ffe3e3}
li.err code{color:var(--crit)}
footer{color:var(--muted);font-size:12px;padding:12px 28px 28px;border-top:1px solid var(--line)}
@media print{nav,.controls,.hint,button.zoom{display:none}}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var DATA = JSON.parse(document.getElementById("traindx-data").textContent);
  var root = document.getElementById("chart");
  if (!root || !DATA.panels.length) { return; }
  var tip = document.getElementById("tip");
  var W = 960, H = 210, ML = 70, MR = 14, MT = 24, MB = 24;
  var PW = W - ML - MR, PH = H - MT - MB;
  var full = [DATA.range[0], DATA.range[1]];
  if (full[1] <= full[0]) { full = [full[0] - 1, full[1] + 1]; }
  var view = [full[0], full[1]];
  var SEV = {critical: "#c92a2a", high: "#e8590c", medium: "#e0a100", low: "#1c7ed6", info: "#868e96"};

  function el(tag, attrs, parent, text) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) { if (Object.prototype.hasOwnProperty.call(attrs, k)) { e.setAttribute(k, attrs[k]); } }
    if (text !== undefined) { e.textContent = text; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function fmt(v) {
    if (typeof v !== "number") { return v === null ? "NaN" : String(v); }
    if (!isFinite(v)) { return v > 0 ? "inf" : "-inf"; }
    if (v === 0) { return "0"; }
    var a = Math.abs(v);
    if (a >= 1e6 || a < 1e-3) { return v.toExponential(3).replace(/\.?0+e/, "e"); }
    return String(parseFloat(v.toPrecision(4)));
  }
  function fmtStep(v) { return Math.abs(v - Math.round(v)) < 1e-9 ? String(Math.round(v)) : String(parseFloat(v.toPrecision(6))); }
  function lower(xs, x) { var lo = 0, hi = xs.length; while (lo < hi) { var m = (lo + hi) >> 1; if (xs[m] < x) { lo = m + 1; } else { hi = m; } } return lo; }
  function niceStep(span, n) {
    var raw = span / Math.max(n, 1), p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
  }
  function linTicks(lo, hi, n) {
    if (!(hi > lo)) { return [lo]; }
    var s = niceStep(hi - lo, n), out = [];
    for (var t = Math.ceil(lo / s) * s; t <= hi + s * 1e-9; t += s) { out.push(Math.abs(t) < s * 1e-9 ? 0 : t); }
    return out;
  }
  function percentile(sorted, q) { return sorted[Math.floor((sorted.length - 1) * q)]; }

  // The y range of what is visible: log when a positive curve spans >100x; a far outlying top is cut
  // (the points above it are drawn as arrows at the top edge), as in the PNG plots.
  function yRange(vals) {
    if (!vals.length) { return {lo: 0, hi: 1, log: false, top: null}; }
    var s = vals.slice().sort(function (a, b) { return a - b; });
    var lo = s[0], hi = s[s.length - 1], top = null;
    if (s.length >= 10) {
      var q = percentile(s, 0.95);
      if (lo > 0 && q > 0) { var bulk = Math.log10(q / lo); if (Math.log10(hi / q) > 2 * bulk + 1) { top = q * Math.pow(10, 0.25 * bulk + 0.1); } }
      else if (q > lo && (hi - q) > 20 * (q - lo)) { top = q + 0.5 * (q - lo); }
    }
    var up = top === null ? hi : top;
    var log = lo > 0 && up / lo > 100;
    if (up === lo) { if (log) { up = lo * 2; } else { up = lo + (Math.abs(lo) || 1) * 0.5; lo = lo - (Math.abs(lo) || 1) * 0.5; } }
    if (!log) { var pad = (up - lo) * 0.05; lo -= pad; if (top === null) { up += pad; } }
    else if (top === null) { lo /= Math.pow(up / lo, 0.04); up *= Math.pow(up / lo, 0.04); }
    return {lo: lo, hi: up, log: log, top: top};
  }

  var panels = [];
  DATA.panels.forEach(function (p, pi) {
    var svg = el("svg", {"class": "panel", viewBox: "0 0 " + W + " " + H, "data-panel": p.id, role: "img", "aria-label": p.title}, root);
    panels.push({def: p, svg: svg, index: pi});
  });

  function sx(x) { return ML + (x - view[0]) / (view[1] - view[0]) * PW; }
  function xFromPx(px) { return view[0] + (px - ML) / PW * (view[1] - view[0]); }

  function visibleIdx(xs) { return [Math.max(0, lower(xs, view[0]) - 1), Math.min(xs.length, lower(xs, view[1]) + 1)]; }

  // At most about two points per pixel column: each column keeps its lowest and highest finite point
  // and its first non-finite one, so spikes and NaN stay visible at any zoom.
  function reduce(xs, ys, a, b) {
    var n = b - a, cols = PW * 2, out = [];
    if (n <= cols) { for (var i = a; i < b; i++) { out.push(i); } return out; }
    var per = n / cols;
    for (var c = 0; c < cols; c++) {
      var s = a + Math.floor(c * per), e = Math.min(b, a + Math.floor((c + 1) * per));
      var mi = -1, ma = -1, bad = -1;
      for (var j = s; j < e; j++) {
        var v = ys[j];
        if (typeof v !== "number") { if (bad < 0) { bad = j; } continue; }
        if (mi < 0 || v < ys[mi]) { mi = j; }
        if (ma < 0 || v > ys[ma]) { ma = j; }
      }
      var keep = [mi, ma, bad].filter(function (k) { return k >= 0; }).sort(function (p, q) { return p - q; });
      for (var k = 0; k < keep.length; k++) { if (!out.length || out[out.length - 1] !== keep[k]) { out.push(keep[k]); } }
    }
    return out;
  }

  function draw() {
    tip.hidden = true;
    root.setAttribute("data-view", fmtStep(view[0]) + "," + fmtStep(view[1]));
    document.getElementById("x0").value = fmtStep(view[0]);
    document.getElementById("x1").value = fmtStep(view[1]);
    panels.forEach(drawPanel);
  }

  function drawPanel(P) {
    var svg = P.svg, p = P.def;
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    var idx = p.series.map(function (s) { var r = visibleIdx(s.x); return reduce(s.x, s.y, r[0], r[1]); });
    var vals = [];
    p.series.forEach(function (s, k) { idx[k].forEach(function (i) { var v = s.y[i]; if (typeof v === "number" && s.x[i] >= view[0] && s.x[i] <= view[1]) { vals.push(v); } }); });
    var yr = yRange(vals);
    P.yr = yr;
    function sy(v) {
      var t = yr.log ? (Math.log10(v) - Math.log10(yr.lo)) / (Math.log10(yr.hi) - Math.log10(yr.lo)) : (v - yr.lo) / (yr.hi - yr.lo);
      return MT + PH - t * PH;
    }
    P.sy = sy;
    var clipId = "clip-" + p.id;
    var defs = el("defs", {}, svg);
    var cp = el("clipPath", {id: clipId}, defs);
    el("rect", {x: ML, y: MT, width: PW, height: PH}, cp);
    el("text", {x: ML, y: 15, "class": "ptitle"}, svg, p.title + (yr.log ? " (log scale)" : ""));
    // legend
    var lx = W - MR;
    for (var li = p.series.length - 1; li >= 0; li--) {
      var s0 = p.series[li];
      var t = el("text", {x: lx, y: 15, "text-anchor": "end", "class": "legend", fill: s0.color}, svg, "\u25A0 " + s0.label + (s0.nonfinite ? " (" + s0.nonfinite + " non-finite)" : ""));
      lx -= Math.min(360, 12 + 7 * t.textContent.length);
    }
    // grid and ticks
    var yt;
    if (yr.log && Math.log10(yr.hi / yr.lo) >= 1.5) {
      yt = [];
      var step = Math.max(1, Math.ceil(Math.log10(yr.hi / yr.lo) / 5));
      for (var e = Math.ceil(Math.log10(yr.lo)); e <= Math.floor(Math.log10(yr.hi)); e += step) { yt.push(Math.pow(10, e)); }
    } else {
      yt = linTicks(yr.lo, yr.hi, 4).filter(function (v) { return !yr.log || v > 0; });
    }
    yt.forEach(function (v) {
      var y = sy(v);
      if (y < MT - 0.5 || y > MT + PH + 0.5) { return; }
      el("line", {x1: ML, x2: ML + PW, y1: y, y2: y, "class": "grid"}, svg);
      el("text", {x: ML - 6, y: y + 4, "text-anchor": "end", "class": "tick"}, svg, fmt(v));
    });
    linTicks(view[0], view[1], 8).forEach(function (v) {
      var x = sx(v);
      el("line", {x1: x, x2: x, y1: MT, y2: MT + PH, "class": "grid"}, svg);
      el("text", {x: x, y: H - 6, "text-anchor": "middle", "class": "tick"}, svg, fmtStep(v));
    });
    el("rect", {x: ML, y: MT, width: PW, height: PH, fill: "none", "class": "axis"}, svg);
    var g = el("g", {"clip-path": "url(#" + clipId + ")"}, svg);
    // marks (vertical lines; labels on the first panel that has them, on three rows so close ones do not overprint)
    var labelRow = {};
    DATA.marks.forEach(function (m) {
      if (m.panels.indexOf(p.id) < 0 || m.x < view[0] || m.x > view[1]) { return; }
      var x = sx(m.x);
      var line = el("line", {x1: x, x2: x, y1: MT, y2: MT + PH, "class": "mark " + m.kind, stroke: SEV[m.severity] || "#495057", "data-step": m.x}, g);
      el("title", {}, line, m.label + " at " + DATA.unit + " " + fmtStep(m.x));
      if (m.panels[0] === p.id) {
        var right = x > ML + PW * 0.7;
        labelRow[p.id] = (labelRow[p.id] || 0) + 1;
        el("text", {x: right ? x - 3 : x + 3, y: MT + 28 + 13 * ((labelRow[p.id] - 1) % 3), "text-anchor": right ? "end" : "start", "class": "mlabel",
          fill: m.kind === "nan" ? "#c92a2a" : (m.kind === "best" ? "#2b8a3e" : (SEV[m.severity] || "#495057"))}, g, m.label + " \u00b7 " + fmtStep(m.x));
      }
    });
    // series
    p.series.forEach(function (s, k) {
      var d = "", pen = false, bad = [], over = [], n = 0, last = null;
      idx[k].forEach(function (i) {
        var v = s.y[i], x = sx(s.x[i]);
        if (typeof v !== "number") { bad.push([x, v]); pen = false; return; }
        if (yr.top !== null && v > yr.top) { over.push([x, v]); }
        var y = Math.max(MT - 4, Math.min(MT + PH + 4, sy(yr.log && v <= 0 ? yr.lo : v)));
        d += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
        pen = true; n += 1; last = [x, y];
      });
      var path = el("path", {d: d || "M0 0", "class": "series", stroke: s.color, "data-series": s.name, "data-drawn": n}, g);
      el("title", {}, path, s.label + ": " + s.source + " (" + s.points + " points)");
      if (n === 1 && last) { el("circle", {cx: last[0], cy: last[1], r: 3, fill: s.color}, g); }
      else if (n > 1 && n <= 60) { idx[k].forEach(function (i) { var v = s.y[i]; if (typeof v === "number") { el("circle", {cx: sx(s.x[i]), cy: Math.max(MT, Math.min(MT + PH, sy(yr.log && v <= 0 ? yr.lo : v))), r: 2.4, fill: s.color}, g); } }); }
      bad.forEach(function (b) { var t = el("text", {x: b[0], y: MT + 12, "text-anchor": "middle", "class": "nonfinite"}, g, "\u00d7"); el("title", {}, t, s.label + ": " + fmt(b[1])); });
      over.forEach(function (o) { var t = el("text", {x: o[0], y: MT + 9, "text-anchor": "middle", "class": "offscale", fill: s.color}, g, "\u25B2"); el("title", {}, t, s.label + " " + fmt(o[1]) + " (off the scale)"); });
    });
    DATA.spikes.forEach(function (sp) {
      if (sp.panel !== p.id || sp.x < view[0] || sp.x > view[1]) { return; }
      var y = Math.max(MT, Math.min(MT + PH, sy(yr.log && sp.y <= 0 ? yr.lo : sp.y)));
      var c = el("circle", {cx: sx(sp.x), cy: y, r: 6, fill: "none", stroke: "#e8590c", "stroke-width": 1.8, "class": "spike"}, g);
      el("title", {}, c, sp.label);
    });
    if (!vals.length) {
      el("text", {x: ML + PW / 2, y: MT + PH / 2, "text-anchor": "middle", "class": "tick"}, svg, "no finite value in this range");
    }
    P.cross = el("line", {x1: 0, x2: 0, y1: MT, y2: MT + PH, "class": "cross", visibility: "hidden"}, svg);
    P.sel = el("rect", {x: 0, y: MT, width: 0, height: PH, "class": "sel", visibility: "hidden"}, svg);
    P.overlay = el("rect", {x: ML, y: MT, width: PW, height: PH, fill: "transparent", "class": "overlay"}, svg);
    bind(P);
  }

  function svgX(P, evt) { var r = P.svg.getBoundingClientRect(); return (evt.clientX - r.left) * (W / r.width); }
  var drag = null;

  function hover(P, evt) {
    var px = Math.max(ML, Math.min(ML + PW, svgX(P, evt)));
    var x = xFromPx(px), lines = [DATA.unit + " \u2248 " + fmtStep(x)], best = null;
    panels.forEach(function (Q) {
      Q.def.series.forEach(function (s) {
        var i = lower(s.x, x);
        var cand = [i - 1, i].filter(function (j) { return j >= 0 && j < s.x.length; });
        if (!cand.length) { return; }
        var j = cand.reduce(function (a, b) { return Math.abs(s.x[a] - x) <= Math.abs(s.x[b] - x) ? a : b; });
        if (best === null || Math.abs(s.x[j] - x) < Math.abs(best - x)) { best = s.x[j]; }
        lines.push(s.label + " @ " + fmtStep(s.x[j]) + ": " + fmt(s.y[j]));
      });
    });
    DATA.marks.forEach(function (m) { if (Math.abs(sx(m.x) - px) < 4) { lines.push("\u2192 " + m.label + " (" + DATA.unit + " " + fmtStep(m.x) + ")"); } });
    panels.forEach(function (Q) { Q.cross.setAttribute("x1", px); Q.cross.setAttribute("x2", px); Q.cross.setAttribute("visibility", "visible"); });
    tip.textContent = lines.join("\n");
    tip.hidden = false;
    var left = evt.clientX + 14, top = evt.clientY + 14;
    if (left + 300 > window.innerWidth) { left = Math.max(4, evt.clientX - 314); }
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }
  function leave() { tip.hidden = true; panels.forEach(function (Q) { if (Q.cross) { Q.cross.setAttribute("visibility", "hidden"); } }); }

  function bind(P) {
    var o = P.overlay;
    o.addEventListener("mousedown", function (evt) { evt.preventDefault(); drag = {P: P, x0: Math.max(ML, Math.min(ML + PW, svgX(P, evt)))}; });
    o.addEventListener("mousemove", function (evt) {
      if (drag && drag.P === P) {
        var x1 = Math.max(ML, Math.min(ML + PW, svgX(P, evt)));
        P.sel.setAttribute("x", Math.min(drag.x0, x1)); P.sel.setAttribute("width", Math.abs(x1 - drag.x0)); P.sel.setAttribute("visibility", "visible");
      }
      hover(P, evt);
    });
    o.addEventListener("mouseleave", leave);
    o.addEventListener("dblclick", function () { zoom(full[0], full[1]); });
  }
  window.addEventListener("mouseup", function (evt) {
    if (!drag) { return; }
    var P = drag.P, x1 = Math.max(ML, Math.min(ML + PW, svgX(P, evt))), x0 = drag.x0;
    drag = null;
    P.sel.setAttribute("visibility", "hidden");
    if (Math.abs(x1 - x0) > 4) { zoom(xFromPx(Math.min(x0, x1)), xFromPx(Math.max(x0, x1))); }
  });

  function zoom(a, b) {
    a = Math.max(full[0], a); b = Math.min(full[1], b);
    if (!(b > a)) { return; }
    view = [a, b];
    draw();
  }
  document.getElementById("reset").addEventListener("click", function () { zoom(full[0], full[1]); });
  document.getElementById("apply").addEventListener("click", function () {
    zoom(parseFloat(document.getElementById("x0").value), parseFloat(document.getElementById("x1").value));
  });
  Array.prototype.forEach.call(document.querySelectorAll("button.zoom"), function (b) {
    b.addEventListener("click", function () {
      zoom(parseFloat(b.getAttribute("data-x0")), parseFloat(b.getAttribute("data-x1")));
      document.getElementById("chart-section").scrollIntoView({behavior: "smooth", block: "start"});
    });
  });
  draw();
})();
"""

SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
