"""The context-package protocol: the round trip of the original "Agent -> Skill Results" keys, and
constraints.max_analysis_time honoured (the analysis stops cleanly and says what it did not finish)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from traindx.checks.registry import all_checks
from traindx.cli.app import app
from traindx.context import ContextError, parse_context, parse_duration
from traindx.engine import Deadline, diagnose_paths, diagnose_run
from traindx.ingest.discover import discover
from traindx.schema import diagnosis_schema

runner = CliRunner()
ZOO = Path(__file__).resolve().parent / "zoo"
CASE = ZOO / "curriculum_divergence_epoch7" / "run"
SKILL_RESULT_KEYS = {"status", "root_causes", "quick_fixes", "analysis_artifacts"}
ROOT_CAUSE_KEYS = {"issue", "severity", "evidence", "fix", "confidence"}


def _context(tmp_path: Path, **constraints: object) -> Path:
    ctx = {
        "task": "Training failed at epoch 7; find out why",
        "artifacts": {
            "training_logs": [str(CASE / "train.log")],
            "loss_curves": [],
            "model_code": [],
            "error_messages": ["UserWarning: loss went up sharply after the curriculum switch"],
            "config": [str(CASE / "config.yaml"), {"note": "run on a laptop"}],
        },
        "symptoms": ["Loss diverged at epoch 7"],
        "constraints": dict(constraints),
    }
    p = tmp_path / "context.json"
    p.write_text(json.dumps(ctx))
    return p


def test_context_round_trip_has_the_skill_result_keys(tmp_path: Path) -> None:
    out = tmp_path / "report"
    r = runner.invoke(app, ["diagnose", "--context", str(_context(tmp_path, max_analysis_time=120)), "--format", "json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    jsonschema.validate(d, diagnosis_schema())
    assert SKILL_RESULT_KEYS <= set(d)
    assert d["status"] == "diagnosis_complete" and d["task"] == "Training failed at epoch 7; find out why"
    for c in d["root_causes"]:
        assert ROOT_CAUSE_KEYS <= set(c)
        assert 0 <= c["confidence"] <= 1 and c["evidence"] and all("source" in e for e in c["evidence"])
    assert d["root_causes"][0]["id"] == "exploding_gradients"
    assert d["quick_fixes"] and isinstance(d["quick_fixes"][0], str)
    assert (out / d["analysis_artifacts"]["loss_visualization"]).is_file()
    assert d["user_symptoms"][0] == {**d["user_symptoms"][0], "text": "Loss diverged at epoch 7", "verdict": "confirmed"}
    assert d["time_limit"] == {"max_analysis_time": 120, "reached": False, "stopped_during": None, "not_finished": []}
    assert {"path": "context:error_messages", "reader": "textlog", "format": "generic", "series": 0, "events": 1} in d["run"]["sources"]


def test_a_generous_limit_changes_nothing_but_the_time_limit_entry() -> None:
    free = diagnose_paths([CASE]).to_dict()
    limited = diagnose_paths([CASE], max_analysis_time=600).to_dict()
    assert limited.pop("time_limit")["reached"] is False
    assert limited == free


def _large_log(tmp_path: Path, lines: int = 200_000) -> Path:
    p = tmp_path / "big" / "train.log"
    p.parent.mkdir()
    with p.open("w") as f:
        for i in range(1, lines + 1):
            f.write(f"step={i} loss={2.0 / (1 + i / 1000):.5f} grad_norm={1.0 + (i % 7) / 10:.3f} lr=3.00e-04\n")
    return p.parent


def test_max_analysis_time_stops_cleanly_on_a_large_log(tmp_path: Path) -> None:
    run = _large_log(tmp_path)
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps({"artifacts": {"training_logs": [str(run)]}, "constraints": {"max_analysis_time": 0.001}}))
    r = runner.invoke(app, ["diagnose", "--context", str(ctx), "--format", "json", "-q"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    jsonschema.validate(d, diagnosis_schema())
    tl = d["time_limit"]
    assert tl["reached"] is True and tl["stopped_during"] == "reading" and tl["max_analysis_time"] == 0.001
    assert tl["not_finished"] == [f"check {s.code} {s.name}" for s in all_checks()] + ["root-cause reasoning"]
    assert d["checks_run"] == [] and d["symptoms"] == [] and d["root_causes"] == []
    assert d["status"] == "needs_more_data"  # never "healthy" when the checks did not run
    assert d["requests"][0]["need"] == "more analysis time"
    assert d["run"]["series_used"][0]["points"] == 200_000  # what was read is reported


def test_the_limit_stops_reading_between_files(tmp_path: Path) -> None:
    """Several logs and a limit that passes while the first is read: the others are listed, not read."""
    run = _large_log(tmp_path, lines=100_000)
    for i in range(3):
        (run / f"extra{i}.log").write_text("".join(f"step={s} other{i}={s / 10:.2f}\n" for s in range(1, 50)))
    d = diagnose_paths([run], max_analysis_time=0).to_dict()  # expired from the start: no dependence on speed
    tl = d["time_limit"]
    assert tl["stopped_during"] == "reading"
    assert tl["not_finished"][0] == "read extra1.log (and the files after it)"  # files are read in name order
    assert {s["path"] for s in d["run"]["skipped"]} == {"extra1.log", "extra2.log", "train.log"}
    assert all(s["reason"] == "not read: the analysis time limit was reached" for s in d["run"]["skipped"])
    assert [s["path"] for s in d["run"]["sources"]] == ["extra0.log"]  # the first file is always read


class _StopsAfter(Deadline):
    """A deadline that passes after ``n`` questions: the stage it stops in does not depend on the machine's speed."""

    def __init__(self, n: int) -> None:
        super().__init__(limit_s=1.0)
        self.left = n

    def expired(self, stage: str) -> bool:
        self.left -= 1
        if self.left >= 0:
            return False
        if self.stopped_during is None:
            self.stopped_during = stage
        return True


