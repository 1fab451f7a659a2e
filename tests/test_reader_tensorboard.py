"""The TensorBoard reader against files written by torch's SummaryWriter and against tensorboard itself."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.ingest import tensorboard
from traindx.ingest.part import Part, ReadError, Source
from traindx.ingest.textio import read_head

KERAS_CASES = {
    "13-tensorboard-keras-mnist-sgd-healthy": 10,
    "14-tensorboard-keras-imdb-overfit": 20,
}


def summary_writer(logdir: Path):  # type: ignore[no-untyped-def]
    sw = pytest.importorskip("torch.utils.tensorboard")
    return sw.SummaryWriter(log_dir=str(logdir))


def event_file(logdir: Path) -> Path:
    (path,) = sorted(logdir.glob("events.out.tfevents.*"))
    return path


def read(path: Path) -> Part:
    return tensorboard.read(Source(path, path.name, path.stat().st_size))


def crc32c(data: bytes) -> int:
    """Reference CRC-32C (Castagnoli), bit by bit: slow, fine for a few records."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def test_old_style_scalars_nan_inf_and_large_steps(tmp_path: Path) -> None:
    w = summary_writer(tmp_path / "run")
    values = [2.5, 1.25, math.nan, math.inf, -math.inf, 0.1]
    steps = [0, 1, 2, 3, 300, 2**40]
    for s, v in zip(steps, values):
        w.add_scalar("train/loss", v, s)
    w.add_scalar("grad_norm", 7.0, 5)
    w.close()
    path = event_file(tmp_path / "run")
    assert tensorboard.sniff(path, read_head(path)) == 1.0
    part = read(path)
    assert part.issues == []
    assert part.format == "TensorBoard events (simple_value scalars)"
    b = part.series["train/loss"]
    assert list(b.steps) == steps
    got, want = np.frombuffer(b.values), np.array(values, dtype=np.float32).astype(np.float64)
    np.testing.assert_array_equal(got, want)  # float32 as written, NaN and +-inf kept
    assert list(b.lines) == [0] * len(steps)
    run = traindx.load_run(str(tmp_path / "run"))
    loss = run.series["loss/train"]
    assert loss.where(2).endswith("#step 2")


def test_new_style_tensor_scalars(tmp_path: Path) -> None:
    w = summary_writer(tmp_path / "run")
    for s in range(5):
        w.add_scalar("val/loss", 1.0 / (s + 1), s, new_style=True)
        w.add_scalar("lr", 1e-3 * (s + 1), s, new_style=True, double_precision=True)
    w.add_scalar("val/loss", math.nan, 5, new_style=True)
    w.close()
    part = read(event_file(tmp_path / "run"))
    assert part.format == "TensorBoard events (tensor scalars)"
    val = part.series["val/loss"]
    np.testing.assert_array_equal(np.frombuffer(val.values)[:5], np.float32([1.0 / (s + 1) for s in range(5)]))
    assert math.isnan(val.values[5])
    assert list(part.series["lr"].values) == [1e-3 * (s + 1) for s in range(5)]  # double precision kept


def test_images_are_skipped_histograms_and_text_are_read(tmp_path: Path) -> None:
    w = summary_writer(tmp_path / "run")
    rng = np.random.default_rng(0)
    for s in range(3):
        w.add_scalar("loss", 1.0 - s / 10, s)
        w.add_histogram("weights", rng.normal(size=100), s)
        w.add_text("note", f"step {s}", s)
        w.add_image("img", rng.random((3, 4, 4)), s)
    w.close()
    part = read(event_file(tmp_path / "run"))
    assert set(part.series) == {"loss", "norm(weights)", "zero_frac(weights)"}
    assert part.series["norm(weights)"].canonical == "weight_norm/weights"
    assert [s.text for s in part.samples] == ["step 0", "step 1", "step 2"]  # free text at several steps
    assert part.format == "TensorBoard events (simple_value scalars, histograms, text)"
    assert part.issues == []


def test_a_file_cut_inside_a_record_ends_with_an_issue(tmp_path: Path) -> None:
    w = summary_writer(tmp_path / "run")
    for s in range(50):
        w.add_scalar("loss", float(s), s)
    w.close()
    path = event_file(tmp_path / "run")
    data = path.read_bytes()
    for cut in (len(data) - 3, len(data) - 40):
        path.write_bytes(data[:cut])
        part = read(path)
        assert len(part.series["loss"]) in (48, 49)
        assert list(part.series["loss"].steps) == list(range(len(part.series["loss"])))
        assert len(part.issues) == 1 and "ends inside a record" in part.issues[0].message


