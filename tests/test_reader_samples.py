"""The samples reader: text blocks, JSON Lines and JSON records of generated outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import traindx
from traindx.ingest import jsonl, samples
from traindx.ingest.part import ReadError, Source
from traindx.ingest.textio import read_head


def read(path: Path) -> samples.Part:
    return samples.read(Source(path, path.name, path.stat().st_size))


def test_text_blocks_split_on_blank_lines_and_rules(tmp_path: Path) -> None:
    p = tmp_path / "samples.txt"
    p.write_text("[step 100] the cat sat\non the mat\n\n---\nthe the the the\n===\nstep 200: hello\n\n\n!!!!!!!!\n")
    part = read(p)
    got = [(s.line, s.step, s.text) for s in part.samples]
    assert got == [
        (1, 100.0, "the cat sat\non the mat"),
        (5, None, "the the the the"),
        (7, 200.0, "hello"),
        (10, None, "!!!!!!!!"),
    ]
    assert all(s.source == "samples.txt" for s in part.samples)


def test_text_without_separators_is_one_sample_per_line(tmp_path: Path) -> None:
    p = tmp_path / "predictions.txt"
    p.write_text("a b c\nd e f\ng h i\n")
    assert [(s.line, s.text) for s in read(p).samples] == [(1, "a b c"), (2, "d e f"), (3, "g h i")]


def test_jsonl_generations_with_prompt_and_step(tmp_path: Path) -> None:
    p = tmp_path / "generations.jsonl"
    recs = [
        {"step": 500, "prompt": "Once", "generation": "upon a time"},
        {"step": 1000, "prompt": "Once", "generation": ""},
        {"note": "no text here"},
    ]
    p.write_text("".join(json.dumps(r) + "\n" for r in recs) + "{broken\n")
    assert samples.sniff(p, read_head(p)) > jsonl.sniff(p, read_head(p))
    part = read(p)
    assert [(s.line, s.step, s.prompt, s.text) for s in part.samples] == [(1, 500.0, "Once", "upon a time"), (2, 1000.0, "Once", "")]
    assert [i.line for i in part.issues] == [4]


def test_json_list_and_wrapped_list(tmp_path: Path) -> None:
    p = tmp_path / "outputs.json"
    p.write_text(json.dumps([{"input": "2+2", "output": "4"}, {"input": "3+3", "output": "6"}], indent=2))
    part = read(p)
    assert [(s.line, s.prompt, s.text) for s in part.samples] == [(4, "2+2", "4"), (8, "3+3", "6")]  # the line of the output
    p.write_text(json.dumps({"model": "x", "samples": [{"completion": "hi"}]}))
    assert [s.text for s in read(p).samples] == ["hi"]
    p.write_text(json.dumps({"model": "x"}))
    part = read(p)
    assert part.is_empty and part.issues


def test_discover_routes_samples_and_metrics(tmp_path: Path) -> None:
    (tmp_path / "samples.txt").write_text("repeat repeat repeat\n\nanother one\n")
    (tmp_path / "log.jsonl").write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.0}\n')
    run = traindx.load_run(str(tmp_path))
    assert [s.text for s in run.samples] == ["repeat repeat repeat", "another one"]
    assert list(run.series["loss/train"].steps) == [1, 2]
    assert {s.path: s.reader for s in run.sources} == {"samples.txt": "samples", "log.jsonl": "jsonl"}


def test_sniff() -> None:
    assert samples.sniff(Path("samples.txt"), b"hello") == 0.75
    assert samples.sniff(Path("train.txt"), b"hello") == 0.0
    assert samples.sniff(Path("output.log"), b"hello") == 0.0  # a console log, not samples
    assert samples.sniff(Path("log.jsonl"), b'{"step": 1, "loss": 2}\n') == 0.0
    assert samples.sniff(Path("preds.json"), b'[{"pred": "x"}]') == 0.6
    assert samples.sniff(Path("config.json"), b'{"text": "x"}') == 0.0


@pytest.mark.parametrize("name", ["samples.txt", "samples.json", "samples.jsonl"])
def test_binary_content_is_refused(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    p.write_bytes(b"\x00\x01\x02\x03" * 64)
    with pytest.raises(ReadError, match="binary"):
        read(p)
