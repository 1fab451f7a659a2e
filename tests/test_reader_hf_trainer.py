"""The HF Trainer ``trainer_state.json`` reader on the corpus and on files written like the Trainer writes them."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.ingest import hf_trainer
from traindx.ingest.part import ReadError, Source

HF_CASES = [
    "01-hf-trainer-mistral-lora-healthy",
    "02-hf-trainer-gemma3-qlora-healthy-eval",
    "03-hf-trainer-grpo-rl-loss-zero-healthy",
    "04-hf-trainer-whisper-ja-overfit",
    "05-hf-trainer-qlora-lr5-divergence",
    "06-hf-trainer-qlora-tiny-dataset-loss-zero",
    "07-hf-trainer-lora-llama31-plateau",
]


def read(path: Path) -> hf_trainer.Part:
    return hf_trainer.read(Source(path, path.name, path.stat().st_size))


def write_state(path: Path, log_history: list, **top) -> Path:
    """A state file as the Trainer writes it: ``json.dumps(indent=2, sort_keys=True)``."""
    state = {"global_step": 0, "log_history": log_history, "max_steps": 0, **top}
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    return path


def test_case04_eval_loss_values_and_lines(corpus: Path) -> None:
    part = read(corpus / HF_CASES[3] / "trainer_state.json")
    ev = part.series["eval_loss"]
    assert list(ev.steps) == [1000, 2000, 3000, 4000, 5000]
    assert round(ev.values[0], 4) == 0.3210
    assert round(ev.values[-1], 4) == 0.4200
    # the lines EXAMPLE_DIAGNOSIS.md quotes
    assert list(ev.lines) == [252, 501, 750, 999, 1248]
    assert list(part.series["eval_wer"].lines)[:3] == [256, 505, 754]
    loss = part.series["loss"]
    assert (loss.steps[0], loss.values[0], loss.lines[0]) == (25, 0.3048, 13)
    assert (loss.steps[-1], loss.values[-1], loss.lines[-1]) == (5000, 0.0002, 1243)
    assert ev.epochs[0] == pytest.approx(7.63)
    assert part.config["trainer.best_model_checkpoint"].value.endswith("checkpoint-3000")
    assert part.config["trainer.best_metric"].line == 2
    # the final summary entry is a summary, not a one-point series
    assert "train_runtime" not in part.series and "train_loss" not in part.series
    assert part.summary["train_loss"].value == pytest.approx(0.0189034, rel=1e-5)
    assert part.summary["train_loss"].line == 1259


def test_case05_learning_rate_5_at_every_step(corpus: Path) -> None:
    part = read(corpus / HF_CASES[4] / "trainer_state.json")
    lr = part.series["learning_rate"]
    assert list(lr.steps) == list(range(1, 11))
    assert set(lr.values) == {5.0}
    loss = part.series["loss"]
    assert loss.values[0] == 1.637 and loss.values[1] == 11.8069
    assert part.config["trainer.logging_steps"].value == 1


@pytest.mark.parametrize("case", HF_CASES)
def test_every_point_cites_the_line_of_its_key(corpus: Path, case: str) -> None:
    path = corpus / case / "trainer_state.json"
    lines = path.read_text().splitlines()
    part = read(path)
    assert part.issues == []
    assert part.n_points > 0
    for name, b in part.series.items():
        pat = re.compile(r'^\s*"' + re.escape(name) + r'":\s*(\S+?),?$')
        for step, value, line in zip(b.steps, b.values, b.lines):
            m = pat.match(lines[line - 1])
            assert m, (name, line, lines[line - 1])
            assert float(m.group(1)) == value or (math.isnan(value) and m.group(1) == "NaN")
            # the entry the line belongs to has this step
            end = line
            while not lines[end].strip().startswith("}"):
                end += 1
            start = line - 1
            while not lines[start].strip().startswith("{"):
                start -= 1
            assert re.search(r'"step": ' + str(int(step)) + r"\b", "\n".join(lines[start:end]))


def test_all_corpus_states_load_through_discover(corpus: Path) -> None:
    run = traindx.load_run(str(corpus / HF_CASES[1]))
    assert run.series["loss/val"].source == "trainer_state.json"
    assert run.series["loss/val"].reader == "hf_trainer"
    assert len(run.series["loss/val"]) == 19
    assert run.series["loss/train"].values[0] == pytest.approx(14.75, abs=0.01)  # the huge first log is kept


def test_nan_and_infinity_tokens(tmp_path: Path) -> None:
    p = write_state(
        tmp_path / "trainer_state.json",
        [
            {"epoch": 0.1, "learning_rate": 1e-4, "loss": 2.5, "step": 10},
            {"epoch": 0.2, "grad_norm": math.inf, "learning_rate": 1e-4, "loss": math.nan, "step": 20},
            {"epoch": 0.2, "test_loss": 3.0, "test_runtime": 1.0, "step": 20},
        ],
    )
    assert "NaN" in p.read_text() and "Infinity" in p.read_text()
    part = read(p)
    loss = part.series["loss"]
    assert loss.values[0] == 2.5 and math.isnan(loss.values[1])
    assert part.series["grad_norm"].values[0] == math.inf
    assert part.series["test_loss"].steps[0] == 20
    text = p.read_text().splitlines()
    assert text[loss.lines[1] - 1].strip() == '"loss": NaN,'


def test_minified_state_gives_line_1(tmp_path: Path) -> None:
    p = tmp_path / "trainer_state.json"
    p.write_text(json.dumps({"log_history": [{"loss": 1.0, "step": 1}, {"loss": 0.5, "step": 2}]}))
    part = read(p)
    assert list(part.series["loss"].lines) == [1, 1]


def test_bad_entries_are_located_issues(tmp_path: Path) -> None:
    p = write_state(
        tmp_path / "trainer_state.json",
        [{"loss": 1.0, "step": 1}, "oops", {"loss": 0.9}, {"loss": "n/a", "step": 3}, {"loss": 0.8, "step": 4, "extra": {"a": 1}}],
    )
    part = read(p)
    assert list(part.series["loss"].steps) == [1, 4]
    msgs = [i.message for i in part.issues]
    assert any("not an object" in m for m in msgs)
    assert any("without a numeric 'step'" in m for m in msgs)
    assert all(i.line for i in part.issues)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b'{\n  "log_history": [\n    {\n      "loss": 1.0,\n      "step": 1\n', "invalid JSON"),
        (b'{"log_history": {"loss": 1}}', "no log_history list"),
        (b"[1, 2, 3]", "no log_history list"),
        (b"\x00\x01\x02binary\x00" * 20, "binary"),
        (b"", "empty"),
        (b"   \n", "empty"),
    ],
)
def test_unreadable_files_raise_one_line_read_errors(tmp_path: Path, content: bytes, reason: str) -> None:
    p = tmp_path / "trainer_state.json"
    p.write_bytes(content)
    with pytest.raises(ReadError) as e:
        read(p)
    assert reason in str(e.value)
    assert "\n" not in str(e.value)


def test_truncated_state_says_where(tmp_path: Path) -> None:
    p = write_state(tmp_path / "trainer_state.json", [{"loss": 1.0, "step": s} for s in range(1, 50)])
    p.write_bytes(p.read_bytes()[:700])
    with pytest.raises(ReadError, match="truncated"):
        read(p)


def test_sniff() -> None:
    assert hf_trainer.sniff(Path("out/checkpoint-500/trainer_state.json"), b"{\n") == 1.0
    assert hf_trainer.sniff(Path("state_copy.json"), b'{\n  "best_metric": null,\n  "log_history": [') > 0.9
    assert hf_trainer.sniff(Path("config.json"), b'{"hidden_size": 8}') == 0.0
    assert hf_trainer.sniff(Path("trainer_state.json"), b"\x00\x00\x00\x01") == 0.0


def test_checkpoint_copies_merge_to_the_densest(tmp_path: Path) -> None:
    hist = [{"epoch": s / 10, "loss": 3.0 - s / 10, "step": s} for s in range(1, 21)]
    write_state((tmp_path / "checkpoint-10").mkdir() or tmp_path / "checkpoint-10" / "trainer_state.json", hist[:10])
    write_state((tmp_path / "checkpoint-20").mkdir() or tmp_path / "checkpoint-20" / "trainer_state.json", hist)
    run = traindx.load_run(str(tmp_path))
    loss = run.series["loss/train"]
    assert loss.source == "checkpoint-20/trainer_state.json"
    assert len(loss) == 20
    np.testing.assert_allclose(loss.epochs, [s / 10 for s in range(1, 21)])
    assert [a.source for a in run.alternates["loss/train"]] == ["checkpoint-10/trainer_state.json"]
