"""``traindx model``: a checkpoint, an HF config, a factory (an explicit opt-in to run user code), and usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traindx.cli.app import app

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


def test_model_text_and_json(tmp_path: Path) -> None:
    torch.manual_seed(0)
    sd = {"embed_tokens.weight": torch.randn(1000, 16) * 0.02, "layers.0.mlp.up_proj.weight": torch.randn(64, 16) * 0.02, "norm.weight": torch.ones(16)}
    safetensors_torch.save_file(sd, tmp_path / "model.safetensors")
    res = CliRunner().invoke(app, ["model", str(tmp_path / "model.safetensors")])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "parameters  17.0k (17,040)" in out
    assert "embedding" in out and "93.9%" in out
    assert "3 tensors read: 0 with NaN/inf" in out
    res = CliRunner().invoke(app, ["model", str(tmp_path), "--format", "json", "--no-spectra"])
    d = json.loads(res.output)
    assert d["parameters"] == 17040 and d["groups"]["embedding"]["parameters"] == 16000
    assert "spectra" not in d and len(d["health"]) == 3
    # 94% in the embedding of a model that does not say it generates: reported, at low severity
    assert [(f["id"], f["severity"]) for f in d["findings"]] == [("param_imbalance", "low")]
    assert d["findings"][0]["evidence"][0]["source"] == "model.safetensors#embed_tokens.weight"


def test_model_from_factory_knows_trainable_and_tied(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(
        "import torch\n\n"
        "def build():\n"
        "    m = torch.nn.ModuleDict({'embed': torch.nn.Embedding(100, 8), 'lm_head': torch.nn.Linear(8, 100, bias=False), 'body': torch.nn.Linear(8, 8)})\n"
        "    m['lm_head'].weight = m['embed'].weight\n"
        "    m['body'].bias.requires_grad_(False)\n"
        "    return m\n"
    )
    res = CliRunner().invoke(app, ["model", "--factory", f"{tmp_path / 'net.py'}:build", "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["parameters"] == 800 + 64 + 8
    assert d["trainable"] == 800 + 64 and d["frozen"] == 8
    assert d["tied"] == [["lm_head.weight", "embed.weight"]] and d["head_tied"] is True


def test_model_usage_errors(tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["model"]).exit_code == 2
    (tmp_path / "notes.txt").write_text("hello\n")
    res = CliRunner().invoke(app, ["model", str(tmp_path)])
    assert res.exit_code == 2 and "no model in" in res.output
    res = CliRunner().invoke(app, ["model", "--factory", "no_such_module_xyz:build"])
    assert res.exit_code == 2 and "importing no_such_module_xyz failed" in res.output
