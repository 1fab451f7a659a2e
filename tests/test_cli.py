"""The command line end to end: formats, the JSON contract, exit codes, --out, symptoms, context."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from traindx.cli.app import app
from traindx.schema import diagnosis_schema

from conftest import tree_digest

runner = CliRunner()

# A Keras CSVLogger file as Keras writes it (epoch 0-based, sorted metric columns):
# validation loss bottoms out at epoch 3 and rises while training loss keeps falling.
KERAS_OVERFIT = """epoch,accuracy,loss,val_accuracy,val_loss
0,0.6573125123977661,0.6313269138336182,0.7149999737739563,0.5626348853111267
1,0.7463124990463257,0.5260788798332214,0.7379999756813049,0.5230852365493774
2,0.7861250042915344,0.4618213474750519,0.7630000114440918,0.4952315986156463
3,0.8207499980926514,0.4016723036766052,0.7960000038146973,0.4568949937820435
4,0.8547499775886536,0.3397839963436127,0.8069999814033508,0.4685187339782715
5,0.8865000009536743,0.2788628935813904,0.8059999942779541,0.4983544647693634
6,0.9137499928474426,0.2198483049869537,0.8009999990463257,0.5338627099990845
"""

# Healthy twin: both curves fall.
KERAS_HEALTHY = """epoch,accuracy,loss,val_accuracy,val_loss
0,0.60,0.70,0.62,0.68
1,0.70,0.58,0.71,0.57
2,0.76,0.49,0.76,0.49
3,0.80,0.43,0.80,0.44
4,0.83,0.39,0.82,0.40
5,0.85,0.36,0.84,0.38
6,0.86,0.34,0.85,0.37
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text)
    return p


@pytest.fixture
def overfit_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    _write(run, "training_log.csv", KERAS_OVERFIT)
    return run


@pytest.fixture
def healthy_run(tmp_path: Path) -> Path:
    run = tmp_path / "healthy"
    _write(run, "training_log.csv", KERAS_HEALTHY)
    return run


def _json(args: list[str]) -> tuple[int, dict, str]:
    res = runner.invoke(app, ["diagnose", *args, "--format", "json", "--quiet"])
    assert res.stdout, res.stderr
    data = json.loads(res.stdout)
    jsonschema.validate(data, diagnosis_schema())
    return res.exit_code, data, res.stderr


def test_help_and_version() -> None:
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0 and "diagnose" in res.stdout and "explain" in res.stdout
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("traindx ")


