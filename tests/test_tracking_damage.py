"""Damaged tracking-system files: each bad value becomes a skipped record or an issue, never an exception
that loses the rest of the run (numbers too large for a float, text where SQLite should hold numbers,
JSON nested deeper than Python's stack, an MLflow server answer of the wrong shape)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

import traindx
from traindx.ingest import mlflow_server, tensorboard_text, wandb_decode

DATA = Path(__file__).parent / "data" / "structured"
DEEP = "[" * 100_000 + "]" * 100_000


def test_mlflow_file_store_metric_line_with_a_huge_step(tmp_path: Path) -> None:
    (run_dir,) = [p.parent for p in (DATA / "mlruns").glob("*/*/meta.yaml")]
    store = tmp_path / "mlruns"
    shutil.copytree(run_dir.parent.parent, store)
    (metric,) = [p for p in (store / run_dir.parent.name / run_dir.name / "metrics").rglob("*") if p.is_file()][:1]
    with metric.open("a") as f:
        f.write(f"1700000000000 1.5 {'9' * 400}\n")
    run = traindx.load_run(store)
    assert run.series, "the run is still read"
    assert any("skipped" in i.message for i in run.issues)


def test_mlflow_sqlite_rows_that_are_not_numbers(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    shutil.copy(DATA / "sqlite" / "mlflow.db", db)
    con = sqlite3.connect(db)
    (run_uuid,) = con.execute("SELECT run_uuid FROM runs ORDER BY start_time DESC LIMIT 1").fetchone()  # the run read by default
    (key,) = con.execute("SELECT key FROM metrics WHERE run_uuid = ? LIMIT 1", (run_uuid,)).fetchone()
    cols = [r[1] for r in con.execute("PRAGMA table_info(metrics)")]
    row = {"key": key, "value": "not a number", "timestamp": 0, "step": 10_000, "run_uuid": run_uuid, "is_nan": 0}
    con.execute(f"INSERT INTO metrics ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})", [row.get(c, 0) for c in cols])
    con.commit()
    con.close()
    run = traindx.load_run(tmp_path)
    assert run.series
    assert any("not a number were skipped" in i.message for i in run.issues)


def test_json_nested_deeper_than_the_stack() -> None:
    assert wandb_decode._json(DEEP) == DEEP  # kept as text
    assert tensorboard_text.text_config("args", "{" + '"a":' * 50_000 + "1" + "}" * 50_000) is None


def test_mlflow_server_answer_of_the_wrong_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong(self: object, ref: object) -> object:
        return "<html>a proxy page</html>".get("run")  # type: ignore[attr-defined]

    monkeypatch.setattr(mlflow_server.Server, "read_run", wrong)
    ref = mlflow_server.ref_from_options("http://127.0.0.1:5999", "abc123")
    with pytest.raises(mlflow_server.TrackingError, match="unexpected answer from the server"):
        mlflow_server.read_ref(ref)
