"""The JSON Lines reader: LLaMA-Factory, fairseq JSON, W&B history, bad lines."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from traindx.ingest import hf_trainer, jsonl
from traindx.ingest.part import ReadError, Source
from traindx.ingest.textio import read_head


def read(path: Path) -> jsonl.Part:
    return jsonl.read(Source(path, path.name, path.stat().st_size))


def write_lines(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_llama_factory_trainer_log_uses_current_steps(corpus: Path) -> None:
    path = corpus / "01-hf-trainer-mistral-lora-healthy" / "trainer_log.jsonl"
    assert jsonl.sniff(path, read_head(path)) >= 0.8
    part = read(path)
    assert part.format == "LLaMA-Factory trainer_log.jsonl"
    loss = part.series["loss"]
    assert (loss.steps[0], loss.values[0], loss.lines[0]) == (10, 2.4977, 1)
    assert loss.epochs[0] == pytest.approx(0.0046189, rel=1e-4)
    assert "current_steps" not in part.series and "epoch" not in part.series and "total_steps" not in part.series
    assert part.config["total_steps"].value == 8660
    assert part.issues == []


def test_same_run_in_two_formats_agrees(corpus: Path) -> None:
    case = corpus / "01-hf-trainer-mistral-lora-healthy"
    a = read(case / "trainer_log.jsonl").series["loss"]
    state = case / "trainer_state.json"
    b = hf_trainer.read(Source(state, state.name)).series["loss"]
    n = min(len(a), len(b))
    np.testing.assert_array_equal(np.frombuffer(a.steps)[:n], np.frombuffer(b.steps)[:n])
    np.testing.assert_array_equal(np.frombuffer(a.values)[:n], np.frombuffer(b.values)[:n])


def test_fairseq_numeric_strings_and_num_updates(tmp_path: Path) -> None:
    p = write_lines(
        tmp_path / "train.jsonl",
        [
            {"epoch": 1, "update": 0.0, "loss": "16.446", "ppl": "89281.6", "num_updates": "2", "lr": "2e-05", "gnorm": "20.751", "wall": "162"},
            {"epoch": 1, "update": 0.01, "loss": "15.1", "ppl": "nan", "num_updates": "4", "lr": "4e-05", "gnorm": "inf", "wall": "170"},
        ],
    )
    part = read(p)
    assert part.format == "fairseq JSON log"
    assert list(part.series["loss"].steps) == [2, 4]
    assert part.series["loss"].values[0] == 16.446
    assert math.isnan(part.series["ppl"].values[1]) and part.series["gnorm"].values[1] == math.inf
    assert list(part.series["lr"].epochs) == [1, 1]


def test_wandb_history_skips_media_and_bookkeeping(tmp_path: Path) -> None:
    p = write_lines(
        tmp_path / "wandb-history.jsonl",
        [
            {"_step": 0, "_runtime": 1.2, "_timestamp": 1.7e9, "train/loss": 3.0, "samples": {"_type": "table-file", "path": "x"}},
            {"_step": 1, "_runtime": 2.2, "_timestamp": 1.7e9, "train/loss": 2.5, "gpu": {"mem": 10.5}},
        ],
    )
    part = read(p)
    assert part.format == "W&B history"
    assert set(part.series) == {"train/loss", "gpu/mem"}
    assert list(part.series["train/loss"].steps) == [0, 1]


def test_trainer_global_step_beats_wandb_step(tmp_path: Path) -> None:
    p = write_lines(
        tmp_path / "history.jsonl",
        [
            {"_step": 0, "train/global_step": 10, "train/loss": 3.0},
            {"_step": 1, "train/global_step": 20, "eval/loss": 2.9},
            {"_step": 2, "train/loss": 2.0},  # no trainer step: keeps the last one
        ],
    )
    part = read(p)
    assert list(part.series["train/loss"].steps) == [10, 20]
    assert list(part.series["eval/loss"].steps) == [20]


def test_bad_lines_are_located_and_the_rest_is_read(tmp_path: Path) -> None:
    p = tmp_path / "log.jsonl"
    p.write_text('{"step": 1, "loss": 2.0}\nnot json\n[1, 2]\n\n{"step": 3, "loss": NaN}\n{"step": 4, "loss": 1.')
    part = read(p)
    assert list(part.series["loss"].steps) == [1, 3]
    assert math.isnan(part.series["loss"].values[1])
    assert list(part.series["loss"].lines) == [1, 5]
    assert [i.line for i in part.issues] == [2, 3, 6]


def test_many_bad_lines_are_counted_not_listed(tmp_path: Path) -> None:
    p = tmp_path / "log.jsonl"
    p.write_text('{"step": 1, "loss": 2.0}\n' + "garbage\n" * 100)
    part = read(p)
    assert len(part.issues) == jsonl.MAX_LINE_ISSUES + 1
    assert "80 more" in part.issues[-1].message


def test_no_step_key_is_an_inferred_ordinal(tmp_path: Path) -> None:
    p = write_lines(tmp_path / "h.jsonl", [{"loss": 1.0}, {"loss": 0.9}, {"note": "text only"}, {"loss": 0.8}])
    part = read(p)
    assert part.step_source == "inferred"
    assert list(part.series["loss"].steps) == [0, 1, 2]
    assert list(part.series["loss"].lines) == [1, 2, 4]


def test_epoch_only_records(tmp_path: Path) -> None:
    part = read(write_lines(tmp_path / "h.jsonl", [{"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 0.9}]))
    assert part.step_unit == "epoch"
    assert list(part.series["val_loss"].steps) == [1, 2]


@pytest.mark.parametrize("content, reason", [(b"", "empty"), (b"\n \n", "empty"), (b"nope\nstill nope\n", "no line is a JSON object"), (b"\x00\x01" * 50, "binary")])
def test_unreadable_files(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "x.jsonl"
    p.write_bytes(content)
    with pytest.raises(ReadError, match=reason):
        read(p)


def test_sniff_leaves_sample_records_and_documents_alone(tmp_path: Path) -> None:
    assert jsonl.sniff(Path("gen.jsonl"), b'{"prompt": "a", "generation": "b"}\n') < 0.8
    assert jsonl.sniff(Path("log.txt"), b'{"step": 1, "loss": 2}\n{"step": 2, "loss": 1}\n') >= 0.7
    assert jsonl.sniff(Path("config.json"), b'{"lr": 0.1}') == 0.0
    assert jsonl.sniff(Path("trainer_state.json"), b"{\n  \"log_history\": [\n") == 0.0
    assert jsonl.sniff(Path("x.log"), b"plain text line\n") == 0.0
