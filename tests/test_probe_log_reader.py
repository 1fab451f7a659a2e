"""The probe log format and its reader: versions, canonical names, partial and damaged logs (written by the real writer)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import traindx
from traindx.ingest import probe_log
from traindx.ingest.part import ReadError, Source
from traindx.probe import logformat as fmt
from traindx.probe.config import ProbeConfig
from traindx.probe.figures import memory_figures, memory_lines
from traindx.probe.recorder import Recorder


def write_log(folder: Path, *, rank: int = 0, steps: int = 6, cuda: bool = False, close: bool = True) -> Path:
    """A log written by the probe's own recorder (no torch needed)."""
    rec = Recorder(folder, ProbeConfig(every=3), rank=rank, world_size=2 if rank else 1)
    rec.start(grad_norm="pre_clip", memory="cuda" if cuda else "process_rss", device="cuda:0" if cuda else "cpu", optimizer="AdamW", params={"count": 123})
    for s in range(steps):
        mem = {"allocated": 1000 + s, "reserved": 4000, "peak": 2000 + 10 * s} if cuda else {"rss": 10_000 + s, "rss_peak": 20_000}
        rec.step_ended(s, {"grad_norm": 1.0 + s, "lr": [1e-3, 5e-4], "step_time": 0.01, "data_wait": 0.002, "memory": mem, "loss_scale": 1024.0})
        rec.loss(2.0 - 0.1 * s)
        if s % 3 == 0:
            rec.layers(s, grad_norm={"fc.weight": 0.5, "fc.bias": 0.1}, update_ratio={"fc.weight": 1e-3}, weight_norm={"fc.weight": 3.0})
            rec.acts(s, dead_frac={"act": 0.25}, saturated_frac={"sig": 0.5}, act_mean={"fc": 0.1}, act_std={"fc": 1.0})
    rec.event("grad_not_cleared", 1, "gradients were not cleared between optimizer steps", param="fc.bias")
    if close:
        rec.close()
    else:
        rec.flush()
        rec.writer.close()
    return folder / fmt.log_name(rank)


def test_series_get_the_canonical_names(tmp_path: Path) -> None:
    write_log(tmp_path)
    run = traindx.load_run(tmp_path)
    expected = {
        "loss/train", "grad_norm/pre_clip", "lr", "lr/group_1", "step_time", "data_wait", "memory/rss", "memory/peak", "loss_scale",
        "grad_norm/fc.weight", "grad_norm/fc.bias", "update_ratio/fc.weight", "weight_norm/fc.weight",
        "dead_frac/act", "saturated_frac/sig", "act_mean/fc", "act_std/fc",
    }  # fmt: skip
    assert set(run.series) == expected
    loss = run.get("loss/train")
    assert list(loss.steps) == [0, 1, 2, 3, 4, 5] and loss.values[-1] == pytest.approx(1.5)
    assert loss.where(0).startswith("probe-rank0.jsonl:")
    assert run.get("lr/group_1").values[0] == 5e-4
    (e,) = run.events_of("grad_not_cleared")
    assert e.get("param") == "fc.bias" and e.get("rank") == 0 and e.step == 1
    assert run.config["probe.optimizer"].value == "AdamW"
    assert run.summary["probe.ended"].value is True
    assert run.sources[0].reader == "probe_log"


def test_cuda_memory_names_and_figures(tmp_path: Path) -> None:
    write_log(tmp_path, cuda=True)
    run = traindx.load_run(tmp_path)
    assert {"memory/allocated", "memory/reserved", "memory/peak"} <= set(run.series)
    figs = memory_figures(tmp_path)
    assert figs is not None and figs["kind"] == "cuda"
    assert figs["max"] == {"allocated": 1005, "peak": 2050, "reserved": 4000}
    assert figs["at_step"]["peak"] == 5
    assert "peak allocated" in memory_lines(figs)[0]


