"""Reports for runs that are hard to draw: a single point, only NaN, no validation data, nothing but a
traceback, 500 series, 10 million points. Every report renders, says what is missing, and stays small."""

from __future__ import annotations

import html
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from traindx.diagnosis import Diagnosis
from traindx.engine import diagnose_run
from traindx.render.text import render_text
from traindx.report import write_reports
from traindx.run import Event, Run, Series

MAX_HTML = 10 * 1024 * 1024


def _series(name: str, values: np.ndarray, steps: np.ndarray | None = None, source: str = "train.log") -> Series:
    n = values.shape[0]
    st = np.arange(n, dtype=np.float64) if steps is None else steps
    return Series(name=name, steps=st, values=values, source=source, source_name=name, lines=np.arange(1, n + 1, dtype=np.int64))


def _render_all(d: Diagnosis, out: Path) -> tuple[str, str, str]:
    arts = write_reports(d, out)
    for f in arts.values():
        assert (out / f).is_file()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert len(page.encode()) < MAX_HTML
    buf = io.StringIO()
    render_text(d, Console(file=buf, width=80, no_color=True, force_terminal=False))
    text = buf.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines())
    return page, (out / "report.md").read_text(encoding="utf-8"), text


def _says(page: str, md: str, words: str) -> None:
    assert html.escape(words, quote=True) in page
    assert words in md.replace("\\", "")


def test_single_point(tmp_path: Path) -> None:
    run = Run()
    run.series["loss/train"] = _series("loss/train", np.array([2.5]), np.array([100.0]))
    page, md, _ = _render_all(diagnose_run(run), tmp_path)
    _says(page, md, "training loss has a single point (step 100): no trend can be drawn")
    _says(page, md, "no validation loss was logged")


def test_only_nan(tmp_path: Path) -> None:
    run = Run()
    run.series["loss/train"] = _series("loss/train", np.full(100, np.nan))
    run.series["lr"] = _series("lr", np.full(100, 1e-3))
    d = diagnose_run(run)
    page, md, text = _render_all(d, tmp_path)
    _says(page, md, "training loss: all 100 logged values are non-finite (NaN/inf)")
    assert "loss_plot.png" in d.analysis_artifacts.values()  # NaN is drawn, not hidden
    assert "×××" in text  # the sparkline shows where the NaN are


def test_no_validation_data(tmp_path: Path) -> None:
    run = Run()
    run.series["loss/train"] = _series("loss/train", 3 * np.exp(-np.arange(500) / 100) + 0.5)
    d = diagnose_run(run)
    page, md, _ = _render_all(d, tmp_path)
    _says(page, md, "no validation loss was logged: the plots show no train/validation comparison and no early-stopping point")
    assert any(r.need == "a validation loss" for r in d.requests)


def test_nothing_but_a_traceback(tmp_path: Path) -> None:
    run = Run()
    run.events.append(Event("oom", "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", "err.txt", 3))
    d = diagnose_run(run)
    page, md, text = _render_all(d, tmp_path)
    _says(page, md, "no metric series could be read, so there is no curve to draw")
    assert set(d.analysis_artifacts) == {"report", "report_markdown", "diagnosis"}
    assert "oom_error" in text and "training loss  " not in text  # causes shown, no sparkline without a curve
    assert "Symptoms on the curves" in page and 'id="chart"' not in page


def test_500_series_of_20k_points_10_million_in_all(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    run = Run()
    run.series["loss/train"] = _series("loss/train", 3 * np.exp(-np.arange(n) / 4000) + 0.5 + 0.01 * rng.standard_normal(n))
    for i in range(499):
        run.series[f"metric_{i:03d}"] = _series(f"metric_{i:03d}", rng.standard_normal(n).cumsum(), source=f"m{i % 7}.csv")
    d = diagnose_run(run)
    page, md, _ = _render_all(d, tmp_path)
    assert page.count('<svg class="spark"') == 500  # every series listed with its curve
    assert "metric_498" in page
    assert "... and 440 more series" in md


@pytest.mark.slow
def test_ten_million_points(tmp_path: Path) -> None:
    n = 10_000_000
    rng = np.random.default_rng(1)
    loss = 3 * np.exp(-np.arange(n) / 2e6) + 0.5 + 0.05 * rng.standard_normal(n)
    loss[7_000_000] = 400.0
    loss[9_000_000:] = np.nan
    run = Run()
    run.series["loss/train"] = _series("loss/train", loss)
    d = diagnose_run(run)
    page, _, text = _render_all(d, tmp_path)
    assert len(page.encode()) < 1024 * 1024
    assert "×" in text
    data = json.loads(re.search(r'id="traindx-data">(.*?)</script>', page, re.DOTALL).group(1))
    y = data["panels"][0]["series"][0]["y"]
    assert max(v for v in y if isinstance(v, (int, float))) == 400  # the one-step spike survives into the chart data
    assert y.count(None) >= 1
