"""The metric-name table maps what real tools write to canonical names, and keeps the rest verbatim."""

from __future__ import annotations

import pytest

from traindx.ingest.names import canonical


@pytest.mark.parametrize(
    "raw, expected",
    [
        # training loss
        ("loss", "loss/train"),
        ("train/loss", "loss/train"),
        ("train_loss", "loss/train"),
        ("train loss", "loss/train"),
        ("lm loss", "loss/train"),
        ("trl", "loss/train"),
        ("Loss", "loss/train"),
        ("train_loss_step", "loss/train"),
        ("train_loss_epoch", "loss/train"),
        ("epoch_loss", "loss/train"),
        # held-out loss
        ("val_loss", "loss/val"),
        ("eval_loss", "loss/val"),
        ("validation/loss", "loss/val"),
        ("loss_val", "loss/val"),
        ("valid_loss", "loss/val"),
        ("val loss", "loss/val"),
        ("eval/loss", "loss/val"),
        ("tel", "loss/val"),
        ("lm loss value", "loss/val"),
        ("test_loss", "loss/test"),
        # other splits and quantities
        ("val_accuracy", "accuracy/val"),
        ("accuracy", "accuracy/train"),
        ("eval_wer", "wer/val"),
        ("test_err", "error/test"),
        ("train_perplexity_step", "perplexity/train"),
        ("valid_nll_loss", "nll_loss/val"),
        ("ppl", "perplexity/train"),
        # optimizer and system
        ("grad_norm", "grad_norm"),
        ("grad norm", "grad_norm"),
        ("gnorm", "grad_norm"),
        ("norm", "grad_norm"),
        ("learning_rate", "lr"),
        ("learning rate", "lr"),
        ("lr", "lr"),
        ("train/learning_rate", "lr"),
        ("loss scale", "loss_scale"),
        ("loss_scale", "loss_scale"),
        ("number of skipped iterations", "skipped_steps"),
        ("number of nan iterations", "nan_steps"),
        ("elapsed time per iteration (ms)", "step_time_ms"),
        ("tok/s", "throughput"),
    ],
)
def test_known_names(raw: str, expected: str) -> None:
    assert canonical(raw) == expected


@pytest.mark.parametrize("raw", ["eval_runtime", "epoch_time", "best_loss", "per_class_accuracy", "evaluation_loss_vs_iterations", "rewards/chosen", "mfu_custom"])
def test_unknown_or_ambiguous_names_are_kept_verbatim(raw: str) -> None:
    assert canonical(raw) == raw


def test_split_hint_applies_only_when_the_name_has_no_split() -> None:
    assert canonical("epoch_loss", split_hint="val") == "loss/val"
    assert canonical("loss", split_hint="val") == "loss/val"
    assert canonical("nll_loss", split_hint="val") == "nll_loss/val"
    assert canonical("train_loss", split_hint="val") == "loss/train"
    assert canonical("grad_norm", split_hint="val") == "grad_norm"
