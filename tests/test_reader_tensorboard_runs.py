"""The TensorBoard reader beyond scalars: histograms, text, hparams, restarts, runs in several files, damage.

Fixtures under tests/data/tracking/tb were written by torch's SummaryWriter and
tensorboardX (make_fixtures.py); tensorboard's own EventAccumulator and tbparse
are the oracles where installed.
"""

from __future__ import annotations

import math
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.ingest import tensorboard
from traindx.ingest import tensorboard_summaries as ts
from traindx.ingest import tensorboard_text as tt
from traindx.ingest.part import Part, Source
from traindx.ingest.tensorboard_records import crc32c_py, encode_record

TB = Path(__file__).parent / "data" / "tracking" / "tb"
TORCH = TB / "torch"
TBX = TB / "tbx"
RESTART = TB / "restart"


def read(path: Path) -> Part:
    return tensorboard.read(Source(path, path.name, path.stat().st_size))


def only_file(folder: Path) -> Path:
    (path,) = sorted(folder.glob("events.out.tfevents.*"))
    return path


def accumulator(path: Path):  # type: ignore[no-untyped-def]
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea.EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_gradient_histograms_give_layer_norms_zero_shares_and_a_global_norm() -> None:
    part = read(only_file(TORCH))
    g1, z1 = part.series["norm(grad/fc1.weight)"], part.series["zero_frac(grad/fc1.weight)"]
    assert (g1.canonical, z1.canonical) == ("grad_norm/fc1.weight", "grad_zero_frac/fc1.weight")
    assert list(g1.steps) == [0, 5, 10, 15]
    np.testing.assert_allclose(z1.values, [1 / 3] * 4)  # 100 of 300 values were written as exact zeros
    assert part.series["norm(fc1.weight)"].canonical == "weight_norm/fc1.weight"
    np.testing.assert_array_equal(part.series["zero_frac(fc1.weight)"].values, [0.0] * 4)
    # no scalar grad_norm in the file: derived from the layers at the steps all of them were logged
    total = part.series["norm(gradient histograms)"]
    assert total.canonical == "grad_norm"
    g2 = part.series["norm(grad/fc2.weight)"]
    np.testing.assert_allclose(total.values, np.sqrt(np.asarray(g1.values) ** 2 + np.asarray(g2.values) ** 2))
    acc = accumulator(only_file(TORCH))
    for tag in ("grad/fc1.weight", "grad/fc2.weight", "fc1.weight"):
        ref = [(e.step, math.sqrt(e.histogram_value.sum_squares)) for e in acc.Histograms(tag)]
        b = part.series[f"norm({tag})"]
        assert list(zip(b.steps, b.values)) == ref


def test_text_summaries_become_config_or_samples_and_hparams_config() -> None:
    run = traindx.load_run(str(TORCH))
    # HF-style args JSON: settings, unprefixed
    assert run.config["learning_rate"].value == 0.001
    assert run.config["lr_scheduler_type"].value == "cosine"
    assert run.config["learning_rate"].where == only_file(TORCH).name
    # add_hparams writes its own subfolder: the hparams plugin's session_start_info
    assert (run.config["lr"].value, run.config["batch_size"].value, run.config["optimizer"].value, run.config["amp"].value) == (0.001, 8, "adamw", True)
    # free text logged at several steps: generated samples
    assert [(s.step, s.text) for s in run.samples][:2] == [(0.0, "generated at step 0: the the the"), (5.0, "generated at step 5: the the the")]
    tbx = traindx.load_run(str(TBX))
    assert (tbx.config["lr"].value, tbx.config["batch_size"].value, tbx.config["optimizer"].value) == (0.01, 16, "sgd")


@pytest.mark.parametrize(
    ("tag", "body", "want"),
    [
        ("args", '{"lr": 0.1, "opt": {"name": "adam"}}', {"lr": 0.1, "opt.name": "adam"}),
        ("model_config", '{"vocab_size": 50257}', {"model_config.vocab_size": 50257}),
        ("args", "Namespace(lr=0.001, epochs=3, name='x', fn=print)", {"lr": 0.001, "epochs": 3, "name": "x", "fn": "print"}),
        ("hparams", "| key | value |\n|---|---|\n| lr | 3e-4 |\n| warmup | true |", {"lr": 3e-4, "warmup": True}),
        ("config", "lr = 0.5\n- seed: 7\n", {"lr": 0.5, "seed": 7}),
        ("note", "the loss looked odd today", None),
        ("args", "{not json", None),
    ],
)
def test_text_config_parsing(tag: str, body: str, want: dict | None) -> None:
    assert tt.text_config(tag, body) == want