def test_the_limit_can_fall_between_checks() -> None:
    run = discover([CASE])
    n_checks = len(all_checks())
    dl = _StopsAfter(3)
    d = diagnose_run(run, deadline=dl).to_dict()
    assert d["time_limit"]["stopped_during"] == "checks"
    assert len(d["time_limit"]["not_finished"]) == n_checks - 3 + 1
    assert d["time_limit"]["not_finished"][-1] == "root-cause reasoning"
    assert len(d["checks_run"]) <= 3 and d["status"] == "needs_more_data"
    dl = _StopsAfter(n_checks)  # every check ran; the reasoning did not
    d = diagnose_run(run, deadline=dl).to_dict()
    assert d["time_limit"]["not_finished"] == ["root-cause reasoning"] and d["root_causes"] == []
    assert any(s["id"] == "loss_divergence" for s in d["symptoms"]) and d["status"] == "needs_more_data"


@pytest.mark.parametrize(("value", "seconds"), [(5, 5.0), (0.5, 0.5), ("30s", 30.0), ("2 min", 120.0), ("1h", 3600.0), ("500ms", 0.5), ("1.5m", 90.0)])
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds
    assert parse_context({"constraints": {"max_analysis_time": value}}, base=Path(".")).max_analysis_time == seconds


@pytest.mark.parametrize("value", ["soon", -1, 0, True, [5]])
def test_a_bad_max_analysis_time_is_a_context_error(value: object, tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="max_analysis_time must be"):
        parse_context({"constraints": {"max_analysis_time": value}}, base=Path("."))
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps({"artifacts": {"training_logs": [str(CASE)]}, "constraints": {"max_analysis_time": value}}))
    r = runner.invoke(app, ["diagnose", "--context", str(ctx)])
    assert r.exit_code == 2 and "max_analysis_time must be" in r.output


def test_the_python_api_takes_the_context_as_a_dict() -> None:
    import traindx

    d = traindx.diagnose([CASE], context={"symptoms": ["Loss diverged at epoch 7"], "constraints": {"max_analysis_time": 300}}).to_dict()
    assert d["user_symptoms"][0]["verdict"] == "confirmed" and d["time_limit"]["reached"] is False