def test_help_is_fast_and_imports_nothing_heavy() -> None:
    code = (
        "import sys, traindx.cli.app as a;"
        "heavy=[m for m in ('numpy','torch','matplotlib','yaml','scipy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_json_contract_on_an_overfit_run(overfit_run: Path) -> None:
    code, data, _ = _json([str(overfit_run)])
    assert code == 0
    assert data["status"] == "diagnosis_complete"
    assert [c["id"] for c in data["root_causes"]][0] == "overfitting"
    top = data["root_causes"][0]
    assert top["confidence"] >= 0.9 and top["explains"][0] == "val_loss_rising"
    assert all(e["source"].startswith("training_log.csv:") for e in top["evidence"])
    rising = next(s for s in data["symptoms"] if s["id"] == "val_loss_rising")
    assert rising["step"] == 3 and rising["step_unit"] == "epoch"
    # the evidence points at the file line of epoch 3 (header is line 1)
    assert any(e["source"] == "training_log.csv:5" for e in rising["evidence"])
    assert data["run"]["sources"][0]["path"] == "training_log.csv"


def test_output_is_deterministic(overfit_run: Path) -> None:
    a = runner.invoke(app, ["diagnose", str(overfit_run), "--format", "json", "-q"]).stdout
    b = runner.invoke(app, ["diagnose", str(overfit_run), "--format", "json", "-q"]).stdout
    assert a == b
    m1 = runner.invoke(app, ["diagnose", str(overfit_run), "--format", "md", "-q"]).stdout
    m2 = runner.invoke(app, ["diagnose", str(overfit_run), "--format", "md", "-q"]).stdout
    assert m1 == m2 and m1.startswith("# traindx diagnosis")


def test_healthy_run_is_healthy(healthy_run: Path) -> None:
    code, data, _ = _json([str(healthy_run)])
    assert code == 0 and data["status"] == "healthy"
    assert data["symptoms"] == [] and data["root_causes"] == []


def test_fail_on_sets_exit_code(overfit_run: Path, healthy_run: Path) -> None:
    assert runner.invoke(app, ["diagnose", str(overfit_run), "-q", "--fail-on", "high"]).exit_code == 1
    assert runner.invoke(app, ["diagnose", str(overfit_run), "-q", "--fail-on", "critical"]).exit_code == 0
    assert runner.invoke(app, ["diagnose", str(overfit_run), "-q"]).exit_code == 0
    assert runner.invoke(app, ["diagnose", str(healthy_run), "-q", "--fail-on", "low"]).exit_code == 0
    bad = runner.invoke(app, ["diagnose", str(healthy_run), "--fail-on", "severe"])
    assert bad.exit_code == 2


def test_out_writes_reports_and_never_into_the_run(overfit_run: Path, tmp_path: Path) -> None:
    before = tree_digest(overfit_run)
    out = tmp_path / "report"
    res = runner.invoke(app, ["diagnose", str(overfit_run), "--out", str(out), "-q", "--format", "json"])
    assert res.exit_code == 0
    written = json.loads((out / "diagnosis.json").read_text())
    jsonschema.validate(written, diagnosis_schema())
    arts = written["analysis_artifacts"]
    assert arts["diagnosis"] == "diagnosis.json" and arts["report_markdown"] == "report.md"
    assert all((out / name).is_file() for name in arts.values())
    assert (out / "report.md").read_text().startswith("# traindx diagnosis")
    assert tree_digest(overfit_run) == before
    inside = runner.invoke(app, ["diagnose", str(overfit_run), "--out", str(overfit_run / "diag")])
    assert inside.exit_code == 2 and "inside the run folder" in inside.stderr
    assert tree_digest(overfit_run) == before


def test_user_symptoms_are_checked(overfit_run: Path) -> None:
    _, data, _ = _json([str(overfit_run), "--symptom", "validation loss started rising at epoch 4", "--symptom", "Loss diverged at epoch 5", "--symptom", "the outputs are all the same token"])
    verdicts = {u["text"]: u for u in data["user_symptoms"]}
    v1 = verdicts["validation loss started rising at epoch 4"]
    assert v1["verdict"] == "confirmed" and v1["parsed"] == {"metric": "loss/val", "direction": "up", "position": 4, "unit": "epoch"}
    v2 = verdicts["Loss diverged at epoch 5"]
    assert v2["verdict"] == "refuted" and v2["evidence"]
    assert "-" in v2["explanation"]  # the training loss fell around epoch 5
    assert verdicts["the outputs are all the same token"]["verdict"] == "not checkable"


def test_context_package(overfit_run: Path, tmp_path: Path) -> None:
    ctx = {
        "task": "binary deepfake classifier",
        "artifacts": {
            "training_logs": ["run/training_log.csv"],
            "config": {"optimizer": {"name": "adam", "lr": 0.001}},
            "error_messages": ["UserWarning: something harmless"],
        },
        "symptoms": ["val loss goes up after epoch 3"],
        "constraints": {"max_analysis_time": 60},
    }
    p = tmp_path / "context.json"
    p.write_text(json.dumps(ctx))
    code, data, _ = _json(["--context", str(p)])
    assert data["task"] == "binary deepfake classifier"
    assert data["root_causes"][0]["id"] == "overfitting"
    assert data["user_symptoms"][0]["verdict"] == "confirmed"
    assert data["run"]["config_keys"] >= 2


def test_context_errors_are_one_line(tmp_path: Path) -> None:
    p = tmp_path / "context.json"
    p.write_text("{not json")
    res = runner.invoke(app, ["diagnose", "--context", str(p)])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "context.json" in res.stderr and "not valid JSON" in res.stderr


def test_explain_a_check_and_a_cause() -> None:
    res = runner.invoke(app, ["explain", "TDX101"])
    assert res.exit_code == 0 and "## Why it matters" in res.stdout and "min_rise" in res.stdout
    res = runner.invoke(app, ["explain", "val_loss_rising"])
    assert res.exit_code == 0 and "TDX401" in res.stdout
    res = runner.invoke(app, ["explain", "lr_too_high"])
    assert res.exit_code == 0 and "Learning rate too high" in res.stdout
    res = runner.invoke(app, ["explain", "nonsense"])
    assert res.exit_code == 2 and "unknown check or cause" in res.stderr


def test_module_entry_point_runs(overfit_run: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "traindx", "diagnose", str(overfit_run), "--format", "json", "-q"], capture_output=True, text=True)
    assert res.returncode == 0
    assert json.loads(res.stdout)["status"] == "diagnosis_complete"
