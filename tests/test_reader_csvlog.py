"""The CSV/TSV reader: Lightning CSVLogger (corpus + a file Lightning wrote), Keras CSVLogger, generic tables."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.ingest import csvlog
from traindx.ingest.part import ReadError, Source
from traindx.ingest.textio import read_head

DATA = Path(__file__).parent / "data" / "structured"


def read(path: Path) -> csvlog.Part:
    return csvlog.read(Source(path, path.name, path.stat().st_size))


def rows_by_line(path: Path) -> dict[int, dict[str, str]]:
    """The file's own rows, keyed by 1-based line (lines of the reference parse)."""
    lines = path.read_bytes().decode().replace("\r\r\n", "\n").replace("\r\n", "\n").split("\n")
    header = lines[0].split(",")
    return {n: dict(zip(header, ln.split(","))) for n, ln in enumerate(lines[1:], 2) if ln}


def test_keras_csvlogger_with_crcrlf_endings(corpus: Path) -> None:
    path = corpus / "12-keras-csvlogger-deepfake-overfit" / "training_log.csv"
    assert b"\r\r\n" in path.read_bytes()
    assert csvlog.sniff(path, read_head(path)) >= 0.8
    part = read(path)
    assert part.step_unit == "epoch" and part.format == "Keras CSVLogger"
    val = part.series["val_loss"]
    assert list(val.steps) == list(range(7))
    assert list(val.lines) == list(range(2, 9))
    assert int(np.argmin(val.values)) == 3  # the minimum at epoch 3 (0-based), as labelled
    assert round(val.values[3], 4) == 0.4569
    assert set(part.series) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    assert part.issues == []


@pytest.mark.parametrize("case, n_steps", [("15-lightning-csv-slm-healthy/lightning_logs/version_0", 2814), ("16-lightning-csv-slm-resume-loss-rise/lightning_logs/version_5", 1126)])
def test_lightning_corpus_values_steps_and_lines(corpus: Path, case: str, n_steps: int) -> None:
    path = corpus / case / "metrics.csv"
    part = read(path)
    assert part.format == "Lightning CSVLogger metrics.csv"
    assert part.issues == []
    ref = rows_by_line(path)
    step_loss = part.series["train_loss_step"]
    assert len(step_loss) == n_steps
    for name, b in part.series.items():
        assert "step" not in part.series and "epoch" not in part.series
        for step, value, line, epoch in zip(b.steps, b.values, b.lines, b.epochs):
            row = ref[line]
            assert float(row[name]) == value
            assert float(row["step"]) == step
            assert float(row["epoch"]) == epoch
    val = part.series["val_loss"]
    assert np.all(np.diff(val.steps) > 0)
    assert part.units == {}


def test_lightning_corpus_through_discover(corpus: Path) -> None:
    run = traindx.load_run(str(corpus / "16-lightning-csv-slm-resume-loss-rise"))
    val = run.series["loss/val"]
    assert [round(v, 3) for v in val.values] == [3.563, 3.566, 3.570, 3.604]
    assert list(val.epochs) == [10, 11, 12, 13]
    assert run.series["loss/train"].source_name == "train_loss_step"  # the dense one wins
    assert run.config["num_epochs"].value == 20


def test_lightning_sparse_fixture_nan_versus_empty() -> None:
    """metrics.csv written by Lightning 2.6.6 (tests/data/structured/make_fixtures.py)."""
    part = read(DATA / "lightning" / "metrics.csv")
    odd = part.series["odd_metric"]
    # 'nan' cells are NaN points; empty cells are no point at all
    assert list(odd.steps) == [3, 5, 7]
    assert all(math.isnan(v) for v in odd.values)
    epoch_loss = part.series["train_loss_epoch"]
    assert list(epoch_loss.steps) == [7, 15, 23]
    assert list(epoch_loss.epochs) == [0, 1, 2]
    assert list(epoch_loss.lines) == [7, 13, 19]
    assert len(part.series["train_loss_step"]) == 12
    assert list(part.series["val_loss"].steps) == [7, 15, 23]
    assert part.step_source == "logged" and part.step_unit == "step"


