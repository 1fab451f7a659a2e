"""The whole-document JSON reader: Keras History, skorch history, W&B summary/metadata, configs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from traindx.ingest import jsonfile
from traindx.ingest.part import ReadError, Source
from traindx.ingest.textio import read_head

SKORCH = "19-mlflow-skorch-selfatt-resnet-spike-collapse/mlruns/411893921889545428/0f305d5c07774dd9b1925ec7416fbc52"


def read(path: Path) -> jsonfile.Part:
    return jsonfile.read(Source(path, path.name, path.stat().st_size))


def test_keras_history_dict_of_lists(tmp_path: Path) -> None:
    history = {"accuracy": [0.5, 0.6, 0.7], "loss": [0.9, 0.7, float("nan")], "val_loss": [1.0, 0.95, 0.97]}
    p = tmp_path / "history.json"
    p.write_text(json.dumps(history, indent=2))
    part = read(p)
    assert part.step_unit == "epoch"
    loss = part.series["loss"]
    assert list(loss.steps) == [0, 1, 2] and math.isnan(loss.values[2])
    lines = p.read_text().splitlines()
    for name, b in part.series.items():
        for line, value in zip(b.lines, b.values):
            assert lines[line - 1].strip().rstrip(",") in (repr(value), "NaN")
    # one-line dump, nested under "history" with Keras' params
    p.write_text(json.dumps({"history": history, "params": {"epochs": 3, "steps": 13, "verbose": 2}}))
    part = read(p)
    assert list(part.series["val_loss"].lines) == [1, 1, 1]
    assert part.config["keras.params.epochs"].value == 3


def test_skorch_history_epoch_and_batch_series(corpus: Path) -> None:
    path = corpus / SKORCH / "artifacts" / "history.json"
    part = read(path)
    assert part.format == "skorch history"
    assert part.step_unit == "epoch"
    batch = part.series["batch train_loss"]
    assert batch.canonical == "loss/train/batch"
    assert part.units["batch train_loss"] == "step"
    assert len(batch) == 40345
    assert list(batch.steps[:3]) == [0, 1, 2]
    assert np.all(np.diff(np.frombuffer(batch.steps)) == 1)
    worst = int(np.argmax(np.frombuffer(batch.values)))
    assert round(batch.values[worst], 1) == 319.5  # the worst batch the corpus label quotes
    assert batch.epochs[worst] == 66
    epoch_loss = part.series["train_loss"]
    assert list(epoch_loss.steps) == list(range(1, 104))
    # the epoch-level means match what MLflow logged for the same run
    mlflow_lines = (corpus / SKORCH / "metrics" / "train_loss").read_text().split("\n")
    logged = [float(ln.split()[1]) for ln in mlflow_lines if ln]
    np.testing.assert_allclose(np.frombuffer(epoch_loss.values), logged)
    assert "train_loss_best" not in part.series and "batches" not in part.series


def test_wandb_summary_and_metadata(corpus: Path) -> None:
    files = corpus / "11-wandb-nanogpt-shakespeare-overfit" / "run-20240214_195452-kt2awly2" / "files"
    summary = read(files / "wandb-summary.json")
    assert summary.format == "W&B summary"
    assert round(summary.summary["val/loss"].value, 3) == 4.922
    assert not any(k.startswith("_") for k in summary.summary)
    assert summary.series == {}
    meta = read(files / "wandb-metadata.json")
    assert meta.config["wandb.gpu_count"].value == 3
    assert meta.config["wandb.gpu"].value == "NVIDIA GeForce RTX 2080 Ti"
    assert meta.config["wandb.gpu_memory_total"].value == 11811160064
    lines = (files / "wandb-metadata.json").read_text().splitlines()
    assert '"gpu_count"' in lines[meta.config["wandb.gpu_count"].line - 1]
    assert "cpu_freq_per_core" not in str(list(meta.config))


def test_config_files_flatten_with_lines(tmp_path: Path) -> None:
    cfg = {"model": {"n_layer": 6, "dropout": 0.1, "name": "a \"quoted\" name: x"}, "optim": {"lr": 3e-4, "betas": [0.9, 0.95]}, "seed": 1}
    p = tmp_path / "args.json"
    p.write_text(json.dumps(cfg, indent=4))
    part = read(p)
    assert part.format == "JSON config"
    assert part.config["optim.betas"].value == [0.9, 0.95]
    lines = p.read_text().splitlines()
    for key, cv in part.config.items():
        assert f'"{key.rsplit(".", 1)[-1]}"' in lines[cv.line - 1]
    adapter = tmp_path / "adapter_config.json"
    adapter.write_text(json.dumps({"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}, indent=2))
    assert read(adapter).config["adapter.r"].value == 8
    model = tmp_path / "config.json"
    model.write_text(json.dumps({"model_type": "llama", "vocab_size": 32000}, indent=2))
    assert read(model).config["model.vocab_size"].line == 3


def test_results_file_goes_to_summary(tmp_path: Path) -> None:
    p = tmp_path / "all_results.json"
    p.write_text(json.dumps({"epoch": 3.0, "eval_loss": 0.71, "train_runtime": 100.0}, indent=2))
    part = read(p)
    assert part.summary["eval_loss"].value == 0.71 and part.summary["eval_loss"].line == 3
    assert part.config == {}


def test_list_of_step_records(tmp_path: Path) -> None:
    p = tmp_path / "export.json"
    p.write_text(json.dumps([{"step": 10, "loss": 2.0}, {"step": 20, "loss": 1.5, "val_loss": 1.7}], indent=2))
    part = read(p)
    assert list(part.series["loss"].steps) == [10, 20]
    assert list(part.series["val_loss"].lines) == [9]
    assert list(part.series["loss"].lines) == [4, 8]


def test_data_and_unknown_structures_give_an_empty_part(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({f"tok{i}": i for i in range(6000)}))
    part = read(vocab)
    assert part.is_empty and "data, not a run config" in part.issues[0].message
    strings = tmp_path / "labels.json"
    strings.write_text(json.dumps(["cat", "dog"]))
    part = read(strings)
    assert part.is_empty and "no known" in part.issues[0].message


@pytest.mark.parametrize(
    "content, reason",
    [
        (b'{"a": 1, "b": [1, 2', "truncated"),
        (b'{"a": 1,, "b": 2}\n\n', "line 1 column 9"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64, "binary"),
        (b"", "empty"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    ],
)
def test_unreadable_json(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "config.json"
    p.write_bytes(content)
    assert jsonfile.sniff(p, read_head(p)) > 0  # ours to report, not "unknown format"
    with pytest.raises(ReadError, match=reason) as e:
        read(p)
    assert "\n" not in str(e.value)


def test_locator_survives_tricky_strings_and_duplicate_keys() -> None:
    text = '{\n  "a": "x\\"}{\\"b\\": 1",\n  "b": [\n    "s",\n    2\n  ],\n  "c": 1,\n  "c": 2,\n  "d": 3\n}'
    obj = json.loads(text)
    loc = jsonfile.JsonLocator(text)
    lines = {}
    for k, v in obj.items():
        lines[k] = loc.key(k)
        loc.skip(v)
    assert lines["a"] == 2 and lines["b"] == 3 and lines["d"] == 9
    assert lines["c"] in (7, 8)


def test_sniff() -> None:
    assert jsonfile.sniff(Path("trainer_state.json"), b"{") == 0.0
    assert jsonfile.sniff(Path("x.yaml"), b"a: 1") == 0.0
    assert jsonfile.sniff(Path("config.json"), b"{}") == 0.5