def test_memory_figures_on_cpu_and_without_logs(tmp_path: Path) -> None:
    assert memory_figures(tmp_path) is None
    write_log(tmp_path)
    figs = memory_figures(tmp_path)
    assert figs is not None and figs["kind"] == "process_rss" and figs["max"]["rss_peak"] == 20_000
    assert "peak resident" in memory_lines(figs)[0]


def test_unknown_future_version_is_refused_clearly(tmp_path: Path) -> None:
    p = tmp_path / "probe-rank0.jsonl"
    p.write_text(json.dumps({fmt.FORMAT_KEY: 99, "kind": "header"}) + "\n" + json.dumps({"kind": "step", "step": 0, "loss": 1.0}) + "\n")
    with pytest.raises(ReadError, match="version 99 is newer than this traindx reads"):
        probe_log.read(Source(p, p.name, p.stat().st_size))
    run = traindx.load_run(tmp_path)
    assert not run.series
    (sk,) = run.skipped
    assert sk.error and "upgrade traindx" in sk.reason
    with pytest.raises(fmt.UnsupportedVersion):
        fmt.iter_records(p)


def test_partial_last_line_is_not_an_issue_but_a_bad_middle_line_is(tmp_path: Path) -> None:
    p = write_log(tmp_path, close=False)
    lines = p.read_text().splitlines()
    lines.insert(3, "{not json")
    p.write_text("\n".join(lines) + '\n{"kind":"step","step":9,"lo')
    run = traindx.load_run(tmp_path)
    assert [(i.line, i.message) for i in run.issues] == [(4, "not a complete JSON record; line skipped")]
    assert run.summary["probe.ended"].value is False
    assert run.get("loss/train").steps[-1] == 5


def test_nonfinite_values_round_trip(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, ProbeConfig())
    rec.start()
    rec.step_ended(0, {"grad_norm": math.nan})
    rec.loss(math.inf)
    rec.close()
    run = traindx.load_run(tmp_path)
    assert math.isnan(run.get("grad_norm/pre_clip").values[0]) and math.isinf(run.get("loss/train").values[0])
    d = traindx.diagnose(tmp_path)
    assert "nan_inf" in {s.id for s in d.symptoms}


def test_loss_reported_before_or_after_the_step(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, ProbeConfig())
    rec.start()
    rec.step_ended(0, {})
    rec.loss(1.0)  # after the step
    rec.activity = True
    rec.loss(2.0)  # before the step it belongs to
    rec.step_ended(1, {})
    rec.step_ended(2, {})  # no loss at all
    rec.close()
    steps = [r for _, r in fmt.iter_records(tmp_path / "probe-rank0.jsonl")[1] if r["kind"] == "step"]
    assert [(r["step"], r.get("loss")) for r in steps] == [(0, 1.0), (1, 2.0), (2, None)]


def test_sniff_claims_probe_logs_and_batches_only(tmp_path: Path) -> None:
    log = write_log(tmp_path)
    plain = tmp_path / "metrics.jsonl"
    plain.write_text('{"step": 1, "loss": 2.0}\n')
    assert probe_log.sniff(log, log.read_bytes()[:4096]) == pytest.approx(0.99)
    assert probe_log.sniff(plain, plain.read_bytes()) == 0.0
    batch = tmp_path / "nan-batch-step7-rank1.pt"
    batch.write_bytes(b"PK\x03\x04 not really a zip")
    assert probe_log.sniff(batch, batch.read_bytes()) == pytest.approx(0.99)
    run = traindx.load_run(tmp_path)
    skipped = {s.path: s.reason for s in run.skipped}
    assert "step 7, rank 1" in skipped["nan-batch-step7-rank1.pt"] and "weights_only=True" in skipped["nan-batch-step7-rank1.pt"]
    assert run.get("loss/train").source == "probe-rank0.jsonl"


