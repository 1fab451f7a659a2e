"""MLflow runs fetched from a tracking server over its REST API (stdlib ``urllib``), or picked from a store by id.

``traindx diagnose mlflow://HOST:PORT/RUN_ID`` (or ``--mlflow-uri
http://HOST:PORT --run-id RUN_ID``) reads one run of a live server. The
calls (MLflow REST API 2.0, FORMATS.md §5):

- ``GET /health`` first, with a short timeout, so that an unreachable server
  gives one clear line naming the URI within seconds;
- ``GET /api/2.0/mlflow/runs/get?run_id=`` for the run's info, params, tags
  and the names of its metrics; without a run id, the latest started run of
  any experiment (``POST experiments/search`` then ``runs/search``);
- ``GET /api/2.0/mlflow/metrics/get-history?run_id=&metric_key=&max_results=``
  for every metric, following ``next_page_token``. The server writes NaN as
  the JSON string ``"NaN"``; a SQL-backed server returns +-inf as +-max
  float (how the store keeps them), read back as +-inf.

The credentials MLflow's own client reads are honoured:
``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME`` and
``MLFLOW_TRACKING_PASSWORD`` (basic). Other URIs given with ``--mlflow-uri``
name a store on disk: ``sqlite:///path/mlflow.db`` (or a ``.db`` path) is
read with :mod:`.mlflow_sqlite`, a ``file:`` URI or a folder with
:mod:`.mlflow`, choosing the run by ``--run-id``.

What becomes what is as for the stores: metrics are series, params config
``<key>``, tags ``mlflow.tags.<key>``, a FAILED or KILLED run a
``run_status`` event. Evidence quotes ``mlflow://HOST:PORT/RUN_ID#step N``.
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .mlflow import FAILED_STATUS
from .part import Part, ReadError, Source

NAME = "mlflow_server"
RANK = 80

TIMEOUT_S = 3.0  # per request; the health probe decides reachability well inside 10 s
PAGE = 25000
MAX_PAGES = 10000
API = "/api/2.0/mlflow"
MAX_FLOAT = sys.float_info.max


class TrackingError(Exception):
    """A tracking URI that cannot be read: one line naming the URI and the problem."""


@dataclass(frozen=True)
class TrackingRef:
    """A run to read from a tracking system: where (``uri``) and which (``run_id``, None for the latest)."""

    uri: str
    run_id: str | None = None

    @property
    def is_server(self) -> bool:
        return self.uri.startswith(("http://", "https://"))

    @property
    def display(self) -> str:
        if self.is_server:
            netloc = urllib.parse.urlsplit(self.uri)
            base = f"mlflow://{netloc.netloc}{netloc.path.rstrip('/')}"
            return f"{base}/{self.run_id}" if self.run_id else base
        return self.uri


def is_tracking_uri(text: str) -> bool:
    """``mlflow://HOST:PORT/RUN_ID`` (as typed, or as a path-normalised ``mlflow:/HOST...``)."""
    return text.startswith("mlflow:/")


def parse_uri(text: str) -> TrackingRef:
    """``mlflow://HOST:PORT[/RUN_ID]`` -> the server's http URL and the run id."""
    rest = text[len("mlflow:") :].lstrip("/")
    host, _, run_id = rest.partition("/")
    run_id = run_id.strip("/")
    if not host or "/" in run_id:
        raise TrackingError(f"{text}: expected mlflow://HOST:PORT/RUN_ID")
    return TrackingRef(f"http://{host}", run_id or None)


