"""``traindx grads PATH``: gradient flow per layer from a probe log or TensorBoard gradient histograms.

Prints one row per layer (input side first): the gradient norm at the first
and last logged step, its median, smallest and largest, the update-to-weight
ratio when the probe recorded it, and a verdict: ``vanishing`` (the median is
below ``--vanish`` times the largest layer median), ``exploding`` (the largest
value is above ``--explode`` times the layer's own median), ``non-finite``.
``--output FILE.png`` draws the heatmap (layers x steps). Any reader that gives
``grad_norm/<layer>`` series works: the probe log, TensorBoard histograms,
Lightning's ``grad_2.0_norm/<param>`` metrics.
"""

from __future__ import annotations

import json
import math
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .errors import EXIT_OK, EXIT_USAGE, fail


class Format(str, Enum):
    text = "text"
    json = "json"


def layer_rows(run: Any, *, vanish: float, explode: float) -> list[dict[str, Any]]:
    """One dict per layer with its gradient-norm figures and verdict, input side first."""
    import numpy as np

    from ..checks.gradients.layers import GLOBAL_GRAD, per_layer

    layers = per_layer(run, "grad_norm", GLOBAL_GRAD)  # the layers the heatmap and the checks use
    medians = {}
    for s in layers:
        fin = s.values[np.isfinite(s.values)]
        medians[s.name] = float(np.median(fin)) if fin.size else math.nan
    top = max((m for m in medians.values() if math.isfinite(m)), default=math.nan)
    rows = []
    for s in layers:
        name = s.name[len("grad_norm/") :]
        v = s.values
        fin = v[np.isfinite(v)]
        med = medians[s.name]
        row: dict[str, Any] = {
            "layer": name,
            "points": int(len(s)),
            "first": float(v[0]),
            "last": float(v[-1]),
            "median": med,
            "min": float(fin.min()) if fin.size else math.nan,
            "max": float(fin.max()) if fin.size else math.nan,
            "source": s.where(len(s) - 1),
        }
        upd = run.get(f"update_ratio/{name}")
        if upd is not None and len(upd):
            uf = upd.values[np.isfinite(upd.values)]
            row["update_ratio"] = float(np.median(uf)) if uf.size else math.nan
        verdict = []
        if fin.size < v.size:
            verdict.append("non-finite")
        if math.isfinite(med) and math.isfinite(top) and top > 0 and med < vanish * top:
            verdict.append("vanishing")
        if fin.size and math.isfinite(med) and med > 0 and float(fin.max()) > explode * med:
            verdict.append("exploding")
        row["verdict"] = ", ".join(verdict) or "ok"
        rows.append(row)
    return rows


def _num(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.3g}"


def _text(rows: list[dict[str, Any]], notes: list[str], symptoms: list[Any]) -> str:
    width = min(48, max(len("layer"), *(len(r["layer"]) for r in rows)))
    has_upd = any("update_ratio" in r for r in rows)
    head = f"{'layer':<{width}}  {'first':>9} {'median':>9} {'last':>9} {'min':>9} {'max':>9}" + (f" {'upd/w':>9}" if has_upd else "") + "  verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        name = r["layer"] if len(r["layer"]) <= width else "…" + r["layer"][-(width - 1) :]
        line = f"{name:<{width}}  {_num(r['first']):>9} {_num(r['median']):>9} {_num(r['last']):>9} {_num(r['min']):>9} {_num(r['max']):>9}"
        if has_upd:
            line += f" {_num(r.get('update_ratio')):>9}"
        lines.append(line + f"  {r['verdict']}")
    flagged = [r for r in rows if r["verdict"] != "ok"]
    lines.append("")
    if flagged:
        for kind in ("vanishing", "exploding", "non-finite"):
            names = [r["layer"] for r in flagged if kind in r["verdict"]]
            if names:
                lines.append(f"{kind}: {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}")
    else:
        lines.append(f"all {len(rows)} layers within range")
    for s in symptoms:
        lines.append(f"{s.code} {s.id}: {s.summary}")
    for n in notes:
        lines.append(f"note: {n}")
    return "\n".join(lines) + "\n"


def grads(
    path: Annotated[Path, typer.Argument(help="A probe log or run folder (probe-rank*.jsonl), or TensorBoard event files with gradient histograms.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Also draw the heatmap of layers x steps to this image (.png, .svg, .pdf); never inside the run folder.", show_default=False)] = None,
    vanish: Annotated[float, typer.Option("--vanish", help="A layer is vanishing when its median norm is below this share of the largest layer median.")] = 1e-3,
    explode: Annotated[float, typer.Option("--explode", help="A layer is exploding when its largest norm is above this multiple of its own median.")] = 10.0,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """Gradient flow per layer: norms over the run, vanishing and exploding layers named, and a heatmap.

    Exit codes: 0 table printed, 2 no per-layer gradient norms or a usage error.
    """
    if not path.exists():
        fail(f"{path}: no such file or folder")
        raise typer.Exit(EXIT_USAGE)
    if output is not None:
        from .plot import FORMATS, _inside

        if output.suffix.lower() not in FORMATS:
            fail(f"--output {output}: the file name must end in {', '.join(FORMATS)}")
            raise typer.Exit(EXIT_USAGE)
        folder = path if path.is_dir() else path.parent
        if _inside(output, folder):
            fail(f"--output {output} is inside the run folder {folder}; traindx never writes into the input, choose another place")
            raise typer.Exit(EXIT_USAGE)
    from ..engine import diagnose_paths

    d = diagnose_paths([path])
    rows = layer_rows(d.run, vanish=vanish, explode=explode)
    if not rows:
        fail(
            f"no per-layer gradient norms in {path}: record them with traindx.watch(model, optimizer, log_dir=...) "
            "or log gradient histograms to TensorBoard"
        )
        raise typer.Exit(EXIT_USAGE)
    notes = sorted({e.text for e in d.run.events_of("probe_note")})
    symptoms = [s for s in d.symptoms if s.id in ("gradient_vanishing", "gradient_explosion", "nan_origin", "frozen_params", "grad_not_cleared")]
    if output is not None:
        from ..render import plots

        try:
            plots._mpl()
        except plots.PlotUnavailable as e:
            fail(str(e))
            raise typer.Exit(EXIT_USAGE)
        output.parent.mkdir(parents=True, exist_ok=True)
        plots.plot_gradient_flow(d, output)
    if format is Format.json:
        doc = {
            "layers": [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()} for r in rows],
            "symptoms": [s.to_dict() for s in symptoms],
            "notes": notes,
            "heatmap": str(output) if output is not None else None,
        }
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(_text(rows, notes, symptoms))
        if output is not None:
            sys.stdout.write(f"heatmap: {output}\n")
    raise typer.Exit(EXIT_OK)
