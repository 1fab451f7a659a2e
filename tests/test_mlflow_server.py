"""Runs read from a real ``mlflow server`` over its REST API, the diagnosis logged back to it, and servers
that cannot be reached.

The server is started once per test session on 127.0.0.1 (its own process
group, ``/health`` polled, stopped with SIGTERM then SIGKILL) when mlflow is
installed; it takes about 8 s to come up, so the tests that use it are marked slow.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from traindx.cli.app import app
from traindx.ingest import mlflow_server
from traindx.ingest.mlflow_server import (
    Server,
    TrackingError,
    parse_uri,
    read_ref,
    split_paths,
)

runner = CliRunner()
HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not HAS_MLFLOW:
        pytest.skip("mlflow not installed")
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"mlflow server did not start: {(root / 'server.log').read_text()[-500:]}")
            time.sleep(0.2)
        yield base
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        log.close()


@pytest.fixture(scope="session")
def runs(server: str) -> dict[str, str]:
    """A FAILED run (NaN and inf, 120 points), and a later FINISHED one; name -> run id."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = MlflowClient(tracking_uri=server)
        exp = c.create_experiment("server-test")
        out = {}
        for name, status, n in (("diverged", "FAILED", 120), ("fine", "FINISHED", 30)):
            rid = c.create_run(exp, run_name=name).info.run_id
            ms = [Metric("loss", math.nan if s == 100 else (math.inf if s == 101 else 2.0 / (s + 1)), 1000 + s, s) for s in range(n)]
            ms += [Metric("eval_loss", 2.5 / (s + 1), 5000 + s, s * 10) for s in range(n // 10)]
            c.log_batch(rid, metrics=ms, params=[Param("learning_rate", "0.5")], tags=[RunTag("team", "x")])
            c.set_terminated(rid, status)
            out[name] = rid
            time.sleep(0.01)
    return out


def reference(server: str, run_id: str, key: str) -> list[tuple[float, float]]:
    from mlflow.tracking import MlflowClient

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hist = MlflowClient(tracking_uri=server).get_metric_history(run_id, key)
    return [(float(m.step), math.copysign(math.inf, m.value) if abs(m.value) == sys.float_info.max else m.value) for m in hist]


@pytest.mark.slow
def test_every_point_equals_mlflows_client(server: str, runs: dict[str, str]) -> None:
    rid = runs["diverged"]
    (part,) = read_ref(parse_uri(f"mlflow://{server[len('http://'):]}/{rid}"))
    assert part.display == f"mlflow://{server[len('http://'):]}/{rid}"
    for key in ("loss", "eval_loss"):
        want = reference(server, rid, key)
        b = part.series[key]
        assert list(b.steps) == [s for s, _ in want]
        np.testing.assert_array_equal(np.asarray(b.values), [v for _, v in want])  # NaN and inf included
    assert math.isnan(part.series["loss"].values[100]) and part.series["loss"].values[101] == math.inf
    assert part.config["learning_rate"].value == "0.5" and part.config["mlflow.tags.team"].value == "x"
    assert part.config["mlflow.experiment.name"].value == "server-test"
    (ev,) = part.events
    assert (ev.kind, ev.get("status"), ev.step) == ("run_status", "FAILED", 119)


@pytest.mark.slow
def test_paging_follows_next_page_token(server: str, runs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = Server.request

    def counting(self: Server, method: str, path: str, **kw):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(self, method, path, **kw)

    monkeypatch.setattr(mlflow_server, "PAGE", 25)
    monkeypatch.setattr(Server, "request", counting)
    (part,) = read_ref(mlflow_server.TrackingRef(server, runs["diverged"]))
    assert len(part.series["loss"]) == 120
    assert calls.count("/api/2.0/mlflow/metrics/get-history") == 5 + 1  # 120 loss points in pages of 25, 12 eval points


@pytest.mark.slow
def test_latest_run_and_unknown_run(server: str, runs: dict[str, str]) -> None:
    (part,) = read_ref(mlflow_server.TrackingRef(server))
    assert part.config["mlflow.run_id"].value == runs["fine"]
    with pytest.raises(TrackingError, match=r"mlflow://127\.0\.0\.1:\d+/0123abc: .*HTTP 404"):
        read_ref(mlflow_server.TrackingRef(server, "0123abc"))


@pytest.mark.slow
def test_cli_reads_the_server_and_logs_the_diagnosis_back(server: str, runs: dict[str, str]) -> None:
    rid = runs["diverged"]
    uri = f"mlflow://{server[len('http://'):]}/{rid}"
    res = runner.invoke(app, ["diagnose", uri, "--format", "json", "--log-to", "mlflow"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert any(s["id"] == "nan_inf" for s in d["symptoms"])
    assert d["run"]["sources"][0]["path"] == uri
    assert any(e["source"].startswith(uri + "#step") for s in d["symptoms"] for e in s["evidence"])
    assert "logged the diagnosis to MLflow run" in res.stderr
    with urllib.request.urlopen(f"{server}/api/2.0/mlflow/runs/get?run_id={rid}") as r:
        run = json.load(r)["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["traindx.status"] == d["status"]
    assert tags["traindx.top_cause"] == (d["root_causes"][0]["id"] if d["root_causes"] else "none")
    base = run["info"]["artifact_uri"].split("mlflow-artifacts:", 1)[1].strip("/")
    with urllib.request.urlopen(f"{server}/api/2.0/mlflow-artifacts/artifacts?path={base}/traindx") as r:
        listed = sorted(f["path"] for f in json.load(r)["files"])
    assert listed == ["diagnosis.json", "report.html", "report.md"]
    with urllib.request.urlopen(f"{server}/api/2.0/mlflow-artifacts/artifacts/{base}/traindx/diagnosis.json") as r:
        assert json.load(r)["status"] == d["status"]
    # the same run through --mlflow-uri and --run-id
    res2 = runner.invoke(app, ["diagnose", "--mlflow-uri", server, "--run-id", rid, "--format", "json"])
    assert res2.exit_code == 0 and json.loads(res2.stdout)["status"] == d["status"]


@pytest.mark.parametrize("how", ["refused", "silent"])
def test_an_unreachable_server_is_one_clear_line_within_10_s(how: str) -> None:
    sock = None
    if how == "silent":  # accepts the connection, never answers
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
    else:
        port = free_port()
    uri = f"mlflow://127.0.0.1:{port}/abc123"
    try:
        start = time.monotonic()
        res = runner.invoke(app, ["diagnose", uri])
        took = time.monotonic() - start
    finally:
        if sock is not None:
            sock.close()
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"traindx: error: {uri}: cannot reach the MLflow server")
    assert took < 10


def test_uri_forms() -> None:
    assert parse_uri("mlflow://h:5000/abc") == mlflow_server.TrackingRef("http://h:5000", "abc")
    assert parse_uri("mlflow:/h:5000/abc") == mlflow_server.TrackingRef("http://h:5000", "abc")  # as a Path prints it
    assert parse_uri("mlflow://h:5000") == mlflow_server.TrackingRef("http://h:5000", None)
    with pytest.raises(TrackingError, match="expected mlflow://HOST:PORT/RUN_ID"):
        parse_uri("mlflow://h:5000/a/b")
    files, refs = split_paths([Path("logs"), Path("mlflow://h:1/r")])
    assert files == [Path("logs")] and refs == [mlflow_server.TrackingRef("http://h:1", "r")]
    files, refs = split_paths([Path("mlflow.db")], None, "r2")
    assert files == [] and refs == [mlflow_server.TrackingRef("mlflow.db", "r2")]


def test_run_id_chooses_a_run_of_a_local_store(tmp_path: Path) -> None:
    store = Path(__file__).parent / "data" / "tracking" / "mlruns"
    (live,) = [p.parent for p in store.glob("*/*/meta.yaml") if "lifecycle_stage: active" in p.read_text()]
    res = runner.invoke(app, ["diagnose", "--mlflow-uri", store.as_uri(), "--run-id", live.name, "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert "loss/train" in d["run"]["series"]
    res = runner.invoke(app, ["diagnose", str(store), "--run-id", "nope"])
    assert res.exit_code == 2 and "no run nope in this MLflow file store" in res.stderr
