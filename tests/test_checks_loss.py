"""Loss checks on curves with a known answer, and on noise that must stay quiet."""

from __future__ import annotations

import math

import numpy as np
import pytest

from traindx.checks.loss.at_zero import loss_at_zero
from traindx.checks.loss.divergence import loss_divergence
from traindx.checks.loss.nan_inf import nan_inf
from traindx.checks.loss.plateau import loss_plateau
from traindx.checks.registry import DOC_SECTIONS, all_checks

from runs import make_run, noisy


def test_every_check_documents_its_sections_and_thresholds() -> None:
    specs = all_checks()
    assert {s.code for s in specs} >= {"TDX101", "TDX103", "TDX104", "TDX107", "TDX401", "TDX402"}
    for spec in specs:
        for section in DOC_SECTIONS:
            assert f"## {section}" in spec.doc, f"{spec.code} lacks '## {section}'"
        for name in spec.defaults:
            assert f"``{name}``" in spec.doc, f"{spec.code} does not document its threshold {name}"
        assert spec.title and not spec.title.startswith("##")


def test_codes_are_unique_and_match_families() -> None:
    specs = all_checks()
    assert len({s.code for s in specs}) == len(specs)
    for s in specs:
        family_digit = {"loss": "1", "gradients": "2", "optimizer": "3", "generalization": "4", "data": "5", "system": "6", "outputs": "7", "model": "8", "ingest": "9", "ingest_checks": "9"}[s.family]
        assert s.code[3] == family_digit


# -- divergence ---------------------------------------------------------------------------


def test_divergence_onset_and_magnitude() -> None:
    steps = np.arange(0, 400)
    loss = np.concatenate([noisy(250, 4.0, 1.0, 0.02, seed=1), np.linspace(1.0, 6.0, 150) * (1 + 0.02 * np.random.default_rng(2).standard_normal(150))])
    run = make_run(loss_train=(steps, loss))
    (s,) = loss_divergence(run)
    assert s.id == "loss_divergence"
    assert 240 <= s.step <= 300
    assert s.severity == "critical"  # ends at ~5x the best level
    assert s.data["best_step"] < s.step
    assert all(e.source.startswith("train.log:") for e in s.evidence)


def test_partial_divergence_that_climbs_back_most_of_the_way() -> None:
    steps = np.arange(300)
    loss = np.concatenate([noisy(150, 3.0, 1.0, 0.01, seed=3), np.linspace(1.0, 2.4, 50), np.full(100, 2.4) * (1 + 0.01 * np.random.default_rng(4).standard_normal(100))])
    (s,) = loss_divergence(make_run(loss_train=(steps, loss)))
    assert 140 <= s.step <= 170
    assert s.severity == "critical"


@pytest.mark.parametrize("seed", range(5))
def test_noisy_healthy_curve_is_not_divergence(seed: int) -> None:
    steps = np.arange(2000)
    loss = noisy(2000, 5.0, 1.5, 0.15, seed=seed)
    assert loss_divergence(make_run(loss_train=(steps, loss))) == []


def test_warmup_bump_that_recovers_is_not_divergence() -> None:
    # Megatron start-up: 12.0 -> 22.5 -> back down to 7.4 (corpus case 20's shape)
    steps = np.arange(20, 210, 10)
    loss = [12.03, 22.48, 12.56, 9.72, 9.1, 8.8, 8.5, 8.3, 8.1, 8.0, 7.9, 7.8, 7.7, 7.6, 7.55, 7.5, 7.45, 7.4, 7.37]
    assert loss_divergence(make_run(loss_train=(steps, loss))) == []


def test_divergence_into_nan_is_critical_and_names_the_nan_step() -> None:
    steps = np.arange(100)
    loss = list(noisy(60, 3.0, 1.0, 0.01)) + list(np.linspace(1.0, 8.0, 30)) + [math.nan] * 10
    (s,) = loss_divergence(make_run(loss_train=(steps, loss)))
    assert s.severity == "critical"
    assert s.data["nan_after"] and s.data["first_nan_step"] == 90


# -- NaN ----------------------------------------------------------------------------------


