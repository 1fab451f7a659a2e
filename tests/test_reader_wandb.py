"""The W&B run-file reader: offline runs written by wandb itself (a finished one, a killed one), wandb's
own inspector as the oracle, the two corpus runs, and damaged or future files."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.ingest import wandb
from traindx.ingest.part import Part, ReadError, Source
from traindx.ingest.textio import read_head

DATA = Path(__file__).parent / "data" / "tracking"
(RUN,) = sorted((DATA / "wandb").glob("offline-run-*"))
(KILLED,) = sorted((DATA / "wandb_killed").glob("offline-run-*"))
CORPUS_RUNS = {
    "10-wandb-nanogpt-enwik-healthy": "run-20240215_012725-vgpqdf1r",
    "11-wandb-nanogpt-shakespeare-overfit": "run-20240214_195452-kt2awly2",
}
OFFLINE = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}


def run_file(folder: Path) -> Path:
    (path,) = folder.glob("run-*.wandb")
    return path


def read(path: Path) -> Part:
    return wandb.read(Source(path, path.name, path.stat().st_size))


def test_a_finished_offline_run() -> None:
    path = run_file(RUN)
    assert wandb.sniff(path, read_head(path)) == 1.0
    part = read(path)
    assert part.issues == [] and part.format == "W&B run file (wandb 0.31.0)"
    loss = part.series["train/loss"]
    # define_metric("*", step_metric="trainer/global_step"): the run's own step, not wandb's _step
    assert part.config["wandb.step_key"].value == "trainer/global_step"
    assert list(loss.steps) == [10.0 * i for i in range(300)]
    assert math.isnan(loss.values[150]) and np.isfinite(np.delete(np.asarray(loss.values), 150)).all()
    assert loss.values[0] == 2.0
    assert list(part.series["eval/loss"].steps) == [250.0 * i for i in range(12)]
    assert "trainer/global_step" not in part.series and "_step" not in part.series
    assert part.config["optimizer.name"].value == "adamw" and part.config["optimizer.betas"].value == [0.9, 0.95]
    assert part.config["batch_size"].value == 32 and part.config["wandb.project"].value == "traindx-fixture"
    assert part.summary["best_eval"].value == 0.5
    assert part.events == []  # exit code 0
    sys_series = [k for k in part.series if k.startswith("system/")]
    assert sys_series and all(part.step_sources[k] == "inferred" for k in sys_series)
    run = traindx.load_run(str(RUN))
    assert run.series["loss/train"].where(150) == f"{path.name}#step 1500"
    assert run.series["loss/val"].reader == "wandb"


def test_a_killed_run_has_a_killed_event() -> None:
    part = read(run_file(KILLED))
    loss = part.series["train/loss"]
    assert 100 < len(loss) < 300  # what wandb had written when the process was killed
    assert list(loss.steps) == [10.0 * i for i in range(len(loss))]
    (ev,) = part.events
    assert ev.kind == "killed" and ev.step == loss.steps[-1]
    assert "no exit record" in ev.text
    d = traindx.diagnose([KILLED])
    assert any(s.id == "run_crashed" and s.severity == "critical" for s in d.symptoms)


def test_console_lines_are_read_when_output_log_is_absent(tmp_path: Path) -> None:
    folder = tmp_path / RUN.name
    shutil.copytree(RUN, folder)
    with_log = read(run_file(folder))
    assert not any(k.endswith("(console)") for k in with_log.series)  # files/output.log holds them: read there
    (folder / "files" / "output.log").unlink()
    part = read(run_file(folder))
    console = {k: b for k, b in part.series.items() if k.endswith("(console)")}
    assert console and all(list(b.lines) == [0] * len(b) for b in console.values())
    (b,) = [b for k, b in console.items() if b.canonical == "loss/train"]
    assert list(b.steps) == [0, 500, 1000, 1500, 2000, 2500] and math.isnan(b.values[3])


def inspector(path: Path) -> list[dict]:
    """Records as wandb's own offline inspector prints them (``wandb leet inspect --json``)."""
    pytest.importorskip("wandb")
    exe = Path(sys.executable).with_name("wandb")
    if not exe.exists():
        pytest.skip("wandb CLI not found")
    got = subprocess.run([str(exe), "leet", "inspect", "--json", str(path)], check=False, capture_output=True, text=True, env=dict(os.environ, **OFFLINE), timeout=60)
    if got.returncode != 0:
        pytest.skip(f"wandb leet inspect failed: {got.stderr[:200]}")
    return [json.loads(line) for line in got.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("folder", [RUN, KILLED], ids=["finished", "killed"])
def test_every_history_value_matches_wandbs_inspector(folder: Path) -> None:
    records = inspector(run_file(folder))
    rows = [r["history"]["item"] for r in records if r.get("type") == "history"]
    part = read(run_file(folder))
    assert len(rows) == len(part.series["train/lr"])
    for key in ("train/loss", "train/lr", "eval/loss"):
        ref = [(float(r["trainer/global_step"]), float(r[key])) for r in rows if key in r]  # float("NaN") for the NaN
        b = part.series[key]
        assert list(b.steps) == [s for s, _ in ref]
        np.testing.assert_array_equal(np.asarray(b.values), [v for _, v in ref])
    exits = [r for r in records if r.get("type") == "exit"]
    assert bool(exits) == (not any(e.kind == "killed" for e in part.events))


def test_history_matches_wandbs_protobuf_module() -> None:
    pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")
    from traindx.ingest.wandb_records import iter_payloads

    part = Part(Source(run_file(RUN), "x"), "wandb")
    rows = []
    with open(run_file(RUN), "rb") as f:
        for payload in iter_payloads(f, part):
            rec = pb.Record()
            rec.ParseFromString(payload)
            if rec.WhichOneof("record_type") == "history":
                rows.append({".".join(i.nested_key) or i.key: i.value_json for i in rec.history.item})
    ref = [float(r["train/loss"]) for r in rows]
    np.testing.assert_array_equal(np.asarray(read(run_file(RUN)).series["train/loss"].values), ref)


@pytest.mark.parametrize("case", sorted(CORPUS_RUNS))
def test_corpus_runs_written_by_wandb_016(corpus: Path, case: str) -> None:
    folder = corpus / case / CORPUS_RUNS[case]
    part = read(run_file(folder))
    assert part.issues == [] and part.events == []  # both finished
    assert part.config["wandb.step_key"].value == "iter"  # nanoGPT logs iter with every row
    val = part.series["val/loss"]
    assert list(val.steps) == [250.0 * i for i in range(21)]
    # the eval lines nanoGPT printed to files/output.log round the same values to 4 decimals
    printed = [ln for ln in (folder / "files" / "output.log").read_text().splitlines() if ln.startswith("step ")]
    vals = [float(ln.split("val loss ")[1].split()[0].rstrip(",")) for ln in printed]
    np.testing.assert_allclose(np.asarray(val.values), vals, atol=6e-5)
    summary = json.loads((folder / "files" / "wandb-summary.json").read_text())
    assert part.summary["val/loss"].value == summary["val/loss"]


def test_a_future_format_version_is_refused_clearly(tmp_path: Path) -> None:
    data = bytearray(run_file(RUN).read_bytes())
    data[6] = 7
    path = tmp_path / "run-future.wandb"
    path.write_bytes(bytes(data))
    with pytest.raises(ReadError, match="format version 7 is newer than this traindx reads"):
        read(path)
    run = traindx.load_run(str(path))
    (skip,) = run.skipped
    assert skip.error and "version 7" in skip.reason


def test_a_corrupt_record_loses_only_the_rest_of_its_block(tmp_path: Path) -> None:
    data = bytearray(run_file(RUN).read_bytes())
    good = read(run_file(RUN))
    data[40000] ^= 0xFF  # inside the second 32 KiB block
    path = tmp_path / "run-x.wandb"
    path.write_bytes(bytes(data))
    part = read(path)
    n_good, n = len(good.series["train/loss"]), len(part.series["train/loss"])
    assert n_good - 120 < n < n_good  # about one block of history lost, the later blocks read
    assert any("rest of its block skipped" in i.message for i in part.issues)
    assert part.events == []  # the exit record, in the last block, is still there


def test_not_a_run_file(tmp_path: Path) -> None:
    path = tmp_path / "x.wandb"
    path.write_bytes(b"hello world, not a run")
    assert wandb.sniff(path, read_head(path)) == 0.6
    with pytest.raises(ReadError, match="no ':W&B' header"):
        read(path)


def test_a_live_offline_run_killed_halfway(tmp_path: Path) -> None:
    """wandb itself writes a run in a child process that is SIGKILLed half-way: the run has a killed event."""
    pytest.importorskip("wandb")
    from data.tracking.make_fixtures import (
        WANDB_RUN,  # the same training loop as the fixtures
    )

    env = dict(os.environ, **OFFLINE)
    proc = subprocess.Popen(
        [sys.executable, "-c", WANDB_RUN, "300", "120", str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if line.strip() == "READY" or time.monotonic() > deadline:
                break
        time.sleep(0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    run = traindx.load_run(str(folder))
    (ev,) = run.events_of("killed")
    loss = run.series["loss/train"]
    assert ev.step == loss.steps[-1] <= 1200 and len(loss) > 50