def write_csv(path: Path, rows: list[list[object]], delimiter: str = ",") -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def test_generic_csv_with_global_step_and_a_string_column(tmp_path: Path) -> None:
    p = write_csv(
        tmp_path / "log.csv",
        [
            ["global_step", "checkpoint", "train/loss", "note"],
            [100, "/ckpt/a, with comma.pt", 2.5, "ok"],
            [200, "/ckpt/b.pt", "nan", "ok"],
            [300, "/ckpt/c.pt", "inf", "warm"],
        ],
    )
    part = read(p)
    assert set(part.series) == {"train/loss"}
    b = part.series["train/loss"]
    assert list(b.steps) == [100, 200, 300]
    assert b.values[0] == 2.5 and math.isnan(b.values[1]) and b.values[2] == math.inf
    assert list(b.lines) == [2, 3, 4]
    assert part.issues == []  # all-text columns are ignored quietly


def test_stray_text_in_a_numeric_column_is_reported(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "m.csv", [["step", "loss"], [1, 2.0], [2, "tensor(1.9)"], [3, 1.8]])
    part = read(p)
    assert list(part.series["loss"].steps) == [1, 3]
    assert [(i.line, "non-numeric" in i.message) for i in part.issues] == [(3, True)]


def test_ragged_rows_are_located_issues(tmp_path: Path) -> None:
    p = tmp_path / "metrics.csv"
    p.write_text("step,loss,acc\n1,2.0,0.1\n2,1.9\n3,1.8,0.3,99\n4,1.7,0.4\n")
    part = read(p)
    assert list(part.series["loss"].steps) == [1, 2, 3, 4]
    assert list(part.series["acc"].steps) == [1, 3, 4]
    assert [i.line for i in part.issues] == [3, 4]
    assert "2 fields" in part.issues[0].message and "4 fields" in part.issues[1].message


def test_tsv_and_row_index_steps(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "hist.tsv", [["loss", "val_loss"], [1.0, 1.5], [0.8, 1.4]], delimiter="\t")
    part = read(p)
    assert part.step_source == "inferred"
    assert list(part.series["val_loss"].steps) == [0, 1]


def test_epoch_only_table_uses_epoch_unit(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "history.csv", [["loss", "epoch"], [1.0, 1], [0.5, 2]])
    part = read(p)
    assert part.step_unit == "epoch"
    assert list(part.series["loss"].steps) == [1, 2]


def test_dataset_table_is_not_read_as_metrics(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "train.csv", [["sepal_width", "petal_len", "species"], [1.0, 2.0, "setosa"]])
    assert csvlog.sniff(p, read_head(p)) < 0.5
    part = read(p)
    assert part.is_empty
    assert "no step column" in part.issues[0].message


def test_keras_training_log_without_csv_extension_is_sniffed(tmp_path: Path) -> None:
    p = tmp_path / "training.log"
    p.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.5,0.79,0.47,0.82\n1,0.6,0.7,0.5,0.8\n")
    assert csvlog.sniff(p, read_head(p)) >= 0.7
    assert csvlog.sniff(tmp_path / "x.log", b"iter 0: loss 2.0, time 1ms\niter 1: loss 1.9\n") == 0.0


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"1,2,3\n4,5,6\n", "no header"),
        (b"\x00\x01\x02\x03" * 100, "binary"),
    ],
)
def test_unreadable_tables_raise_read_error(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "metrics.csv"
    p.write_bytes(content)
    with pytest.raises(ReadError, match=reason):
        read(p)


def test_truncated_last_row_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    p = tmp_path / "metrics.csv"
    p.write_text("step,loss,acc\n1,2.0,0.1\n2,1.9,0.")
    part = read(p)
    assert list(part.series["acc"].values) == [0.1, 0.0]
    p.write_text("step,loss,acc\n1,2.0,0.1\n2,1.")
    part = read(p)
    assert list(part.series["loss"].steps) == [1, 2]
    assert [i.line for i in part.issues] == [3]
