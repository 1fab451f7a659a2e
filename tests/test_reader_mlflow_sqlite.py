"""The MLflow SQLite store reader, on a store MLflow wrote (tests/data/structured/make_fixtures.py)."""

from __future__ import annotations

import hashlib
import math
import shutil
import sqlite3
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.ingest import mlflow_sqlite, registry
from traindx.ingest.part import ReadError, Source

DB = Path(__file__).parent / "data" / "structured" / "sqlite" / "mlflow.db"


def read(path: Path) -> mlflow_sqlite.Part:
    return mlflow_sqlite.read(Source(path, path.name, path.stat().st_size))


def test_latest_run_of_a_store_written_by_mlflow() -> None:
    before = hashlib.sha256(DB.read_bytes()).hexdigest()
    part = read(DB)
    assert hashlib.sha256(DB.read_bytes()).hexdigest() == before  # opened read-only
    assert part.config["mlflow.run_name"].value == "failing-run"
    assert part.config["mlflow.experiment.name"].value == "sqlite-fixture"
    assert "2 runs" in part.issues[0].message
    loss = part.series["loss"]
    assert list(loss.steps) == [0, 100, 200, 300]
    assert loss.values[:3].tolist() == [2.0, 1.5, math.inf] and math.isnan(loss.values[3])
    assert part.series["eval_loss"].values[0] == -math.inf
    assert list(loss.lines) == [0, 0, 0, 0]
    assert part.config["learning_rate"].value == "0.5"
    assert part.config["mlflow.tags.purpose"].value == "traindx reader test"
    (event,) = part.events
    assert (event.kind, event.get("status"), event.step) == ("run_status", "FAILED", 300)


def test_store_through_discover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(DB, tmp_path / "mlflow.db")
    monkeypatch.setattr(registry, "READER_MODULES", registry.READER_MODULES + ("mlflow_sqlite",))
    registry.readers.cache_clear()
    try:
        run = traindx.load_run(str(tmp_path))
    finally:
        monkeypatch.undo()
        registry.readers.cache_clear()
    assert run.series["loss/train"].where(0) == "mlflow.db#step 0"
    assert run.series["loss/val"].values[0] == -math.inf
    assert [e.get("status") for e in run.events_of("run_status")] == ["FAILED"]


def test_other_databases_and_damage(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    con.commit()
    con.close()
    part = read(other)
    assert part.is_empty and "without MLflow" in part.issues[0].message
    cut = tmp_path / "mlflow.db"
    cut.write_bytes(DB.read_bytes()[:3000])
    with pytest.raises(ReadError):
        read(cut)
    cut.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(ReadError, match="SQLite"):
        read(cut)


def test_old_schema_without_is_nan(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE runs (run_uuid TEXT, name TEXT, status TEXT, start_time INTEGER, experiment_id TEXT)")
    con.execute("CREATE TABLE metrics (key TEXT, value FLOAT, timestamp INTEGER, run_uuid TEXT, step INTEGER)")
    con.execute("INSERT INTO runs VALUES ('a', 'r', 'KILLED', 1, '0')")
    con.executemany("INSERT INTO metrics VALUES ('loss', ?, 1, 'a', ?)", [(1.0, 0), (None, 1), (0.5, 2)])
    con.commit()
    con.close()
    part = read(db)
    assert list(part.series["loss"].steps) == [0, 2]
    assert part.events[0].get("status") == "KILLED"


def test_sniff() -> None:
    head = DB.read_bytes()[:100]
    assert mlflow_sqlite.sniff(Path("mlflow.db"), head) == 0.95
    assert mlflow_sqlite.sniff(Path("x.sqlite"), head) == 0.5
    assert mlflow_sqlite.sniff(Path("mlflow.db"), b"not sqlite") == 0.0


def test_a_store_written_now_matches_mlflows_client_and_runs_are_chosen_by_id(tmp_path: Path) -> None:
    client_mod = pytest.importorskip("mlflow.tracking")
    entities = pytest.importorskip("mlflow.entities")
    db = tmp_path / "mlflow.db"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mlflow and sqlalchemy deprecation warnings
        c = client_mod.MlflowClient(tracking_uri=f"sqlite:///{db}")
        exp = c.create_experiment("live")
        ids = []
        for n, status in ((30, "FINISHED"), (20, "FAILED")):
            rid = c.create_run(exp).info.run_id
            ms = [entities.Metric("loss", [math.nan, math.inf, -math.inf][s % 3] if s % 7 == 6 else 1.0 / (s + 1), 1000 + s, s) for s in range(n)]
            c.log_batch(rid, metrics=ms, params=[entities.Param("lr", str(n))])
            c.set_terminated(rid, status)
            ids.append(rid)
        ref = {rid: [(m.step, m.value) for m in c.get_metric_history(rid, "loss")] for rid in ids}
    assert len(mlflow_sqlite.list_runs(db)) == 2
    for rid in ids:
        part = mlflow_sqlite.read_run(Source(db, db.name), rid)
        assert part.config["mlflow.run_id"].value == rid
        b = part.series["loss"]
        assert list(b.steps) == [float(s) for s, _ in ref[rid]]
        # the store keeps +-inf as +-max float and mlflow's client hands that back; the reader restores inf
        want = [math.copysign(math.inf, v) if abs(v) == sys.float_info.max else v for _, v in ref[rid]]
        np.testing.assert_array_equal(np.asarray(b.values), want)  # NaN included
    assert read(db).config["mlflow.run_id"].value == ids[1]  # the latest started, by default
    with pytest.raises(ReadError, match="no live run nope"):
        mlflow_sqlite.read_run(Source(db, db.name), "nope")


def test_a_store_in_wal_mode_is_read_without_writing_beside_it(tmp_path: Path) -> None:
    """SQLite opened read-only still creates -shm/-wal files for a WAL-mode database: nothing may appear."""
    db = tmp_path / "mlflow.db"
    shutil.copy(DB, db)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    con.close()  # the last connection checkpoints and removes the -wal file; the header keeps WAL mode
    assert db.read_bytes()[18] == 2
    before = sorted(p.name for p in tmp_path.iterdir())
    run = traindx.load_run(tmp_path)
    assert "loss/train" in run.series
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["mlflow.db"]
