"""The MLflow file-store run reader on the three corpus runs and on a store MLflow itself wrote."""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.ingest import mlflow
from traindx.ingest.part import Part, Source

DATA = Path(__file__).parent / "data" / "structured"
EXP = "mlruns/411893921889545428"
RUN17 = "17-mlflow-hf-t5-healthy/mlruns/0/f36e1500e91a4ec0a7477f8bd0f85a35"
RUN18 = f"18-mlflow-skorch-resnet-healthy-lr-steps/{EXP}/75e82f1561db41bb8e25a72bc40ae111"
RUN19 = f"19-mlflow-skorch-selfatt-resnet-spike-collapse/{EXP}/0f305d5c07774dd9b1925ec7416fbc52"


def read_dir(path: Path, display: str = "run") -> list[Part]:
    return mlflow.read_dir(Source(path, display))


def by_display(parts: list[Part]) -> dict[str, Part]:
    return {p.display: p for p in parts}


def check_metric_file(path: Path, part: Part) -> None:
    """Every point equals the line it cites in the metric file."""
    (b,) = part.series.values()
    lines = path.read_text().splitlines()
    assert len(b) == sum(1 for ln in lines if ln.strip())
    for step, value, line in zip(b.steps, b.values, b.lines):
        _, v, s = lines[line - 1].split()
        assert float(s) == step
        assert float(v) == value or (math.isnan(value) and v == "nan")


def test_sniff_dir_tells_runs_from_experiments(corpus: Path) -> None:
    assert mlflow.sniff_dir(corpus / RUN19)
    assert not mlflow.sniff_dir(corpus / RUN19 / "..")  # the experiment folder
    assert not mlflow.sniff_dir(corpus / RUN19 / "metrics")
    assert not mlflow.sniff_dir(corpus / "does-not-exist")


def test_case19_failed_run(corpus: Path) -> None:
    parts = by_display(read_dir(corpus / RUN19))
    run = parts["run/meta.yaml"]
    (event,) = run.events
    assert event.kind == "run_status" and event.get("status") == "FAILED"
    assert event.line == 13 and event.source == "run/meta.yaml"
    assert event.step == 103  # the last epoch any metric reached
    assert run.config["mlflow.status"].value == "FAILED"
    assert run.config["mlflow.run_name"].value == "stylish-fox-497"
    lr = run.config["learning_rate"]
    assert lr.value == "0.001"  # params keep their raw text
    assert lr.where == "run/params/learning_rate:1"
    assert run.config["mlflow.tags.mlflow.runName"].value == "stylish-fox-497"
    loss = parts["run/metrics/train_loss"]
    check_metric_file(corpus / RUN19 / "metrics" / "train_loss", loss)
    b = loss.series["train_loss"]
    assert (b.steps[36], round(b.values[36], 2)) == (37, 1.90)
    assert (b.steps[65], round(b.values[65], 2)) == (66, 3.90)
    # the skorch history saved as an artifact is read by the file readers
    hist = parts["run/artifacts/history.json"]
    assert hist.reader == "jsonfile" and len(hist.series["batch train_loss"]) == 40345


@pytest.mark.parametrize("run_dir", [RUN17, RUN18])
def test_finished_runs_have_no_status_event(corpus: Path, run_dir: str) -> None:
    parts = read_dir(corpus / run_dir)
    assert parts[0].events == []
    assert parts[0].config["mlflow.status"].value == "FINISHED"
    for p in parts[1:]:
        assert p.issues == []
        key = p.display.split("/metrics/", 1)[1]
        check_metric_file(corpus / run_dir / "metrics" / key, p)


def test_case17_hf_run_through_discover(corpus: Path) -> None:
    run = traindx.load_run(str(corpus / "17-mlflow-hf-t5-healthy"))
    val = run.series["loss/val"]
    assert (val.steps[0], round(val.values[0], 3)) == (50, 7.104)
    assert (val.steps[-1], round(val.values[-1], 3)) == (1700, 1.290)
    assert val.source.endswith("/metrics/eval_loss") and val.where(0).endswith("/metrics/eval_loss:1")
    assert run.series["lr"].values[0] == pytest.approx(1e-4, rel=0.05)
    assert run.config["mlflow.experiment.name"].value == "Default"
    assert run.config["d_ff"].where.endswith("/params/d_ff:1")
    assert run.events == [] and run.skipped == []


def test_case19_through_discover(corpus: Path) -> None:
    run = traindx.load_run(str(corpus / "19-mlflow-skorch-selfatt-resnet-spike-collapse"))
    assert [e.get("status") for e in run.events_of("run_status")] == ["FAILED"]
    assert run.series["loss/train"].reader == "mlflow"  # same density as the history: the tracker wins
    assert len(run.series["loss/train/batch"]) == 40345
    assert run.config["mlflow.experiment.name"].value == "selfatt_original_resnet20"


def test_store_written_by_mlflow() -> None:
    """tests/data/structured/mlruns was written by mlflow-skinny 3.17.2 (make_fixtures.py)."""
    (run_dir,) = [p.parent for p in (DATA / "mlruns").glob("*/*/meta.yaml")]
    parts = by_display(read_dir(run_dir))
    run = parts["run/meta.yaml"]
    assert [(e.kind, e.get("status")) for e in run.events] == [("run_status", "KILLED")]
    assert run.config["mlflow.run_name"].value == "fixture-run"
    assert run.config["nested/param"].value == "x"
    assert run.config["optimizer"].value == "SGD"
    assert run.config["mlflow.tags.purpose"].value == "traindx reader test"
    loss = parts["run/metrics/loss"].series["loss"]
    assert list(loss.steps) == [0, 10, 20, 30, 40]
    assert math.isnan(loss.values[3]) and loss.lines[3] == 4
    val = parts["run/metrics/val/loss"].series["val/loss"]
    np.testing.assert_allclose(val.values, [3.0, 2.9, 2.8, 2.7, 2.6])
    assert not mlflow.sniff_dir(DATA / "mlruns" / "0")
    loaded = traindx.load_run(str(DATA / "mlruns"))
    assert "loss/val" in loaded.series and "loss/train" in loaded.series
    assert loaded.config["mlflow.experiment.name"].value in ("Default", "fixture-experiment")