def ref_from_options(uri: str | None, run_id: str | None) -> TrackingRef:
    """``--mlflow-uri`` (or ``MLFLOW_TRACKING_URI``) and ``--run-id`` as one reference."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri:
        raise TrackingError("--run-id needs --mlflow-uri (or MLFLOW_TRACKING_URI) to say where the run lives")
    if is_tracking_uri(uri):
        ref = parse_uri(uri)
        return TrackingRef(ref.uri, run_id or ref.run_id)
    return TrackingRef(uri.rstrip("/") if uri.startswith(("http://", "https://")) else uri, run_id or None)


def split_paths(paths: Sequence[Path], mlflow_uri: str | None = None, run_id: str | None = None) -> tuple[list[Path], list[TrackingRef]]:
    """The command line's paths without its tracking runs, and those runs.

    ``mlflow://`` arguments are runs; ``--mlflow-uri``/``--run-id`` add one.
    ``--run-id`` alone applies to an ``mlflow://HOST:PORT`` argument, else to
    ``MLFLOW_TRACKING_URI``, else to the one store given as a path
    (``mlflow.db`` or an ``mlruns`` folder).
    """
    files = [p for p in paths if not is_tracking_uri(str(p))]
    refs = [parse_uri(str(p)) for p in paths if is_tracking_uri(str(p))]
    if mlflow_uri:
        refs.append(ref_from_options(mlflow_uri, run_id))
    elif run_id:
        if len(refs) == 1 and refs[0].run_id is None:
            refs = [TrackingRef(refs[0].uri, run_id)]
        elif not refs and not os.environ.get("MLFLOW_TRACKING_URI") and len(files) == 1:
            refs, files = [TrackingRef(str(files[0]), run_id)], []
        else:
            refs.append(ref_from_options(None, run_id))
    return files, refs


def read_refs(refs: Sequence[TrackingRef]) -> list[Part]:
    return [part for ref in refs for part in read_ref(ref)]


def read_ref(ref: TrackingRef) -> list[Part]:
    """The parts of the run a reference names; TrackingError with a one-line reason when it cannot be read."""
    if ref.is_server:
        try:
            return [Server(ref.uri).read_run(ref)]
        except TrackingError as e:
            raise TrackingError(f"{ref.display}: {e}") from None
        except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as e:  # an answer not shaped as MLflow's REST API
            raise TrackingError(f"{ref.display}: unexpected answer from the server ({type(e).__name__}: {e})") from None
    path = local_path(ref.uri)
    if path is None or not path.exists():
        raise TrackingError(f"{ref.uri}: no such MLflow store (a http(s):// server, sqlite:///path/mlflow.db, or an mlruns folder)")
    try:
        if path.is_file():
            from . import mlflow_sqlite

            return [mlflow_sqlite.read_run(Source(path, path.name, path.stat().st_size), ref.run_id)]
        from . import mlflow

        run_dir = mlflow.find_run(path, ref.run_id) if ref.run_id else (path if mlflow.sniff_dir(path) else None)
        if run_dir is None:
            raise TrackingError(f"{ref.uri}: no run {ref.run_id or ''} in this MLflow file store".replace("  ", " "))
        return mlflow.read_dir(Source(run_dir, f"{path.name}/{run_dir.relative_to(path).as_posix()}" if run_dir != path else path.name))
    except ReadError as e:
        raise TrackingError(f"{ref.uri}: {e}") from None


def local_path(uri: str) -> Path | None:
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :])  # sqlite:////abs/path keeps its leading slash
    if uri.startswith("file:"):
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(uri).path))
    if "://" in uri:
        return None
    return Path(uri)


def _float(v: Any) -> float | None:
    """A metric value: a number, or the strings the server writes for NaN and the infinities."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        try:
            v = float(v)  # "NaN", "Infinity", "-Infinity"
        except ValueError:
            return None
    if not isinstance(v, (int, float)):
        return None
    v = float(v)
    if abs(v) == MAX_FLOAT:  # how SQL-backed servers keep +-inf
        return math.copysign(math.inf, v)
    return v