@pytest.mark.parametrize(
    ("tag", "want"),
    [
        ("grad/fc1.weight", "grad_norm/fc1.weight"),
        ("fc1.weight.grad", "grad_norm/fc1.weight"),
        ("gradients/encoder/layer.0", "grad_norm/encoder/layer.0"),
        ("weights/fc1.weight", "weight_norm/fc1.weight"),
        ("dense/kernel_0/histogram", "weight_norm/dense/kernel_0"),
        ("activations/relu1", "act_norm/relu1"),
        ("predictions", "hist_norm/predictions"),
    ],
)
def test_histogram_names(tag: str, want: str) -> None:
    assert ts.histogram_names(tag)[0] == want


def test_zero_fraction_needs_buckets_that_resolve_zero() -> None:
    assert ts.zero_fraction([(0.5, 1.0, 10)], 10, 0.5, 1.0) == 0.0  # one sign: exact
    assert ts.zero_fraction([(0.0, 0.0, 4)], 4, 0.0, 0.0) == 1.0
    assert ts.zero_fraction([(-1.0, -1e-12, 3), (-1e-12, 0.0, 0), (0.0, 1e-12, 5), (1e-12, 2.0, 2)], 10, -1.0, 2.0) == 0.5
    assert ts.zero_fraction([(-1.0, 1.0, 10)], 10, -1.0, 1.0) is None  # a wide bucket holds zero and others


def test_restarts_purge_superseded_points_as_tensorboard_does() -> None:
    run = traindx.load_run(str(RESTART))
    loss = run.series["loss/train"]
    assert loss.source == "events.out.tfevents.*"  # one run written in three files
    assert list(loss.steps) == list(range(160))
    assert loss.values[49] == pytest.approx(3.0 - 49 / 100)  # first file, before the restart
    assert loss.values[50] == pytest.approx(2.0 - 50 / 200)  # second file took over at 50
    assert np.isfinite(loss.values).all()  # the NaN at 95 was in the superseded branch...
    start, resumed = run.events_of("restart")
    assert (start.step, start.get("superseded"), start.get("nonfinite")) == (50, 50, 1)  # ...and is reported
    assert "SessionLog START at step 50" in start.text and "1 of them NaN or inf" in start.text
    assert resumed.step == 150 and "resumed in a new event file" in resumed.text
    # the two later files point to the first; they are not read twice
    first = min(RESTART.glob("events.out.tfevents.*")).name
    assert sorted(s.reason.split(":")[1].strip() for s in run.skipped) == [f"read together with {first}"] * 2
    # tensorboard's own loader of the folder (orphaned data purged) sees the same points
    acc = accumulator(RESTART)
    ref = [(float(e.step), float(e.value)) for e in acc.Scalars("loss")]
    assert list(zip(loss.steps, loss.values)) == [(s, float(np.float32(v))) for s, v in ref]


def test_a_fresh_run_written_into_the_same_folder_supersedes_the_old_one(tmp_path: Path) -> None:
    sw = pytest.importorskip("torch.utils.tensorboard")
    for base in (5.0, 1.0):
        w = sw.SummaryWriter(str(tmp_path))
        for s in range(10):
            w.add_scalar("loss", base + s / 100, s)
        w.close()
        # the second writer's file must sort after the first: same second is possible, force the name
        files = sorted(tmp_path.glob("events.out.tfevents.*"))
        if len(files) == 2 and files[0].name.split(".")[3] == files[1].name.split(".")[3]:
            newer = max(files, key=lambda p: int(p.name.rsplit(".", 1)[1]))
            newer.rename(tmp_path / newer.name.replace(newer.name.split(".")[3], str(int(newer.name.split(".")[3]) + 1), 1))
    run = traindx.load_run(str(tmp_path))
    assert run.series["loss/train"].values[0] == 1.0
    (ev,) = run.events_of("restart")
    assert ev.step == 0 and ev.get("superseded") == 10


def test_steps_going_back_inside_one_file(tmp_path: Path) -> None:
    sw = pytest.importorskip("torch.utils.tensorboard")
    w = sw.SummaryWriter(str(tmp_path))
    for epoch in range(3):
        for i in range(5):  # a within-epoch index used as the step
            w.add_scalar("loss", 10 * epoch + i, i)
    w.close()
    part = read(only_file(tmp_path))
    assert list(part.series["loss"].values) == [20, 21, 22, 23, 24]
    assert [e.get("superseded") for e in part.events] == [5, 5]


