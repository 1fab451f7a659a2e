"""What every structured-file reader promises: the contract, no crash on bad bytes, same input same output, read-only."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.ingest import registry
from traindx.ingest.part import Part, ReadError, Source

from conftest import tree_digest

FILE_READERS = {"hf_trainer": 90, "csvlog": 80, "jsonl": 70, "jsonfile": 75, "config": 60, "samples": 50, "tensorboard": 85, "mlflow_sqlite": 80}
MINE = (*FILE_READERS, "mlflow")

# a real file for each reader, to cut short and to read twice
SAMPLES = {
    "hf_trainer": "04-hf-trainer-whisper-ja-overfit/trainer_state.json",
    "csvlog": "16-lightning-csv-slm-resume-loss-rise/lightning_logs/version_5/metrics.csv",
    "jsonl": "01-hf-trainer-mistral-lora-healthy/trainer_log.jsonl",
    "jsonfile": "10-wandb-nanogpt-enwik-healthy/run-20240215_012725-vgpqdf1r/files/wandb-metadata.json",
    "config": "10-wandb-nanogpt-enwik-healthy/run-20240215_012725-vgpqdf1r/files/config.yaml",
    "tensorboard": "14-tensorboard-keras-imdb-overfit/imdb-model-1690485351/validation/events.out.tfevents.1690485359.e-bnbobg-5l77j-0.80091.1.v2",
}


def module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"traindx.ingest.{name}")


def test_modules_follow_the_reader_contract() -> None:
    loaded = {m.NAME: m for m in registry.readers() + registry.dir_readers()}
    for name, rank in FILE_READERS.items():
        m = module(name)
        assert m.NAME == name and m.RANK == rank
        if name in registry.READER_MODULES:
            assert loaded[name] is m
        assert callable(m.sniff) and callable(m.read)
        assert m.__doc__ and len(m.__doc__) > 80
    m = module("mlflow")
    assert (m.NAME, m.RANK) == ("mlflow", 80) and loaded["mlflow"] is m
    assert callable(m.sniff_dir) and callable(m.read_dir)


def test_importing_the_readers_stays_light() -> None:
    code = (
        "import sys\n"
        + "".join(f"import traindx.ingest.{n}\n" for n in MINE)
        + "heavy = [m for m in ('torch', 'tensorboard', 'google_crc32c', 'mlflow', 'tomli') if m in sys.modules]\n"
        + "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


HEADS = [
    b"",
    b"\x00" * 32,
    bytes(range(256)),
    b"{",
    b"\xff\xfe{\x00}\x00",
    b"\xef\xbb\xbfstep,loss\n1,2\n",
    b"\x08\x00\x00\x00\x00\x00\x00\x00",
    "é,ü\n1,2\n".encode("latin-1"),
]
NAMES = ["x.json", "trainer_state.json", "a.csv", "events.out.tfevents.1.h", "c.yaml", "c.toml", "samples.txt", "x.jsonl", "noext", ".hidden.cfg"]


@pytest.mark.parametrize("name", FILE_READERS)
def test_sniff_never_raises_and_stays_in_range(name: str) -> None:
    m = module(name)
    for fname in NAMES:
        for head in HEADS:
            score = m.sniff(Path("/nonexistent") / fname, head)
            assert 0.0 <= score <= 1.0, (fname, head)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_cut_or_damaged_files_give_a_part_or_a_read_error(corpus: Path, tmp_path: Path, name: str) -> None:
    m = module(name)
    data = (corpus / SAMPLES[name]).read_bytes()
    target = tmp_path / Path(SAMPLES[name]).name
    rng = np.random.default_rng(0)
    variants = [data[: int(len(data) * f)] for f in (0.001, 0.1, 0.5, 0.9, 0.999)]
    damaged = bytearray(data)
    for i in rng.integers(0, len(data), size=20):
        damaged[i] = int(rng.integers(0, 256))
    variants += [bytes(damaged), rng.bytes(300), b"\x00" * 300]
    for v in variants:
        target.write_bytes(v)
        try:
            part = m.read(Source(target, target.name, len(v)))
        except ReadError as e:
            assert str(e) and "\n" not in str(e)
        else:
            assert isinstance(part, Part)
            for b in part.series.values():
                assert len(b.steps) == len(b.values) == len(b.lines)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_same_input_same_result(corpus: Path, name: str) -> None:
    m = module(name)
    path = corpus / SAMPLES[name]

    def snapshot() -> str:
        part = m.read(Source(path, path.name))
        return json.dumps(
            {
                "series": {k: [list(b.steps), [repr(v) for v in b.values], list(b.lines), b.canonical] for k, b in part.series.items()},
                "config": {k: [repr(v.value), v.line] for k, v in part.config.items()},
                "summary": {k: [repr(v.value), v.line] for k, v in part.summary.items()},
                "events": [repr(e) for e in part.events],
                "issues": [repr(i) for i in part.issues],
                "meta": [part.format, part.step_unit, part.step_source, sorted(part.units.items())],
            },
            sort_keys=True,
        )

    first = snapshot()
    assert json.loads(first)["series"] or json.loads(first)["config"]
    assert snapshot() == first


def test_no_reader_crashes_on_the_corpus_and_nothing_is_written(corpus: Path) -> None:
    cases = sorted(p for p in corpus.iterdir() if p.is_dir())
    assert len(cases) == 40
    before = {c.name: tree_digest(c) for c in cases}
    for case in cases:
        run = traindx.load_run(str(case))
        for s in run.skipped:
            assert not any(f"({n})" in s.reason for n in MINE), (case.name, s)
    assert {c.name: tree_digest(c) for c in cases} == before


def test_structured_corpus_cases_give_their_key_series(corpus: Path) -> None:
    expect = {
        "02-hf-trainer-gemma3-qlora-healthy-eval": ("loss/train", "loss/val", "grad_norm", "lr"),
        "12-keras-csvlogger-deepfake-overfit": ("loss/train", "loss/val", "accuracy/val"),
        "13-tensorboard-keras-mnist-sgd-healthy": ("loss/train", "loss/val", "accuracy/val"),
        "15-lightning-csv-slm-healthy": ("loss/train", "loss/val", "perplexity/val"),
        "17-mlflow-hf-t5-healthy": ("loss/train", "loss/val", "grad_norm", "lr"),
        "18-mlflow-skorch-resnet-healthy-lr-steps": ("loss/train", "error/test"),
    }
    for case, wanted in expect.items():
        run = traindx.load_run(str(corpus / case))
        for name in wanted:
            assert run.has(name), (case, name, sorted(run.series))
            s = run.series[name]
            assert s.lines is not None and len(s.lines) == len(s)
            if s.reader != "tensorboard":
                assert (s.lines > 0).all(), (case, name)