def test_malformed_metric_lines_and_old_two_column_files(tmp_path: Path) -> None:
    run = tmp_path / "abc"
    (run / "metrics").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_id: abc\nrun_name: r\nstatus: 3\n")
    (run / "metrics" / "loss").write_text("1 2.0 0\nbroken line here now\n3 nan 2\n\n4 1.0 x\n")
    (run / "metrics" / "acc").write_text("1 0.5\n2 0.6\n")
    (run / "params").mkdir()
    (run / "params" / "lr").write_text("0.1")
    parts = by_display(read_dir(run))
    loss = parts["run/metrics/loss"]
    assert list(loss.series["loss"].steps) == [0, 2]
    assert [i.line for i in loss.issues] == [2, 5]
    acc = parts["run/metrics/acc"]
    assert acc.step_source == "inferred" and list(acc.series["acc"].steps) == [0, 1]
    assert parts["run/meta.yaml"].events == []
    assert parts["run/meta.yaml"].config["lr"].value == "0.1"


def test_killed_run_without_metrics(tmp_path: Path) -> None:
    run = tmp_path / "r"
    (run / "metrics").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_name: 'quoted name'\nstatus: 5\n")
    (parts0,) = read_dir(run)
    (event,) = parts0.events
    assert event.get("status") == "KILLED" and event.step is None and event.line == 2
    assert parts0.config["mlflow.run_name"].value == "quoted name"


TRACK = Path(__file__).parent / "data" / "tracking" / "mlruns"


def test_deleted_runs_and_trashed_experiments_are_not_read() -> None:
    """tests/data/tracking/mlruns was written by mlflow 3.17 (make_fixtures.py): a live FAILED run, a
    soft-deleted run beside it, and a deleted experiment moved to .trash with its run."""
    run = traindx.load_run(str(TRACK))
    assert sorted(run.series) == ["loss/train", "loss/val"]
    loss = run.series["loss/train"]
    assert len(loss) == 40 and math.isnan(loss.values[30])
    values = np.concatenate([s.values for s in run.series.values()])
    assert not np.isin(values, [99.0, 42.0]).any()  # the deleted run's and the trashed run's points
    assert not any(".trash" in s.path for s in run.sources + run.skipped)
    (issue,) = [i for i in run.issues if "deleted" in i.message]
    assert issue.line == 6 and issue.path.endswith("/meta.yaml")
    assert [e.get("status") for e in run.events_of("run_status")] == ["FAILED"]


def test_find_run_by_id() -> None:
    (live,) = [p.parent for p in TRACK.glob("*/*/meta.yaml") if "lifecycle_stage: active" in p.read_text() and ".trash" not in p.parts]
    assert mlflow.find_run(TRACK, live.name) == live
    (trashed,) = [p.parent.name for p in TRACK.glob(".trash/*/*/meta.yaml")]
    assert mlflow.find_run(TRACK, trashed) is None
    assert mlflow.find_run(TRACK, "no-such-run") is None


def test_own_artifacts_are_not_read_back(tmp_path: Path) -> None:
    run_dir = tmp_path / "0" / "abc"
    shutil.copytree(next(p.parent for p in (DATA / "mlruns").glob("*/*/meta.yaml")), run_dir)
    (run_dir / "artifacts" / "traindx").mkdir(parents=True)
    (run_dir / "artifacts" / "traindx" / "diagnosis.json").write_text('{"status": "healthy", "lr": 0.1}')
    (run_dir / "artifacts" / "history.log").write_text("epoch 1 loss 0.5\nepoch 2 loss 0.4\n")
    displays = [p.display for p in read_dir(run_dir)]
    assert "run/artifacts/history.log" in displays
    assert not any("traindx" in d for d in displays)


def test_a_file_store_written_now_matches_mlflows_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client_mod = pytest.importorskip("mlflow.tracking")
    entities = pytest.importorskip("mlflow.entities")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow's own deprecation warnings (file store, sqlalchemy)
        c = client_mod.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
        rid = c.create_run(c.create_experiment("live")).info.run_id
        ms = [entities.Metric("loss", [math.nan, math.inf, -math.inf][s % 3] if s % 10 == 9 else 1.0 / (s + 1), 1000 + s, s) for s in range(50)]
        ms += [entities.Metric("val/acc", s / 10, 2000 + s, s * 5) for s in range(10)]
        c.log_batch(rid, metrics=ms)
        c.set_terminated(rid, "KILLED")
        ref = {k: [(m.step, m.value) for m in c.get_metric_history(rid, k)] for k in ("loss", "val/acc")}
    run_dir = mlflow.find_run(tmp_path / "mlruns", rid)
    assert run_dir is not None
    parts = by_display(read_dir(run_dir))
    assert parts["run/meta.yaml"].events[0].get("status") == "KILLED"
    for key, want in ref.items():
        b = parts[f"run/metrics/{key}"].series[key]
        assert list(b.steps) == [float(s) for s, _ in want]
        np.testing.assert_array_equal(np.asarray(b.values), [v for _, v in want])  # NaN and +-inf included
