"""TDX902 log_warning: warnings that bear on training are reported with their lines and counts,
deprecation noise is not, healthy runs stay quiet, and the scheduler-order warning becomes a
low-confidence lr_schedule hypothesis only where the run has a problem to explain."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import traindx
from traindx.checks.registry import get_check
from traindx.engine import run_checks

ZOO = Path(__file__).parent / "zoo"


def printed(call) -> str:
    """The first warning ``call`` raises, formatted as Python prints it to stderr."""
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        call()
    assert got
    w = got[0]
    return warnings.formatwarning(w.message, w.category, w.filename, w.lineno, None).rstrip("\n")


def emitted() -> dict[str, str]:
    """The warnings PyTorch and NumPy themselves raise, plus three a library might."""
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, 10)
    x = torch.ones(2, requires_grad=True)
    return {
        "scheduler": printed(sched.step),  # before any optimizer.step()
        "epoch": printed(lambda: sched.step(1)),
        "target": printed(lambda: nn.functional.mse_loss(torch.zeros(4, 1), torch.zeros(4))),
        "numpy": printed(lambda: np.exp(np.float64(1000.0))),
        "grad": printed(lambda: (x * 2).grad),
        "workers": printed(lambda: torch.utils.data.DataLoader(list(range(4)), num_workers=512).check_worker_number_rationality()),
        "future": printed(lambda: warnings.warn("`resume_download` is deprecated and will be removed in version 1.0.0.", FutureWarning, stacklevel=1)),
        "reentrant": printed(lambda: warnings.warn("torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly.", UserWarning, stacklevel=1)),
        "other": printed(lambda: warnings.warn("tokenizer has no pad token; using eos as pad", UserWarning, stacklevel=1)),
    }


def write_run(path: Path, *, diverge: bool = False, config: str = "") -> tuple[Path, dict[str, int]]:
    """A key=value log with the warnings where a training script would print them; returns their lines."""
    w = emitted()
    path.mkdir()
    lines: list[str] = []
    at: dict[str, int] = {}

    def put(key: str) -> None:
        at.setdefault(key, len(lines) + 1)
        at[key + ":last"] = len(lines) + 1
        lines.extend(w[key].splitlines())  # the warning line, then the source line Python quotes

    for k in ("future", "reentrant", "workers"):
        put(k)
    for step in range(1, 301):
        loss = 2.3 * math.exp(-step / 50) + 0.5
        if diverge and step >= 150:
            loss = 0.8 + (step - 150) * 0.01
        lines.append(f"step={step} loss={loss:.4f} lr=1.0e-03")
        if step == 1:
            for k in ("scheduler", "epoch", "target", "grad", "other"):
                put(k)
        if step in (40, 90, 200):
            put("numpy")
    (path / "train.log").write_text("\n".join(lines) + "\n")
    if config:
        (path / "config.yaml").write_text(config)
    return path, at


def warning_symptom(d: dict) -> dict | None:
    got = [s for s in d["symptoms"] if s["id"] == "log_warning"]
    assert len(got) <= 1
    return got[0] if got else None


def test_each_meaningful_warning_is_quoted_with_its_line_and_count(tmp_path: Path) -> None:
    run, at = write_run(tmp_path / "run")
    d = traindx.diagnose([run]).to_dict()
    s = warning_symptom(d)
    assert s is not None and s["severity"] == "low" and s["code"] == "TDX902"
    assert d["status"] == "healthy"  # low severity is a note, not an alarm
    by_source = {e["source"]: e["text"] for e in s["evidence"]}
    assert by_source[f"train.log:{at['scheduler']}"].startswith("UserWarning: Detected call of `lr_scheduler.step()` before `optimizer.step()`")
    assert "every LR comes one step early" in by_source[f"train.log:{at['scheduler']}"]
    assert by_source[f"train.log:{at['epoch']}"].startswith("UserWarning: The epoch parameter in `scheduler.step()` was not necessary")
    assert "broadcasts the target" in by_source[f"train.log:{at['target']}"]
    assert "not a leaf Tensor" in by_source[f"train.log:{at['grad']}"]
    assert "This DataLoader will create 512 worker processes" in by_source[f"train.log:{at['workers']}"]
    numpy_ev = by_source[f"train.log:{at['numpy']}"]
    assert numpy_ev.startswith("RuntimeWarning: overflow encountered in exp")
    assert f"3 times, last at train.log:{at['numpy:last']}" in numpy_ev
    assert "tokenizer has no pad token" in by_source[f"train.log:{at['other']}"]  # the UserWarning fallback
    # API-change notices say nothing about the run
    assert f"train.log:{at['future']}" not in by_source and f"train.log:{at['reentrant']}" not in by_source
    kinds = next(x for x in run_checks(traindx.load_run(run))[0] if x.id == "log_warning").data["kinds"]
    assert kinds["numpy_nonfinite"] == 3 and kinds["scheduler_before_optimizer"] == 1 and len(kinds) == 7
    assert "7 distinct warnings" in s["summary"] and "(9 lines)" in s["summary"]


def test_check_is_registered_with_the_docstring_sections() -> None:
    spec = get_check("TDX902")
    assert spec is not None and spec.emits == "log_warning" and spec.family == "ingest_checks"
    for section in ("## Symptom", "## Why it matters", "## Evidence", "## Likely causes", "## Fix", "## Known false positives"):
        assert section in spec.doc


def test_scheduler_order_is_a_low_lr_schedule_hypothesis_when_the_run_has_a_problem(tmp_path: Path) -> None:
    run, at = write_run(tmp_path / "run", diverge=True)
    d = traindx.diagnose([run]).to_dict()
    h = [c for c in d["root_causes"] if c["id"] == "lr_schedule"]
    assert h and h[0]["confidence"] < 0.5 and h[0]["explains"] == ["log_warning"]
    assert h[0]["evidence"][0]["source"] == f"train.log:{at['scheduler']}"
    assert "optimizer.step() before lr_scheduler.step()" in h[0]["fix"]
    assert d["root_causes"][0]["id"] != "lr_schedule"


def test_no_hypothesis_on_a_healthy_run_or_under_amp(tmp_path: Path) -> None:
    healthy, _ = write_run(tmp_path / "healthy")
    assert not traindx.diagnose([healthy]).to_dict()["root_causes"]
    amp, _ = write_run(tmp_path / "amp", diverge=True, config="fp16: true\n")
    d = traindx.diagnose([amp]).to_dict()
    assert warning_symptom(d) is not None
    assert not any(c["id"] == "lr_schedule" for c in d["root_causes"])  # GradScaler skips raise it harmlessly


def test_quiet_on_the_healthy_corpus_runs(corpus: Path, corpus_labels: dict[str, dict]) -> None:
    healthy = sorted(c for c, lab in corpus_labels.items() if lab["labels"] == ["healthy"])
    assert len(healthy) >= 10
    for case in healthy:
        d = traindx.diagnose([corpus / case]).to_dict()
        assert warning_symptom(d) is None, case


@pytest.mark.parametrize("case", sorted(p.name for p in ZOO.glob("healthy_*")))
def test_quiet_on_the_healthy_zoo_runs(case: str) -> None:
    assert warning_symptom(traindx.diagnose([ZOO / case / "run"]).to_dict()) is None


def test_lightning_warnings_printed_without_a_category(tmp_path: Path) -> None:
    """Lightning 2.x prints "file.py:LINE: message" with no Warning class: still a located warning."""
    (tmp_path / "train.log").write_text(
        "/venv/lib/python3.11/site-packages/lightning/pytorch/trainer/connectors/data_connector.py:441: The 'train_dataloader' does not "
        "have many workers which may be a bottleneck. Consider increasing the value of the `num_workers` argument to `num_workers=7` in "
        "the `DataLoader` to improve performance.\n"
        + "".join(f"step={s} loss={2.3 - s / 100:.3f}\n" for s in range(1, 40))
    )
    d = traindx.diagnose([tmp_path])
    (w,) = [s for s in d.symptoms if s.id == "log_warning"]
    assert w.severity == "low" and "DataLoader worker" in w.summary
    assert w.evidence[0].source == "train.log:1"


@pytest.mark.parametrize("case", ["09-nanogpt-termux-nan", "20-megatron-gpt2-bench-healthy-fp16-startup", "28-issue-apex-amp-lossscale-underflow-yolact"])
def test_quiet_on_real_logs_whose_warnings_are_noise(corpus: Path, case: str) -> None:
    """These real logs carry warnings (a FutureWarning, WARNING: lines, a '# Warning:' line) that do not bear on training."""
    run = traindx.load_run(corpus / case)
    assert run.events_of("warning"), "the log has warnings to ignore"
    assert warning_symptom(traindx.diagnose([corpus / case]).to_dict()) is None