class Server:
    """A small REST client of one MLflow tracking server."""

    def __init__(self, base: str, timeout: float = TIMEOUT_S) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "User-Agent": "traindx"}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif user and password:
            self.headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    # ------------------------------------------------------------ transport

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None, data: bytes | None = None) -> Any:
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = dict(self.headers)
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif data is not None:
            headers["Content-Type"] = "application/octet-stream"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = ""
            try:
                detail = json.loads(e.read() or b"{}").get("message", "")
            except (ValueError, AttributeError):
                pass
            raise TrackingError(f"{self.base}: {method} {path} answered HTTP {e.code}{': ' + detail[:200] if detail else ''}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise TrackingError(f"cannot reach the MLflow server at {self.base} ({reason})") from None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", errors="replace")

    def health(self) -> None:
        self.request("GET", "/health")

    # ------------------------------------------------------------ reading a run

    def latest_run_id(self) -> str:
        exps: list[str] = []
        token = None
        for _ in range(MAX_PAGES):
            body: dict[str, Any] = {"max_results": 1000}
            if token:
                body["page_token"] = token
            got = self.request("POST", f"{API}/experiments/search", body=body)
            exps.extend(e["experiment_id"] for e in got.get("experiments", []))
            token = got.get("next_page_token")
            if not token:
                break
        if not exps:
            raise TrackingError(f"{self.base}: the server has no experiment")
        got = self.request("POST", f"{API}/runs/search", body={"experiment_ids": exps, "max_results": 1, "order_by": ["attributes.start_time DESC"]})
        runs = got.get("runs", [])
        if not runs:
            raise TrackingError(f"{self.base}: the server has no run")
        return str(runs[0]["info"]["run_id"])

    def get_run(self, run_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"{API}/runs/get", query={"run_id": run_id}).get("run", {}))

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token = None
        for _ in range(MAX_PAGES):
            query: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": PAGE}
            if token:
                query["page_token"] = token
            got = self.request("GET", f"{API}/metrics/get-history", query=query)
            out.extend(got.get("metrics", []))
            token = got.get("next_page_token")
            if not token:
                break
        return out

    def read_run(self, ref: TrackingRef) -> Part:
        self.health()
        run_id = ref.run_id or self.latest_run_id()
        shown = TrackingRef(ref.uri, run_id)
        run = self.get_run(run_id)
        info = run.get("info", {})
        data = run.get("data", {})
        part = Part(Source(Path(shown.display), shown.display), NAME, format="MLflow run (tracking server)")
        for key in ("run_id", "run_name", "experiment_id", "user_id", "start_time", "end_time", "status", "lifecycle_stage"):
            if info.get(key) not in (None, ""):
                part.set_config(f"mlflow.{key}", info[key])
        if info.get("experiment_id") is not None:
            try:
                exp = self.request("GET", f"{API}/experiments/get", query={"experiment_id": info["experiment_id"]})
                name = exp.get("experiment", {}).get("name")
                if name:
                    part.set_config("mlflow.experiment.name", name)
            except TrackingError:
                pass  # the run itself is what matters
        for p in sorted(data.get("params", []), key=lambda p: p.get("key", "")):
            part.set_config(p["key"], p.get("value"))
        for t in sorted(data.get("tags", []), key=lambda t: t.get("key", "")):
            part.set_config(f"mlflow.tags.{t['key']}", t.get("value"))
        keys = sorted({m["key"] for m in data.get("metrics", []) if "key" in m})
        for key in keys:
            points = self.history(run_id, key)
            points.sort(key=lambda m: (int(m.get("step", 0) or 0), int(m.get("timestamp", 0) or 0)))
            for m in points:
                v = _float(m.get("value"))
                if v is not None:
                    part.point(key, float(m.get("step", 0) or 0), v, 0)
        status = str(info.get("status", "")).upper()
        if status in FAILED_STATUS:
            last = max((float(max(b.steps)) for b in part.series.values() if len(b)), default=None)
            name = info.get("run_name") or ""
            part.event("run_status", f"MLflow run {name + ' ' if name else ''}ended with status {status}", None, last, status=status)
        if not keys:
            part.issue("the run has no metrics")
        return part
