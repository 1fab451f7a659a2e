"""``--log-to mlflow``: the diagnosis as artifacts under ``traindx/`` and two tags of the MLflow run.

Three kinds of run:

- a **file-store** run folder (``mlruns/<exp>/<run>/``, not one marked
  deleted): the files are copied into the run's own ``artifacts/traindx/``
  and each tag is a file under ``tags/`` (the store's own layout: file name =
  key, content = value). The run's ``artifact_uri`` points there unless the
  store was moved or made with another artifact root; traindx never follows
  it elsewhere;
- a run of a **tracking server** (``mlflow://HOST:PORT/RUN_ID``): tags through
  ``POST /api/2.0/mlflow/runs/set-tag``; artifacts through the server's
  artifact proxy (``PUT /api/2.0/mlflow-artifacts/artifacts/<path>``) when the
  run's ``artifact_uri`` is ``mlflow-artifacts:``, else through MLflow's
  client when it is installed;
- a run of a **SQLite store** (``mlflow.db``, the run traindx read: the one
  given with ``--run-id``, else the latest started): through MLflow's client,
  which must be installed (traindx reads the store read-only and never writes
  its tables itself).
"""

from __future__ import annotations

import os
import urllib.parse
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import FOLDER, LogBackError, copy_files, one, tags

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis
    from ..ingest.mlflow_server import TrackingRef


def log(diagnosis: Diagnosis, files: Sequence[Path], paths: Sequence[Path], tracking: TrackingRef | None) -> str:
    t = tags(diagnosis)
    if tracking is not None and tracking.is_server:
        return _server(tracking, files, t, diagnosis)
    if tracking is not None:
        from ..ingest.mlflow_server import local_path

        local = local_path(tracking.uri)
        paths = [local] if local is not None else []
    target = one("mlflow", _runs(paths), "MLflow run (a file-store run folder or an mlflow.db)")
    if target.is_file():
        run_id = tracking.run_id if tracking is not None and tracking.run_id else _run_in_db(diagnosis, target)
        return _sqlite(target, run_id, files, t)
    return _file_store(target, files, t)


def _runs(paths: Sequence[Path]) -> list[Path]:
    """File-store run folders and SQLite stores under ``paths`` (``.trash`` and hidden folders left out)."""
    from ..ingest import mlflow as fs
    from ..ingest import mlflow_sqlite

    found: list[Path] = []

    def run_dir(d: Path) -> None:
        if not fs.is_deleted(d):
            found.append(d.resolve())

    def consider_file(p: Path) -> None:
        if p.name == "meta.yaml" and fs.sniff_dir(p.parent):
            run_dir(p.parent)
        elif p.suffix.lower() in (".db", ".sqlite", ".sqlite3"):
            try:
                with open(p, "rb") as f:
                    head = f.read(100)
            except OSError:
                return
            if mlflow_sqlite.sniff(p, head) >= 0.5:
                found.append(p.resolve())

    for root in paths:
        root = Path(root)
        if root.is_file():
            consider_file(root)
            continue
        if fs.sniff_dir(root):
            run_dir(root)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            d = Path(dirpath)
            if fs.sniff_dir(d):
                run_dir(d)
                dirnames[:] = []
                continue
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            for fn in filenames:
                consider_file(d / fn)
    return found


def _run_in_db(diagnosis: Diagnosis, db: Path) -> str:
    """The run of the store that was diagnosed (its ``mlflow.run_id``), else the store's latest started."""
    from ..ingest import mlflow_sqlite

    runs = mlflow_sqlite.list_runs(db)
    if not runs:
        raise LogBackError(f"--log-to mlflow: {db} holds no MLflow run")
    ids = {r[0] for r in runs}
    cv = diagnosis.run.config.get("mlflow.run_id")
    if cv is not None and str(cv.value) in ids:
        return str(cv.value)
    return runs[0][0]


def _file_store(run_dir: Path, files: Sequence[Path], t: dict[str, str]) -> str:
    written = copy_files(files, run_dir / "artifacts" / FOLDER)
    try:
        (run_dir / "tags").mkdir(exist_ok=True)
        for k, v in t.items():
            (run_dir / "tags" / k).write_text(v, encoding="utf-8")
    except OSError as e:
        raise LogBackError(f"cannot write the tags of {run_dir}: {e.strerror or e}") from None
    return f"MLflow run {run_dir}: artifacts {FOLDER}/{{{', '.join(written)}}}; tags " + ", ".join(f"{k}={v}" for k, v in t.items())


def _client(tracking_uri: str, why: str):  # type: ignore[no-untyped-def]
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise LogBackError(f"--log-to mlflow: {why} needs the mlflow package (pip install mlflow)") from None
    return MlflowClient(tracking_uri=tracking_uri)


def _sqlite(db: Path, run_id: str, files: Sequence[Path], t: dict[str, str]) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mlflow's and sqlalchemy's deprecation notices are not the user's business
            client = _client(f"sqlite:///{db.resolve()}", "writing to a SQLite store")
            for k, v in t.items():
                client.set_tag(run_id, k, v)
            for f in files:
                client.log_artifact(run_id, str(f), artifact_path=FOLDER)
    except LogBackError:
        raise
    except Exception as e:  # noqa: BLE001 - the client raises many kinds; one line for the user
        raise LogBackError(f"--log-to mlflow: {db} run {run_id}: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None
    return f"MLflow run {run_id} in {db}: artifacts {FOLDER}/{{{', '.join(f.name for f in files)}}}; tags " + ", ".join(f"{k}={v}" for k, v in t.items())


def _server(ref: TrackingRef, files: Sequence[Path], t: dict[str, str], diagnosis: Diagnosis) -> str:
    from ..ingest.mlflow_server import API, Server, TrackingError

    server = Server(ref.uri)
    try:
        server.health()
        run_id = ref.run_id
        if not run_id:
            cv = diagnosis.run.config.get("mlflow.run_id")
            run_id = str(cv.value) if cv is not None else server.latest_run_id()
        info = server.get_run(run_id).get("info", {})
        for k, v in t.items():
            server.request("POST", f"{API}/runs/set-tag", body={"run_id": run_id, "key": k, "value": v})
        artifact_uri = str(info.get("artifact_uri", ""))
        if artifact_uri.startswith("mlflow-artifacts:"):
            base = _proxy_path(artifact_uri)
            for f in files:
                path = urllib.parse.quote(f"{base}/{FOLDER}/{f.name}".lstrip("/"))
                server.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{path}", data=f.read_bytes())
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                client = _client(ref.uri, f"a run whose artifacts live at {artifact_uri or 'an unknown place'}")
                for f in files:
                    client.log_artifact(run_id, str(f), artifact_path=FOLDER)
    except TrackingError as e:
        raise LogBackError(f"--log-to mlflow: {e}") from None
    except LogBackError:
        raise
    except Exception as e:  # noqa: BLE001 - mlflow's client raises many kinds; one line for the user
        raise LogBackError(f"--log-to mlflow: {ref.display}: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None
    return f"MLflow run {ref.display if ref.run_id else ref.display + '/' + run_id}: artifacts {FOLDER}/{{{', '.join(f.name for f in files)}}}; tags " + ", ".join(
        f"{k}={v}" for k, v in t.items()
    )


def _proxy_path(uri: str) -> str:
    """``mlflow-artifacts:/1/<run>/artifacts`` or ``mlflow-artifacts://host:port/1/...`` -> ``1/<run>/artifacts``."""
    rest = uri[len("mlflow-artifacts:") :]
    if rest.startswith("//"):
        rest = "/" + rest[2:].partition("/")[2]
    return rest.strip("/")
