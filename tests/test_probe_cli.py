"""``traindx grads``: the gradient-flow table and heatmap from a probe log or TensorBoard gradient histograms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traindx.cli.app import app
from traindx.probe.config import ProbeConfig
from traindx.probe.recorder import Recorder

runner = CliRunner()


def write_layers(folder: Path) -> None:
    """A probe log whose first layer's gradient vanishes and whose head explodes once."""
    rec = Recorder(folder, ProbeConfig(every=1))
    rec.start(grad_norm="pre_clip")
    for s in range(20):
        rec.step_ended(s, {"grad_norm": 1.0})
        rec.loss(1.0)
        head = 500.0 if s == 15 else 1.0
        rec.layers(s, grad_norm={"layer1.weight": 1e-6, "layer2.weight": 0.5, "head.weight": head}, update_ratio={"head.weight": 1e-3})
    rec.close()


def test_grads_table_names_vanishing_and_exploding_layers(tmp_path: Path) -> None:
    write_layers(tmp_path / "run")
    res = runner.invoke(app, ["grads", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:2] == ["layer", "first"] and "upd/w" in lines[0]
    order = [ln.split()[0] for ln in lines[2:5]]
    assert order == ["head.weight", "layer1.weight", "layer2.weight"]
    row = {ln.split()[0]: ln for ln in lines[2:5]}
    assert row["layer1.weight"].endswith("vanishing")
    assert row["head.weight"].endswith("exploding")
    assert row["layer2.weight"].endswith("ok")
    assert "vanishing: layer1.weight" in res.output and "exploding: head.weight" in res.output


def test_grads_json_and_heatmap(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    write_layers(tmp_path / "run")
    out = tmp_path / "img" / "flow.png"
    res = runner.invoke(app, ["grads", str(tmp_path / "run"), "-f", "json", "-o", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    layers = {r["layer"]: r for r in doc["layers"]}
    assert layers["head.weight"]["max"] == 500.0 and layers["head.weight"]["update_ratio"] == pytest.approx(1e-3)
    assert layers["layer1.weight"]["verdict"] == "vanishing"
    assert doc["heatmap"] == str(out) and out.stat().st_size > 1000


def test_grads_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    write_layers(tmp_path / "run")
    res = runner.invoke(app, ["grads", str(tmp_path / "run"), "-o", str(tmp_path / "run" / "x.png")])
    assert res.exit_code == 2 and "inside the run folder" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "train.csv").write_text("step,loss\n1,2.0\n2,1.5\n")
    res = runner.invoke(app, ["grads", str(empty)])
    assert res.exit_code == 2 and "no per-layer gradient norms" in res.output
    res = runner.invoke(app, ["grads", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "no such file" in res.output


def test_grads_from_tensorboard_histograms(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    g = torch.Generator().manual_seed(0)
    with SummaryWriter(str(tmp_path / "tb")) as w:
        for step in range(5):
            w.add_histogram("grad/fc1.weight", torch.randn(64, generator=g) * 1e-7, step)
            w.add_histogram("grad/fc2.weight", torch.randn(64, generator=g), step)
    res = runner.invoke(app, ["grads", str(tmp_path / "tb")])
    assert res.exit_code == 0, res.output
    row = {ln.split()[0]: ln for ln in res.output.splitlines()[2:4]}
    assert row["fc1.weight"].endswith("vanishing") and row["fc2.weight"].endswith("ok")