def test_crc_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = summary_writer(tmp_path / "run")
    for s in range(4):
        w.add_scalar("loss", float(s), s)
    w.close()
    path = event_file(tmp_path / "run")
    monkeypatch.setattr(tensorboard, "_crc_function", lambda: crc32c)
    assert read(path).issues == []  # every CRC the writer wrote checks out
    data = bytearray(path.read_bytes())
    # the last record is the scalar of step 3: change one byte of its value
    data[-6] ^= 0xFF
    path.write_bytes(bytes(data))
    part = read(path)
    assert list(part.series["loss"].steps) == [0, 1, 2]
    assert "data CRC mismatch" in part.issues[0].message
    # without a CRC library the damaged value is read as it is
    monkeypatch.setattr(tensorboard, "_crc_function", lambda: None)
    assert list(read(path).series["loss"].steps) == [0, 1, 2, 3]


def test_google_crc32c_when_installed() -> None:
    fn = tensorboard._crc_function()
    if fn is None:
        pytest.skip("google-crc32c not installed")
    assert fn(b"123456789") == crc32c(b"123456789") == 0xE3069283


def test_split_comes_from_the_folder(tmp_path: Path) -> None:
    for folder, base in (("train", 1.0), ("validation", 2.0)):
        w = summary_writer(tmp_path / folder)
        for s in range(3):
            w.add_scalar("epoch_loss", base - s / 10, s)
            w.add_scalar("eval/accuracy", 0.5, s)
        w.close()
    run = traindx.load_run(str(tmp_path))
    assert run.series["loss/train"].values[0] == 1.0
    assert run.series["loss/val"].values[0] == 2.0
    # a tag that names its split keeps it, whatever the folder
    assert "accuracy/val" in run.series and "accuracy/train" not in run.series


def test_garbage_and_empty_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensorboard, "_crc_function", lambda: None)
    rng = np.random.default_rng(1)
    garbage = tmp_path / "events.out.tfevents.1.host.1.0"
    garbage.write_bytes(struct.pack("<Q", 2**40) + rng.bytes(200))
    part = read(garbage)
    assert part.is_empty and "corrupt record length" in part.issues[0].message
    garbage.write_bytes(struct.pack("<Q", 8) + b"\x00" * 4 + b"\xff" * 8 + b"\x00" * 4)
    with pytest.raises(ReadError, match="no record decodes"):
        read(garbage)
    monkeypatch.setattr(tensorboard, "_crc_function", lambda: crc32c)
    part = read(garbage)  # with CRCs, the framing itself is refused
    assert part.is_empty and "length CRC mismatch" in part.issues[0].message
    garbage.write_bytes(b"")
    with pytest.raises(ReadError, match="no TensorBoard records"):
        read(garbage)


def test_sniff_by_content(tmp_path: Path) -> None:
    w = summary_writer(tmp_path / "run")
    w.add_scalar("loss", 1.0, 0)
    w.close()
    renamed = tmp_path / "renamed.bin"
    renamed.write_bytes(event_file(tmp_path / "run").read_bytes())
    assert tensorboard.sniff(renamed, read_head(renamed)) == 0.9
    assert tensorboard.sniff(Path("x.txt"), b"hello world, this is text not records") == 0.0


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_keras_tf2_files_match_tensorboard(corpus: Path, case: str) -> None:
    """Every scalar equals what tensorboard's own EventAccumulator reads (lossless settings)."""
    files = sorted((corpus / case).rglob("events.out.tfevents.*"))
    assert len(files) == 2
    try:
        from tensorboard.backend.event_processing.event_accumulator import (
            EventAccumulator,
        )
        from tensorboard.util import tensor_util
    except ImportError:
        EventAccumulator = None
    for path in files:
        part = read(path)
        assert part.issues == []
        assert part.format.startswith("TensorBoard events (tensor scalars")
        for tag in ("epoch_loss", "epoch_accuracy"):
            b = part.series[tag]
            assert list(b.steps) == list(range(KERAS_CASES[case]))
            assert part.units[tag] == "epoch"
        # Keras' equal-width histogram buckets give no norm, and a zero share only when they resolve zero
        hist = {t for t in part.series if t.startswith(("norm(", "zero_frac("))}
        assert not any(t.startswith("norm(") for t in hist)
        assert all(part.series[t].canonical.startswith("weight_zero_frac/") for t in hist)
        if EventAccumulator is None:
            continue
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        scalar_tags = [t for t in acc.Tags()["tensors"] if acc.SummaryMetadata(t).plugin_data.plugin_name == "scalars"]
        assert sorted(scalar_tags) == sorted(set(part.series) - hist)
        for tag in scalar_tags:
            ref = [(float(e.step), float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
            b = part.series[tag]
            assert list(zip(b.steps, b.values)) == ref


def test_keras_case14_through_discover(corpus: Path) -> None:
    run = traindx.load_run(str(corpus / "14-tensorboard-keras-imdb-overfit"))
    val = run.series["loss/val"]
    assert val.step_unit == "epoch"
    assert int(np.argmin(val.values)) == 4  # the minimum at epoch 4, as labelled
    assert round(float(val.values[-1]), 4) == 0.5183
    assert run.series["loss/train"].values[-1] < 0.03
    assert val.where(4).endswith("#epoch 4")
