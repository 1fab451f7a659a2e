"""``TraindxTrainerCallback``: the probe in a HuggingFace ``Trainer`` (``callbacks=[TraindxTrainerCallback()]``).

A thin adapter: at ``on_train_begin`` it attaches the same torch probe as
:func:`traindx.watch` to the model and the optimizer the Trainer built (the
one inside accelerate's wrapper, and accelerate's GradScaler when fp16 is on),
numbers the steps like the Trainer (``state.global_step``, first step 1), ends
a step the optimizer did not take (a loss-scale overflow) at ``on_step_end``,
and closes the log at ``on_train_end``. The loss is the model's own ``loss``
output averaged over the step's micro-batches.

Gradient norms are taken when the backward pass ends, before the Trainer
clips them (``grad_norm/pre_clip``); the Trainer's ``on_pre_optimizer_step``
would see them after clipping.

transformers is not imported by this module; the callback checks that it is
installed when it is created.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..probe.errors import FrameworkMissing


def _require_transformers() -> None:
    try:
        import transformers  # noqa: F401
    except ImportError as e:
        raise FrameworkMissing("TraindxTrainerCallback needs the transformers package: pip install transformers") from e


class TraindxTrainerCallback:
    """A ``transformers.TrainerCallback`` (duck-typed, so this module imports without transformers).

    ``log_dir`` defaults to ``<output_dir>/traindx_probe``; other keywords are
    probe settings (``every=50``, ``on_nonfinite="skip"``, ``detail="full"``).
    """

    def __init__(self, log_dir: str | os.PathLike[str] | None = None, *, detail: str = "default", **settings: Any) -> None:
        _require_transformers()
        from ..probe.config import make_config

        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.config = make_config(detail, **settings)
        self.probe: Any = None

    # every Trainer event this adapter does not use is a no-op
    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return _noop
        raise AttributeError(name)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None, **kwargs: Any) -> None:
        if self.probe is not None or model is None:
            return
        from ..probe.torch_probe import TorchProbe

        log_dir = self.log_dir or Path(getattr(args, "output_dir", None) or ".") / "traindx_probe"
        scaler = getattr(optimizer, "scaler", None) if optimizer is not None else None
        info = {"trainer": "transformers.Trainer", "gradient_accumulation_steps": getattr(args, "gradient_accumulation_steps", None)}
        self.probe = TorchProbe(
            model, optimizer, log_dir=log_dir, config=self.config, scaler=scaler, framework="hf", start_step=int(getattr(state, "global_step", 0)) + 1, info=info
        )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.probe is not None:
            self.probe.boundary()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.probe is not None:
            self.probe.close()


def _noop(*args: Any, **kwargs: Any) -> None:
    return None
