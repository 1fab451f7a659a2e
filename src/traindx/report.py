"""Write the diagnosis files into an output folder (never into the run folder)."""

from __future__ import annotations

from pathlib import Path

from .diagnosis import Diagnosis


def write_reports(diagnosis: Diagnosis, out: Path) -> dict[str, str]:
    """Write ``diagnosis.json`` and ``report.md`` into ``out``; returns name -> file written."""
    from .render.json import to_json
    from .render.markdown import to_markdown

    out.mkdir(parents=True, exist_ok=True)
    diagnosis.analysis_artifacts["diagnosis"] = "diagnosis.json"
    diagnosis.analysis_artifacts["report_markdown"] = "report.md"
    (out / "report.md").write_text(to_markdown(diagnosis), encoding="utf-8")
    (out / "diagnosis.json").write_text(to_json(diagnosis), encoding="utf-8")
    return dict(diagnosis.analysis_artifacts)
