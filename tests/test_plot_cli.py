"""``traindx plot``: the loss figure by default, any series by name, annotations, refusals, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tree_digest
from typer.testing import CliRunner

from traindx.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lr_schedule_divergence"
runner = CliRunner()

pytest.importorskip("matplotlib")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_default_is_the_annotated_loss_figure(tmp_path: Path) -> None:
    before = tree_digest(EXAMPLE)
    out = tmp_path / "loss.png"
    res = runner.invoke(app, ["plot", str(EXAMPLE), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out)
    w, h = _png_size(out)
    assert w == 1000 and h > 500
    assert tree_digest(EXAMPLE) == before


def test_metrics_by_canonical_or_written_name_with_annotations(tmp_path: Path) -> None:
    out = tmp_path / "m.svg"
    res = runner.invoke(app, ["plot", str(EXAMPLE), "--metric", "grad_norm", "-m", "val_loss", "-m", "gradnorm", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    svg = out.read_text()
    assert svg.count("<g id=\"axes_") == 2  # grad_norm (asked twice, by two names) and loss/val
    assert "grad spike · step 293" in svg and "first NaN · step 302" in svg
    assert "gradient norm: NaN/inf (11 points)" in svg
    assert "validation loss" in svg


def test_unknown_metric_is_a_usage_error_with_suggestions(tmp_path: Path) -> None:
    res = runner.invoke(app, ["plot", str(EXAMPLE), "-m", "grad_nrm", "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 2
    assert "no series named 'grad_nrm'; did you mean grad_norm" in res.stderr
    assert not (tmp_path / "x.png").exists()


def test_never_writes_into_the_run_or_an_unknown_format(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,loss\n" + "".join(f"{i},{3 - i * 0.1}\n" for i in range(20)))
    before = tree_digest(run)
    res = runner.invoke(app, ["plot", str(run), "-o", str(run / "p.png")])
    assert res.exit_code == 2 and "inside the run folder" in res.stderr
    res = runner.invoke(app, ["plot", str(run), "-o", str(tmp_path / "p.jpg")])
    assert res.exit_code == 2 and ".png, .svg, .pdf" in res.stderr
    res = runner.invoke(app, ["plot", str(tmp_path / "missing"), "-o", str(tmp_path / "p.png")])
    assert res.exit_code == 2 and "no such file" in res.stderr
    assert tree_digest(run) == before


def test_run_without_loss_plots_its_first_series(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,accuracy\n" + "".join(f"{i},{0.5 + i * 0.01}\n" for i in range(20)))
    res = runner.invoke(app, ["plot", str(run), "-o", str(tmp_path / "a.png")])
    assert res.exit_code == 0, res.output
    assert "no loss series; plotted" in res.stderr
    assert _png_size(tmp_path / "a.png")[0] == 1000


def test_help_lists_plot_and_imports_no_matplotlib() -> None:
    res = runner.invoke(app, ["--help"])
    assert "plot" in res.stdout
    code = "import sys, traindx.cli.app; print('matplotlib' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    code = "import sys, traindx, traindx.report, traindx.render.text; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
