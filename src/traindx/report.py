"""Write the diagnosis files into an output folder (never into the run folder).

``--out DIR`` gets the PNG plots (when matplotlib is installed), ``report.md``
(plots referenced by relative path), ``report.html`` (one self-contained file,
plots embedded) and ``diagnosis.json``, written last so that its
``analysis_artifacts`` lists every file beside it.
"""

from __future__ import annotations

from pathlib import Path

from .diagnosis import Diagnosis

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
DIAGNOSIS_JSON = "diagnosis.json"


def write_reports(diagnosis: Diagnosis, out: Path, *, plots: bool = True) -> dict[str, str]:
    """Write the plots, ``report.md``, ``report.html`` and ``diagnosis.json`` into ``out``; returns name -> file written."""
    from .render.html import render_html
    from .render.json import to_json
    from .render.markdown import to_markdown

    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, bytes] = {}
    if plots:
        images = _write_plots(diagnosis, out)
    diagnosis.analysis_artifacts["report"] = REPORT_HTML
    diagnosis.analysis_artifacts["report_markdown"] = REPORT_MD
    diagnosis.analysis_artifacts["diagnosis"] = DIAGNOSIS_JSON
    (out / REPORT_MD).write_text(to_markdown(diagnosis), encoding="utf-8")
    (out / REPORT_HTML).write_text(render_html(diagnosis, images), encoding="utf-8")
    (out / DIAGNOSIS_JSON).write_text(to_json(diagnosis), encoding="utf-8")
    return dict(diagnosis.analysis_artifacts)


def _write_plots(diagnosis: Diagnosis, out: Path) -> dict[str, bytes]:
    """Draw every plot the run has data for; returns key -> PNG bytes (for embedding in the HTML)."""
    try:
        from .render.plots import PlotUnavailable, render_plots
    except ImportError:  # pragma: no cover - numpy is a core dependency
        return {}
    try:
        written, errors = render_plots(diagnosis, out)
    except PlotUnavailable:
        return {}
    diagnosis.errors.extend(errors)
    images: dict[str, bytes] = {}
    for key, filename in written.items():
        diagnosis.analysis_artifacts[key] = filename
        images[key] = (out / filename).read_bytes()
    return images