def test_nan_first_step_last_finite_and_lead_up() -> None:
    steps = np.arange(0, 460, 5)
    loss = [3.5] * 85 + [math.nan] * 7
    (s,) = nan_inf(make_run(loss_train=(steps, loss)))
    assert s.step == 425 and s.severity == "critical"
    text = " ".join(e.text for e in s.evidence)
    assert "last finite value 3.5 at step 420" in text
    assert "no lead-up" in text


def test_nan_after_a_climb_reports_the_climb() -> None:
    steps = np.arange(50)
    loss = [2.0] * 30 + list(np.linspace(2.0, 9.0, 15)) + [math.inf] * 5
    (s,) = nan_inf(make_run(loss_train=(steps, loss)))
    assert "climbed" in s.evidence[1].text
    assert s.data["series"][0]["lead_change"] > 0.5


def test_nan_gradient_with_zero_loss() -> None:
    steps = np.arange(1, 13)
    run = make_run(loss_train=(steps, [1.08] + [0.0] * 11), grad_norm=(steps, [math.nan] * 12))
    (s,) = nan_inf(run)
    assert s.metric == "grad_norm" and s.severity == "critical"
    assert s.data.get("zero_loss_with_nan_grad")


def test_caffe_saturated_loss_is_reported() -> None:
    run = make_run(loss_train=([0, 20, 40], [21.4058, 87.3365, 87.3365]))
    (s,) = nan_inf(run)
    assert s.data.get("saturated") and s.step == 20


def test_finite_run_has_no_nan_symptom() -> None:
    run = make_run(loss_train=(np.arange(10), np.linspace(3, 1, 10)), mfu=(np.arange(10), [-100.0] + [30.0] * 9))
    assert nan_inf(run) == []


# -- plateau ------------------------------------------------------------------------------


def test_chance_level_plateau_from_config_class_count() -> None:
    run = make_run(config={"num_labels": 4}, loss_train=(np.arange(5), [1.356284, 1.386393, 1.386381, 1.386379, 1.38633]))
    (s,) = loss_plateau(run)
    assert s.data["kind"] == "chance" and s.data["chance_k"] == 4
    assert "num_labels" in s.data["chance_source"]


def test_exact_repetition_means_no_update() -> None:
    epoch = [0.9741, 1.3742, 1.2390, 0.9670, 1.0386, 1.1681, 1.2240, 0.9610]
    run = make_run(loss_train=(np.arange(24), epoch * 3))
    (s,) = loss_plateau(run)
    assert s.data["kind"] == "repeating" and s.data["period"] == 8


def test_no_improvement_on_a_flat_noisy_curve() -> None:
    rng = np.random.default_rng(7)
    loss = 2.13 + 0.3 * rng.standard_normal(100)
    (s,) = loss_plateau(make_run(loss_train=(np.arange(10, 1010, 10), loss)))
    assert s.data["kind"] == "no_improvement" and s.severity == "medium"


@pytest.mark.parametrize("seed", range(3))
def test_healthy_decreasing_curve_is_not_a_plateau(seed: int) -> None:
    loss = noisy(500, 3.0, 0.5, 0.1, seed=seed)
    assert loss_plateau(make_run(loss_train=(np.arange(500), loss))) == []


def test_two_points_are_too_few_to_call_a_plateau() -> None:
    assert loss_plateau(make_run(loss_train=([2380, 2400], [2.04238, 2.00524]))) == []


def test_negative_rl_losses_are_skipped() -> None:
    rng = np.random.default_rng(0)
    loss = np.where(rng.random(200) < 0.5, 0.0, rng.normal(0, 0.0005, 200))
    run = make_run(loss_train=(np.arange(200), loss))
    assert loss_plateau(run) == [] and loss_divergence(run) == [] and loss_at_zero(run) == []


# -- loss at zero -------------------------------------------------------------------------


def test_loss_at_zero_with_epochs() -> None:
    run = make_run(loss_train=(np.arange(10, 1010, 10), [0.0328] + [0.0] * 99))
    run.series["loss/train"].epochs = np.linspace(8.9, 889, 100)
    (s,) = loss_at_zero(run)
    assert s.step == 20 and s.data["epochs_at_end"] == pytest.approx(889)


def test_loss_at_zero_is_quiet_for_rl_runs_with_a_reward() -> None:
    run = make_run(loss_train=(np.arange(10), [0.0] * 10), reward=(np.arange(10), np.linspace(0.2, 0.3, 10)))
    assert loss_at_zero(run) == []
