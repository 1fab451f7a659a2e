"""report.html without a browser: one self-contained file, a policy that forbids the network and foreign
scripts, escaped user text, the chart data that the page's script draws, and the --out folder."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import tree_digest
from typer.testing import CliRunner

import traindx
from traindx.cli.app import app
from traindx.engine import diagnose_run
from traindx.render.html import (
    DETAIL_HALF,
    SCRIPT,
    chart_data,
    render_html,
    script_safe,
)
from traindx.run import Run, Series
from traindx.schema import diagnosis_schema

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lr_schedule_divergence"
EVIL = "</script><script>window.__pwned=1</script><img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def example() -> traindx.Diagnosis:
    return traindx.diagnose(EXAMPLE)


def _payload(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="traindx-data">(.*?)</script>', page, re.DOTALL)
    assert m is not None
    assert "<" not in m.group(1)  # nothing in the data can close its element
    return json.loads(m.group(1))


def test_page_is_self_contained_and_locked_down(example: traindx.Diagnosis) -> None:
    page = render_html(example, {"loss_visualization": b"\x89PNG\r\n\x1a\nfake"})
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page and "@import" not in page
    assert not re.search(r"""url\(\s*["']?(?!#|data:)""", page)  # only in-page references (the SVG clip paths)
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert csp is not None and "default-src &#x27;none&#x27;" in csp.group(1)
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    assert f"sha256-{digest}" in csp.group(1)
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts == [' type="application/json" id="traindx-data"', ""]
    assert f"<script>{SCRIPT}</script>" in page  # the hashed script is the one in the page, byte for byte
    assert '<img src="data:image/png;base64,' in page


def test_same_diagnosis_same_page(example: traindx.Diagnosis) -> None:
    assert render_html(example) == render_html(example)


def test_user_text_is_escaped_everywhere(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,loss,weird\n" + "".join(f"{i},{2 - i * 0.01},{i}\n" for i in range(50)))
    d = traindx.diagnose([run], symptoms=[f"loss diverged {EVIL}"])
    d.root_causes[:0] = []
    d.errors.append(f"check failed: {EVIL}")
    d.task = EVIL
    page = render_html(d)
    assert "<script>window" not in page and "<img src=x" not in page
    assert page.count("<script") == 2
    assert html_unescape_count(page, EVIL) >= 3  # the text is there, as text


def html_unescape_count(page: str, text: str) -> int:
    import html

    return page.count(html.escape(text, quote=True))


def test_script_safe_json_cannot_close_the_script_element() -> None:
    s = script_safe(json.dumps({"name": "</script><!--", "x": "a&b", "sep": "\u2028"}))
    assert "<" not in s and ">" not in s and "&" not in s
    assert json.loads(s) == {"name": "</script><!--", "x": "a&b", "sep": "\u2028"}


def test_chart_data_carries_the_marks_and_series(example: traindx.Diagnosis) -> None:
    data = _payload(render_html(example))
    assert data["unit"] == "step" and data["range"] == [0, 311]
    assert [p["id"] for p in data["panels"]] == ["loss", "lr", "grad"]
    loss = data["panels"][0]["series"][0]
    assert loss["name"] == "loss/train" and loss["nonfinite"] == 10
    assert loss["y"][-1] is None and len(loss["x"]) == len(loss["y"]) == 311  # short series: every point, NaN as null
    marks = {(m["kind"], m["x"]) for m in data["marks"]}
    assert {("onset", 222), ("nan", 302), ("best", 154)} <= marks
    assert {s["x"] for s in data["spikes"]} == {241, 249, 282, 293}  # three loss spikes, one gradient-norm spike


def _long_run(n: int, onset: int) -> Run:
    rng = np.random.default_rng(5)
    st = np.arange(n, dtype=np.float64)
    v = 2.0 + 0.05 * rng.standard_normal(n) - st / n
    v[onset:] += np.linspace(0, 5, n - onset)
    run = Run()
    run.series["loss/train"] = Series("loss/train", st, v, "train.log", "loss", np.arange(1, n + 1))
    return run


def test_zoom_on_the_onset_shows_the_points_as_logged() -> None:
    d = diagnose_run(_long_run(200_000, 150_000))
    div = next(s for s in d.symptoms if s.id == "loss_divergence")
    onset = int(div.data["onset_step"])
    data = chart_data(d)
    x = json.loads(data["panels"][0]["series"][0]["x"])
    assert len(x) < 12_000  # an overview, not the 200k points
    near = [v for v in x if abs(v - onset) <= DETAIL_HALF - 1]
    assert near == list(range(onset - DETAIL_HALF + 1, onset + DETAIL_HALF))  # every raw point around the onset


def test_out_writes_every_report_and_lists_it(tmp_path: Path) -> None:
    before = tree_digest(EXAMPLE)
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["diagnose", str(EXAMPLE), "--out", str(out), "-q", "--format", "json"])
    assert res.exit_code == 0, res.output
    written = json.loads((out / "diagnosis.json").read_text())
    jsonschema.validate(written, diagnosis_schema())
    arts = written["analysis_artifacts"]
    assert arts == {
        "diagnosis": "diagnosis.json",
        "gradient_norm": "grad_norm.png",
        "loss_visualization": "loss_plot.png",
        "report": "report.html",
        "report_markdown": "report.md",
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(arts.values())
    assert json.loads(res.stdout)["analysis_artifacts"] == arts
    page = (out / "report.html").read_text()
    png = (out / "loss_plot.png").read_bytes()
    assert base64.b64encode(png).decode() in page  # the plot is inside the page, not linked
    assert "](loss_plot.png)" in (out / "report.md").read_text()
    assert tree_digest(EXAMPLE) == before
