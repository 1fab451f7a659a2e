"""``--log-to``: the diagnosis written back next to the run, only when asked, and read back by the systems' own tools."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
from conftest import tree_digest
from typer.testing import CliRunner

import traindx
from traindx.cli.app import app
from traindx.logback import LogBackError, log_back

runner = CliRunner()
DATA = Path(__file__).parent / "data" / "tracking"


def diagnose(*args: str) -> tuple[int, dict, str]:
    res = runner.invoke(app, ["diagnose", *args, "--format", "json"])
    return res.exit_code, (json.loads(res.stdout) if res.stdout.strip().startswith("{") else {}), res.stderr


def test_mlflow_file_store_run_gets_artifacts_and_tags(tmp_path: Path) -> None:
    store = tmp_path / "mlruns"
    shutil.copytree(DATA / "mlruns", store)
    before = tree_digest(store)
    code, d, _ = diagnose(str(store))
    assert code == 0 and tree_digest(store) == before  # nothing written unless asked
    code, d, err = diagnose(str(store), "--log-to", "mlflow")
    assert code == 0, err
    (run_dir,) = [p.parent for p in store.glob("*/*/meta.yaml") if "lifecycle_stage: active" in p.read_text() and ".trash" not in p.parts]
    assert sorted(p.name for p in (run_dir / "artifacts" / "traindx").iterdir()) == ["diagnosis.json", "report.html", "report.md"]
    assert json.loads((run_dir / "artifacts" / "traindx" / "diagnosis.json").read_text())["status"] == d["status"]
    assert (run_dir / "tags" / "traindx.status").read_text() == d["status"]
    assert (run_dir / "tags" / "traindx.top_cause").read_text() == d["root_causes"][0]["id"]
    assert f"MLflow run {run_dir}" in err
    # a second diagnosis reads the run as before: the logged files are not run data
    _, again, _ = diagnose(str(store))
    assert again["symptoms"] == d["symptoms"] and again["run"]["series"] == d["run"]["series"]


def test_mlflow_reads_what_was_logged_to_its_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client_mod = pytest.importorskip("mlflow.tracking")
    entities = pytest.importorskip("mlflow.entities")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = client_mod.MlflowClient(tracking_uri=store.as_uri())
        rid = c.create_run(c.create_experiment("lb")).info.run_id
        c.log_batch(rid, metrics=[entities.Metric("loss", 3.0 - s / 100, 1000 + s, s) for s in range(30)])
        c.set_terminated(rid, "FINISHED")
    code, d, err = diagnose(str(store), "--log-to", "mlflow")
    assert code == 0, err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = c.get_run(rid)
        listed = sorted(a.path for a in c.list_artifacts(rid, "traindx"))
    assert run.data.tags["traindx.status"] == d["status"]
    assert listed == ["traindx/diagnosis.json", "traindx/report.html", "traindx/report.md"]


def test_mlflow_sqlite_store_through_mlflows_client(tmp_path: Path) -> None:
    client_mod = pytest.importorskip("mlflow.tracking")
    entities = pytest.importorskip("mlflow.entities")
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = client_mod.MlflowClient(tracking_uri=f"sqlite:///{db}")
        exp = c.create_experiment("lb", artifact_location=(tmp_path / "artifacts").as_uri())
        ids = []
        for n in (30, 40):
            rid = c.create_run(exp).info.run_id
            c.log_batch(rid, metrics=[entities.Metric("loss", 3.0 - s / 100, 1000 + s, s) for s in range(n)])
            c.set_terminated(rid, "FINISHED")
            ids.append(rid)
    code, d, err = diagnose(str(db.parent), "--log-to", "mlflow")
    assert code == 0, err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tags = [c.get_run(rid).data.tags for rid in ids]
        listed = sorted(a.path for a in c.list_artifacts(ids[1], "traindx"))
    assert "traindx.status" not in tags[0]  # the run traindx read, the latest started, gets them
    assert tags[1]["traindx.status"] == d["status"]
    assert listed == ["traindx/diagnosis.json", "traindx/report.html", "traindx/report.md"]


def test_wandb_run_gets_files(tmp_path: Path) -> None:
    (src,) = (DATA / "wandb").glob("offline-run-*")
    run_dir = tmp_path / "wandb" / src.name
    shutil.copytree(src, run_dir)
    code, d, err = diagnose(str(tmp_path / "wandb"), "--log-to", "wandb")
    assert code == 0, err
    got = run_dir / "files" / ".traindx"
    assert sorted(p.name for p in got.iterdir()) == ["diagnosis.json", "report.html", "report.md"]
    _, again, _ = diagnose(str(tmp_path / "wandb"))
    assert again["run"]["sources"] == d["run"]["sources"]  # the hidden folder is not read back


def test_tensorboard_text_summary_read_by_tensorboard(tmp_path: Path) -> None:
    run_dir = tmp_path / "tb"
    shutil.copytree(DATA / "tb" / "tbx", run_dir)
    code, d, err = diagnose(str(run_dir), "--log-to", "tensorboard")
    assert code == 0, err
    (own,) = run_dir.glob("*.traindx")
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    from tensorboard.util import tensor_util

    acc = ea.EventAccumulator(str(own), size_guidance={"tensors": 0})
    acc.Reload()
    assert sorted(acc.Tags()["tensors"]) == ["traindx/report", "traindx/summary"]
    assert acc.SummaryMetadata("traindx/report").plugin_data.plugin_name == "text"
    (ev,) = acc.Tensors("traindx/summary")
    assert ev.step == 14  # the run's last step
    assert f"traindx status: **{d['status']}**" in tensor_util.make_ndarray(ev.tensor_proto).item().decode()
    _, again, _ = diagnose(str(run_dir))
    assert again["symptoms"] == d["symptoms"] and again["run"]["series"] == d["run"]["series"]


def test_keras_split_folders_log_to_their_parent(corpus: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "c14"
    shutil.copytree(corpus / "14-tensorboard-keras-imdb-overfit", run_dir)
    code, _, err = diagnose(str(run_dir), "--log-to", "tensorboard")
    assert code == 0, err
    (own,) = run_dir.rglob("*.traindx")
    assert own.parent.name == "imdb-model-1690485351"  # beside train/ and validation/


def test_no_run_or_several_runs_write_nothing(tmp_path: Path) -> None:
    d = traindx.diagnose([DATA / "mlruns"])
    with pytest.raises(LogBackError, match="no W&B run folder"):
        log_back(d, "wandb", paths=[DATA / "mlruns"])
    two = tmp_path / "two"
    for i in (1, 2):
        shutil.copytree(DATA / "tb" / "tbx", two / f"run{i}")
    before = tree_digest(two)
    code, _, err = diagnose(str(two), "--log-to", "tensorboard")
    assert code == 2
    assert "--log-to tensorboard: the inputs hold 2 (" in err and "give the one folder with TensorBoard event files to log to" in err
    assert tree_digest(two) == before
