"""Generalization checks: rising held-out loss and a widening gap, and their quiet cases."""

from __future__ import annotations

import numpy as np

from traindx.checks.generalization.train_val_gap import train_val_gap
from traindx.checks.generalization.val_loss_rising import val_loss_rising

from runs import make_run, noisy


def _overfit_run(unit: str = "step"):
    steps = np.arange(0, 5001, 25)
    train = noisy(len(steps), 0.3, 0.0005, 0.05, seed=1)
    evals = np.array([1000, 2000, 3000, 4000, 5000])
    val = [0.3210, 0.3585, 0.3937, 0.4123, 0.4200]
    return make_run(unit=unit, loss_train=(steps, train), loss_val=(evals, val))


def test_val_loss_rising_finds_the_best_step() -> None:
    (s,) = val_loss_rising(_overfit_run())
    assert s.step == 1000
    assert s.severity == "high"
    assert s.data["evals_after"] == 4 and s.data["worse"] == 4
    assert s.data["train_change"] < 0
    assert "early stopping would have stopped at step 1000" in s.summary


def test_rising_val_with_rising_train_is_not_overfitting() -> None:
    steps = np.arange(0, 400, 10)
    train = np.linspace(1.0, 1.4, len(steps))
    run = make_run(loss_train=(steps, train), loss_val=([100, 200, 300, 390], [1.1, 1.2, 1.3, 1.45]))
    assert val_loss_rising(run) == []


def test_small_wobble_is_not_a_rise() -> None:
    run = make_run(loss_train=(np.arange(0, 5001, 10), noisy(501, 3, 1.5, 0.05)), loss_val=([1000, 2000, 3000, 4000, 5000], [1.70, 1.60, 1.57, 1.559, 1.5617]))
    assert val_loss_rising(run) == []


def test_one_bad_evaluation_is_noise() -> None:
    run = make_run(loss_train=(np.arange(0, 501, 10), noisy(51, 3, 1, 0.02)), loss_val=([100, 200, 300, 400, 500], [2.0, 1.8, 1.7, 1.9, 1.65]))
    assert val_loss_rising(run) == []


def test_gap_widening_is_medium_or_high_and_stable_gap_is_low() -> None:
    (g,) = train_val_gap(_overfit_run())
    assert g.severity == "high" and g.data["widened"]
    steps = np.arange(0, 1001, 10)
    train = noisy(len(steps), 3.0, 1.0, 0.01)
    val_steps = np.array([200, 400, 600, 800, 1000])
    val = np.interp(val_steps, steps, train) * 1.2
    (g2,) = train_val_gap(make_run(loss_train=(steps, train), loss_val=(val_steps, val)))
    assert g2.severity == "low" and not g2.data["widened"]


def test_no_gap_when_validation_tracks_training() -> None:
    steps = np.arange(0, 1001, 10)
    train = noisy(len(steps), 3.0, 1.0, 0.01)
    val_steps = np.array([200, 400, 600, 800, 1000])
    val = np.interp(val_steps, steps, train) * 1.03
    assert train_val_gap(make_run(loss_train=(steps, train), loss_val=(val_steps, val))) == []


def test_a_gap_between_the_success_bar_and_a_finding_is_a_low_note() -> None:
    steps = np.arange(0, 1001, 10)
    train = noisy(len(steps), 3.0, 1.0, 0.01)
    val_steps = np.array([200, 400, 600, 800, 1000])
    # 7% above training, and widening from 1%: above the 5% bar, not the 10% of a finding
    val = np.interp(val_steps, steps, train) * np.array([1.01, 1.03, 1.05, 1.06, 1.07])
    (g,) = train_val_gap(make_run(loss_train=(steps, train), loss_val=(val_steps, val)))
    assert g.severity == "low" and "above the 5% success bar" in g.summary
    assert 0.05 < g.data["gap_last"] <= 0.10
