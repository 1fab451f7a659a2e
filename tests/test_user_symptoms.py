"""Stated symptoms are parsed (metric, position, direction) and checked, never assumed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from traindx.engine import diagnose_run
from traindx.user_symptoms import parse

from runs import make_run, noisy


@pytest.mark.parametrize(
    "text, metric, direction, position, unit",
    [
        ("Loss diverged at epoch 7", "loss/train", "up", 7, "epoch"),
        ("val loss started increasing after step 1200", "loss/val", "up", 1200, "step"),
        ("validation loss goes up around 3000", "loss/val", "up", 3000, "step"),
        ("loss is NaN from iteration 425", "loss/train", "nan", 425, "step"),
        ("training loss stuck at 2.3", "loss/train", "flat", None, None),
        ("model not learning anything", "loss/train", "flat", None, None),
        ("gradients exploding at step 9", "grad_norm", "up", 9, "step"),
        ("the model is overfitting", "loss/val", "overfit", None, None),
        ("training failed at epoch 3", "loss/train", "failed", 3, "epoch"),
        ("model outputs are all the same token", "outputs", None, None, None),
    ],
)
def test_parse(text: str, metric: str, direction: str | None, position: float | None, unit: str | None) -> None:
    p = parse(text)
    assert (p.metric, p.direction, p.position, p.unit) == (metric, direction, position, unit)


def _diverging_run():
    steps = np.arange(0, 1000)
    loss = np.concatenate([noisy(600, 3.0, 1.0, 0.01, seed=1), np.linspace(1.0, 5.0, 400)])
    run = make_run(loss_train=(steps, loss))
    run.series["loss/train"].epochs = steps / 100.0  # 100 steps per epoch
    return run


def test_confirmed_at_the_stated_epoch() -> None:
    d = diagnose_run(_diverging_run(), user_symptoms=["Loss diverged at epoch 6"])
    (u,) = d.user_symptoms
    assert u.verdict == "confirmed"
    assert "matching the stated epoch 6" in u.explanation
    assert u.evidence


def test_confirmed_but_elsewhere_says_where() -> None:
    d = diagnose_run(_diverging_run(), user_symptoms=["loss blew up at step 100"])
    (u,) = d.user_symptoms
    assert u.verdict == "confirmed" and "not at the stated step 100" in u.explanation


def test_refuted_when_the_data_cover_it_and_show_otherwise() -> None:
    steps = np.arange(0, 1000)
    run = make_run(loss_train=(steps, noisy(1000, 3.0, 1.0, 0.01)))
    d = diagnose_run(run, user_symptoms=["loss exploded at step 500", "loss is nan"])
    a, b = d.user_symptoms
    assert a.verdict == "refuted" and a.evidence and a.evidence[0].source.startswith("train.log:")
    assert b.verdict == "refuted"


def test_not_checkable_outside_the_logged_range_or_without_the_metric() -> None:
    run = make_run(loss_train=(np.arange(100), noisy(100, 3.0, 1.0, 0.01)))
    d = diagnose_run(run, user_symptoms=["loss diverged at step 5000", "validation loss rising at step 50"])
    a, b = d.user_symptoms
    assert a.verdict == "not checkable" and "outside" in a.explanation
    assert b.verdict == "not checkable" and "loss/val" in b.explanation


def test_nan_statement_confirmed() -> None:
    run = make_run(loss_train=(np.arange(10), [2.0] * 7 + [math.nan] * 3))
    (u,) = diagnose_run(run, user_symptoms=["loss became nan at step 7"]).user_symptoms
    assert u.verdict == "confirmed"


def test_statements_about_outputs_are_checked_against_samples() -> None:
    from pathlib import Path

    import traindx

    zoo = Path(__file__).resolve().parent / "zoo"
    (u,) = traindx.diagnose([zoo / "degenerate_samples" / "run"], symptoms=["model outputs are all the same token"]).user_symptoms
    assert u.verdict == "confirmed" and u.evidence and "samples.txt" in u.evidence[0].source
    (v,) = traindx.diagnose([zoo / "healthy_noisy" / "run"], symptoms=["the outputs are all the same token"]).user_symptoms
    assert v.verdict == "not checkable"
