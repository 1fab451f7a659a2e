"""The agent's metric extraction and gradient-flow summary, on Runs built in the test."""

from __future__ import annotations

import numpy as np
import pytest

from traindx.agent import AgentInputError
from traindx.agent.gradients import summarize
from traindx.agent.metrics import extract
from traindx.run import Run, Series


def _series(name: str, values: np.ndarray, steps: np.ndarray | None = None, source_name: str | None = None) -> Series:
    steps = np.arange(1, len(values) + 1, dtype=float) if steps is None else steps
    return Series(name, steps, np.asarray(values, dtype=float), "train.log", source_name or name, lines=np.arange(1, len(values) + 1))


def test_extract_downsamples_with_the_spike_and_the_first_nan_kept() -> None:
    v = np.linspace(3.0, 1.0, 10_000)
    v[6_789] = 50.0
    v[9_000] = np.nan
    run = Run(series={"loss/train": _series("loss/train", v, source_name="train_loss")})
    s = extract(run, ["train_loss"], max_points=100)["series"][0]
    assert s["name"] == "loss/train" and s["returned"] <= 102 and s["downsampled"]
    assert 6790 in s["steps"] and s["values"][s["steps"].index(6790)] == 50
    assert 9001 in s["steps"] and s["values"][s["steps"].index(9001)] is None
    assert s["stats"]["max"] == {"value": 50, "step": 6790, "source": "train.log:6790"}
    assert s["stats"]["nan"] == 1 and s["stats"]["first_nonfinite"] == {"value": "nan", "step": 9001, "source": "train.log:9001"}
    assert s["steps"][0] == 1 and s["steps"][-1] == 10_000


def test_extract_arguments_are_checked() -> None:
    run = Run(series={"loss/train": _series("loss/train", np.ones(10))})
    with pytest.raises(AgentInputError, match="max_points must be between 2 and 5000"):
        extract(run, None, None, 1)
    with pytest.raises(AgentInputError, match=r"step_range must be \[first, last\]"):
        extract(run, None, [1.0, 2.0, 3.0])
    with pytest.raises(AgentInputError, match="no series named 'acc'"):
        extract(run, ["acc"])
    assert extract(run, None, [20, 30])["series"][0]["points_in_range"] == 0


def test_gradient_flow_verdicts() -> None:
    steps = np.arange(1, 101, dtype=float)
    layers = {f"grad_norm/layer{i}": _series(f"grad_norm/layer{i}", np.full(100, 10.0 ** (i - 12)), steps) for i in (1, 2, 10)}
    out = summarize(Run(series=layers))
    assert [x["layer"] for x in out["layers"]] == ["layer1", "layer2", "layer10"]  # natural order, input side first
    assert out["flow"]["verdict"] == "vanishing" and out["flow"]["first_over_last"] == pytest.approx(1e-9)
    spiky = np.ones(100)
    spiky[40] = 500.0
    dead = np.zeros(100)
    out = summarize(Run(series={"grad_norm/a": _series("grad_norm/a", spiky, steps), "grad_norm/b": _series("grad_norm/b", dead, steps)}))
    a, b = out["layers"]
    assert a["flags"] == ["spikes"] and a["first_spike"]["step"] == 41 and a["first_spike"]["times_median"] == 500
    assert b["flags"] == ["zero (frozen or dead)"]
    assert "flow" not in out  # a dead layer has no usable median: no ratio is claimed
    assert "request" in summarize(Run())
