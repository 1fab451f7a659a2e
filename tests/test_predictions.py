"""Predictions files and confusion matrices, and the per-class failure check on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import traindx
from traindx.ingest import predictions
from traindx.ingest.part import ReadError, Source


def _csv(tmp_path: Path, rows: list[tuple[str, str]], header: str = "y_true,y_pred") -> Path:
    p = tmp_path / "predictions.csv"
    p.write_text(header + "\n" + "".join(f"{t},{q}\n" for t, q in rows))
    return p


def _skewed() -> list[tuple[str, str]]:
    rows = []
    for i in range(600):
        t = "fraud" if i % 30 == 0 else "ok"
        rows.append((t, "ok" if t == "fraud" and i % 120 else t))
    return rows


def test_csv_becomes_a_confusion_matrix(tmp_path: Path) -> None:
    p = _csv(tmp_path, _skewed())
    assert predictions.sniff(p, p.read_bytes()[:4096]) > 0.9
    part = predictions.read(Source(p, "predictions.csv", p.stat().st_size))
    (pr,) = part.predictions
    assert pr.labels == ("fraud", "ok")
    assert pr.counts == ((5, 15), (0, 580))


def test_minority_class_failure_and_class_imbalance(tmp_path: Path) -> None:
    _csv(tmp_path, _skewed())
    d = traindx.diagnose([tmp_path])
    (s,) = [s for s in d.symptoms if s.id == "minority_class_failure"]
    assert s.severity == "high" and s.data["failing"] == ["fraud"] and s.data["imbalance"] == pytest.approx(29, abs=1)
    assert s.evidence[0].text == "class fraud: recall 25% over 20 examples"
    assert d.root_causes[0].id == "class_imbalance"


def test_balanced_good_predictions_raise_nothing(tmp_path: Path) -> None:
    rows = [(c, c if i % 10 else "a") for i, c in enumerate(["a", "b", "c"] * 100)]
    _csv(tmp_path, rows, header="label,prediction")
    d = traindx.diagnose([tmp_path])
    assert not [s for s in d.symptoms if s.id == "minority_class_failure"]


def test_json_confusion_matrix(tmp_path: Path) -> None:
    p = tmp_path / "eval_confusion.json"
    p.write_text(json.dumps({"labels": ["cat", "dog", "bird"], "confusion_matrix": [[90, 10, 0], [5, 95, 0], [9, 1, 0]]}, indent=2))
    d = traindx.diagnose([tmp_path])
    (s,) = [s for s in d.symptoms if s.id == "minority_class_failure"]
    line = next(i for i, ln in enumerate(p.read_text().splitlines(), start=1) if "confusion_matrix" in ln)
    assert s.data["failing"] == ["bird"] and s.evidence[0].source == f"eval_confusion.json:{line}"


def test_bad_confusion_matrix_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "confusion.json"
    p.write_text(json.dumps({"confusion_matrix": [[1, 2], [3]]}))
    with pytest.raises(ReadError, match="square"):
        predictions.read(Source(p, "confusion.json", p.stat().st_size))
