"""Training code inside ``traindx diagnose``: .py files are read (never imported), their findings
become located code facts, the code checks report them, and the reasoning uses them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import traindx
from traindx.checks.model.code_dropout_too_high import code_dropout_too_high
from traindx.checks.model.code_lr_out_of_range import code_lr_out_of_range
from traindx.cli.app import app
from traindx.run import CodeFact, Run

CODE = Path(__file__).resolve().parent / "data" / "code"
ZOO = Path(__file__).resolve().parent / "zoo" / "missing_zero_grad" / "run"


def test_buggy_script_alone_gets_its_symptoms_and_causes(tmp_path: Path) -> None:
    shutil.copy(CODE / "buggy" / "nanogpt_train.py", tmp_path / "train.py")
    d = traindx.diagnose([tmp_path])
    by = {s.id: s for s in d.symptoms}
    assert set(by) == {"code_zero_grad_after_backward", "code_dropout_too_high"}
    z = by["code_zero_grad_after_backward"]
    assert z.severity == "high" and z.evidence[0].source == "train.py:107"
    assert "optimizer.zero_grad(set_to_none=True) (line 107)" in z.evidence[0].text
    causes = {h.id: h for h in d.root_causes}
    assert "code_zero_grad_after_backward" in causes["optimizer_call_order"].explains
    assert "code_dropout_too_high" in causes["underfitting"].explains
    facts = {f.kind for f in d.run.code_facts}
    assert {"training_code", "zero_grad_after_backward", "dropout_too_high"} == facts


def test_healthy_script_adds_no_symptom_and_is_listed_as_read(tmp_path: Path) -> None:
    shutil.copy(CODE / "healthy" / "nanogpt_train.py", tmp_path / "train.py")
    (tmp_path / "utils.py").write_text("def helper(x):\n    return x + 1\n")
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    d = traindx.diagnose([tmp_path])
    assert d.symptoms == []
    assert [s.path for s in d.run.sources] == ["train.py"]
    skipped = {s.path: s for s in d.run.skipped}
    assert set(skipped) == {"broken.py", "utils.py"} and not any(s.error for s in skipped.values())
    assert any(i.path == "broken.py" and i.line == 1 and "does not parse" in i.message for i in d.run.issues)


@pytest.mark.skipif(not (ZOO / "train.py").is_file(), reason="failure zoo run not present")
def test_zoo_missing_zero_grad_becomes_direct_evidence() -> None:
    d = traindx.diagnose([ZOO])
    top = d.root_causes[0]
    assert top.id == "missing_zero_grad" and top.confidence >= 0.9
    assert any(e.source == "train.py:106" for e in top.evidence)
    assert "code_no_zero_grad" in top.explains


def test_missing_zero_grad_from_code_alone_is_circumstantial(tmp_path: Path) -> None:
    shutil.copy(CODE / "buggy" / "mnist_plain.py", tmp_path / "main.py")
    d = traindx.diagnose([tmp_path])
    h = next(h for h in d.root_causes if h.id == "missing_zero_grad")
    assert 0.7 <= h.confidence < 0.9 and h.explains == ["code_no_zero_grad"]
    assert "gradient norm" in h.confirm


def _fact(kind: str, text: str) -> CodeFact:
    return CodeFact(kind, text, "train.py", 3)


def test_thresholds_filter_code_facts() -> None:
    run = Run(code_facts=[_fact("dropout_too_high", "nn.Dropout(0.6) sets a dropout probability of 0.6 (value 0.6): more than half")])
    assert len(code_dropout_too_high(run)) == 1
    assert code_dropout_too_high(run, max_dropout=0.7) == []
    lr = Run(code_facts=[_fact("lr_out_of_range", "Adam(lr=0.05) sets a learning rate of 0.05 (value 0.05), above the range [1e-07, 0.01] used with adaptive optimizers (Adam family)")])
    (s,) = code_lr_out_of_range(lr)
    assert s.evidence[0].source == "train.py:3"
    assert code_lr_out_of_range(lr, adaptive_range=(1e-7, 0.1)) == []


def test_explain_prints_a_code_rule() -> None:
    res = CliRunner().invoke(app, ["explain", "TDX810"])
    assert res.exit_code == 0
    assert "code_no_zero_grad (model)" in res.output and "## Known false positives" in res.output