def test_ranks_other_than_zero_become_alternates(tmp_path: Path) -> None:
    write_log(tmp_path, rank=0)
    write_log(tmp_path, rank=1)
    run = traindx.load_run(tmp_path)
    assert run.get("loss/train").source == "probe-rank0.jsonl"
    assert [s.source for s in run.alternates["loss/train"]] == ["probe-rank1.jsonl"]
    assert sorted(e.get("rank") for e in run.events_of("grad_not_cleared")) == [0, 1]
    d = traindx.diagnose(tmp_path)
    s = next(s for s in d.symptoms if s.id == "grad_not_cleared")
    assert "on ranks 0, 1" in s.summary and len(s.evidence) == 2


def test_events_of_every_probe_kind_make_their_symptoms(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, ProbeConfig())
    rec.start()
    for s in range(4):
        rec.step_ended(s, {"grad_norm": 1.0})
        rec.loss(1.0)
    rec.event("frozen_params", 3, "frozen", checks=3, disconnected=["head.bias"], frozen_in_optimizer=[], frozen=["emb.weight"], counts={"disconnected": 1})
    rec.event("rank_drift", 2, "drift", params=["ln.weight"], count=1, max_rel_diff=0.02, worst="ln.weight", worst_rank=3, ranks=[3])
    rec.event("params_not_updated", 2, "stuck", params=["fc.weight"], count=1, reasons={"fc.weight": "not in the optimizer"})
    rec.event("eval_mode_in_training", 0, "eval", scope="model", modules=[])
    rec.close()
    d = traindx.diagnose(tmp_path)
    by = {s.id: s for s in d.symptoms}
    assert by["frozen_params"].data["disconnected"] == ["head.bias"]
    assert by["rank_drift"].data["worst_rank"] == 3 and by["rank_drift"].severity == "high"
    assert by["params_not_updated"].severity == "critical"
    assert by["eval_mode_in_training"].data["scope"] == "model"
    causes = {h.id: h for h in d.root_causes}
    assert causes["no_parameter_update"].confidence >= 0.9
    assert causes["eval_mode_bug"].confidence >= 0.9
    for s in d.symptoms:
        for ev in s.evidence:
            assert ev.source.startswith("probe-rank0.jsonl:")


def test_frozen_layers_by_design_are_not_a_symptom(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, ProbeConfig())
    rec.start()
    rec.step_ended(0, {"grad_norm": 1.0})
    rec.event("frozen_params", 0, "frozen", checks=3, disconnected=[], frozen_in_optimizer=[], frozen=["backbone.weight"], counts={"frozen": 1})
    rec.close()
    d = traindx.diagnose(tmp_path)
    assert "frozen_params" not in {s.id for s in d.symptoms}


def test_memory_command_shows_what_the_probe_measured(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from traindx.cli.app import app

    write_log(tmp_path, cuda=True)
    # no model in the folder: the measured figures alone, exit 0
    res = CliRunner().invoke(app, ["memory", str(tmp_path), "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["model"] is None and d["measured_by_probe"]["max"]["peak"] == 2050 and "no estimate" in d["note"]
    text = CliRunner().invoke(app, ["memory", str(tmp_path)]).output
    assert text.startswith("measured    peak allocated 0.00 GiB") and "probe-rank0.jsonl, 6 steps" in text
    # with a model config beside it: the estimate and the measurement side by side
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "vocab_size": 100, "n_embd": 32, "n_layer": 2, "n_head": 2, "n_positions": 64}))
    d = json.loads(CliRunner().invoke(app, ["memory", str(tmp_path), "--format", "json"]).output)
    assert d["parameters"] > 0 and d["estimate"]["peak_low"] > 0 and d["measured_by_probe"]["at_step"]["peak"] == 5
    text = CliRunner().invoke(app, ["memory", str(tmp_path)]).output
    assert "measured    peak allocated" in text and "activations" in text


def test_memory_command_without_model_or_probe_log_is_a_usage_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from traindx.cli.app import app

    (tmp_path / "notes.txt").write_text("nothing here\n")
    res = CliRunner().invoke(app, ["memory", str(tmp_path)])
    assert res.exit_code == 2