def test_a_corrupted_crc_in_the_middle_skips_that_record_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensorboard, "_crc_function", lambda: crc32c_py)
    path = tmp_path / only_file(TBX).name
    data = bytearray(only_file(TBX).read_bytes())
    good = read(only_file(TBX))
    # find the record of loss at step 4 and flip a byte of its value
    pos = 0
    target = None
    while pos < len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        body = bytes(data[pos + 12 : pos + 12 + n])
        if b"\x0a\x04loss\x15" in body and body[9:11] == b"\x10\x04":
            target = pos + 12 + n - 1
        pos += 12 + n + 4
    assert target is not None
    data[target] ^= 0x40
    path.write_bytes(bytes(data))
    part = read(path)
    want = [s for s in good.series["loss"].steps if s != 4]
    assert list(part.series["loss"].steps) == want  # the records after it are still read
    assert len(part.series["norm(gradients/layer1)"]) == 5
    assert ["data CRC mismatch" in i.message for i in part.issues] == [True]


def test_a_truncated_file_keeps_every_whole_record(tmp_path: Path) -> None:
    src = only_file(TBX)
    data = src.read_bytes()
    path = tmp_path / src.name
    path.write_bytes(data[: len(data) // 2])
    part = read(path)
    assert 0 < len(part.series["loss"]) < 15
    assert list(part.series["loss"].steps) == list(range(len(part.series["loss"])))
    (issue,) = part.issues
    assert "ends inside a record" in issue.message


def test_own_log_back_file_and_tags_are_not_read(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(TBX, run_dir)
    before = traindx.load_run(str(run_dir))
    from traindx.logback.tensorboard import event

    own = run_dir / "events.out.tfevents.1999999999.host.traindx"
    own.write_bytes(encode_record(event(0.0, 14, {"traindx/summary": "healthy"})))
    after = traindx.load_run(str(run_dir))
    assert sorted(after.series) == sorted(before.series)
    assert after.series["loss/train"].source == before.series["loss/train"].source  # not chained with the run's file
    assert [s.reason for s in after.skipped] == ["no training data found (tensorboard)"]


def test_tbparse_reads_the_same_scalars() -> None:
    tbparse = pytest.importorskip("tbparse")
    for folder in (TORCH, TBX):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tbparse 0.0.9 trips a pandas deprecation warning
            df = tbparse.SummaryReader(str(only_file(folder))).scalars
        part = read(only_file(folder))
        scalars = {t for t in part.series if not t.startswith(("norm(", "zero_frac("))}
        assert sorted(scalars) == sorted(set(df["tag"]))
        for tag in scalars:
            ref = df[df["tag"] == tag].sort_values("step")
            b = part.series[tag]
            assert list(b.steps) == [float(x) for x in ref["step"]]
            np.testing.assert_array_equal(np.asarray(b.values), ref["value"].to_numpy(dtype=np.float64))  # NaN included


def test_a_file_written_now_by_tensorboardx(tmp_path: Path) -> None:
    """tensorboardX in this environment (not only the committed fixture): scalars with a NaN, a histogram, text."""
    tbx = pytest.importorskip("tensorboardX")
    rng = np.random.default_rng(3)
    w = tbx.SummaryWriter(logdir=str(tmp_path))
    for step in range(0, 40, 4):
        w.add_scalar("train/loss", float("nan") if step == 20 else 2.0 / (1 + step), step)
        w.add_scalar("eval/loss", 2.5 / (1 + step), step)
        g = rng.standard_normal(200)
        g[:50] = 0.0
        w.add_histogram("grad/layer1.weight", g, step)
    w.add_text("args", "lr: 0.001\nbatch_size: 32", 0)
    w.close()
    path = only_file(tmp_path)
    part = read(path)
    acc = accumulator(path)
    for tag in ("train/loss", "eval/loss"):
        ref = acc.Scalars(tag)
        b = part.series[tag]
        assert list(b.steps) == [e.step for e in ref]
        np.testing.assert_array_equal(np.asarray(b.values), np.asarray([e.value for e in ref], dtype=np.float64))  # NaN included
    assert math.isnan(part.series["train/loss"].values[5])
    norm = part.series["norm(grad/layer1.weight)"]
    assert norm.canonical == "grad_norm/layer1.weight"
    assert list(zip(norm.steps, norm.values)) == [(e.step, math.sqrt(e.histogram_value.sum_squares)) for e in acc.Histograms("grad/layer1.weight")]
    run = traindx.load_run(tmp_path)
    assert run.config["lr"].value == 0.001 and run.config["batch_size"].value == 32  # "args" text: settings, unprefixed
