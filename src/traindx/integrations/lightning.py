"""``TraindxCallback``: the probe in a PyTorch Lightning ``Trainer`` (``callbacks=[TraindxCallback()]``).

A thin adapter over the torch probe of :func:`traindx.watch`: at
``on_train_start`` it attaches to the LightningModule and the Trainer's
optimizers (and the precision plugin's GradScaler); each batch it marks the
forward start and the batch (``on_train_batch_start``), follows the loss
into the backward pass (``on_before_backward``), acts on a non-finite
gradient before the update (``on_before_optimizer_step``: with a closure,
``optimizer.step()`` begins before the forward, so its pre-hook is not
used), and reports the loss and
the end of the step (``on_train_batch_end``, at the end of each accumulation
window). The first non-finite value is traced by replaying
``training_step`` on the saved batch, with ``self.log`` silenced.

Gradient norms are taken when the backward pass ends, unscaled and before
clipping (``grad_norm/pre_clip``), which is also what Lightning's
``on_before_optimizer_step`` sees.

Works with ``lightning`` (``lightning.pytorch``) or the older
``pytorch_lightning`` package; neither is imported until the callback is
created.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

from ..probe.errors import FrameworkMissing

_SUBCLASSES: dict[type, type] = {}


def _callback_base() -> type:
    try:
        from lightning.pytorch.callbacks import Callback

        return Callback
    except ImportError:
        pass
    try:
        from pytorch_lightning.callbacks import Callback

        return Callback
    except ImportError as e:
        raise FrameworkMissing("TraindxCallback needs PyTorch Lightning: pip install lightning") from e


def _loss_of(outputs: Any) -> Any:
    if isinstance(outputs, dict):
        return outputs.get("loss")
    return outputs


@contextlib.contextmanager
def _quiet_logging(module: Any) -> Iterator[None]:
    """``self.log`` and ``self.log_dict`` do nothing while a training step is replayed."""
    saved = {k: module.__dict__.get(k) for k in ("log", "log_dict")}
    module.__dict__["log"] = lambda *a, **k: None
    module.__dict__["log_dict"] = lambda *a, **k: None
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                module.__dict__.pop(k, None)
            else:
                module.__dict__[k] = v


class TraindxCallback:
    """A Lightning ``Callback``; instances are of a subclass that also derives from the installed Lightning's ``Callback``.

    ``log_dir`` defaults to ``<trainer.default_root_dir>/traindx_probe``; other
    keywords are probe settings (``every=50``, ``on_nonfinite="skip"``, ``detail="full"``).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> "TraindxCallback":
        if cls is TraindxCallback:
            base = _callback_base()
            sub = _SUBCLASSES.get(base)
            if sub is None:
                sub = _SUBCLASSES[base] = type("TraindxCallback", (TraindxCallback, base), {"__module__": __name__})
            return sub(*args, **kwargs)  # type: ignore[no-any-return]
        return super().__new__(cls)

    def __init__(self, log_dir: str | os.PathLike[str] | None = None, *, detail: str = "default", **settings: Any) -> None:
        from ..probe.config import make_config

        super().__init__()
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.config = make_config(detail, **settings)
        self.probe: Any = None

    @property
    def state_key(self) -> str:
        return "TraindxCallback"

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if self.probe is not None:
            return
        from ..probe.torch_probe import TorchProbe

        optimizers = list(getattr(trainer, "optimizers", []) or [])
        log_dir = self.log_dir or Path(getattr(trainer, "default_root_dir", None) or ".") / "traindx_probe"
        scaler = getattr(getattr(trainer, "precision_plugin", None), "scaler", None)
        info = {"trainer": "lightning", "accumulate_grad_batches": getattr(trainer, "accumulate_grad_batches", None), "optimizers": len(optimizers)}
        self.probe = TorchProbe(
            pl_module,
            optimizers[0] if optimizers else None,
            log_dir=log_dir,
            config=self.config,
            scaler=scaler,
            framework="lightning",
            root_hooks=False,
            step_pre_hook=False,  # with a closure, optimizer.step() starts before the forward; on_before_optimizer_step is the moment
            start_step=int(getattr(trainer, "global_step", 0)),
            info=info,
        )

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
        p = self.probe
        if p is None:
            return

        def replay() -> Any:
            with _quiet_logging(pl_module):
                return pl_module.training_step(batch, batch_idx)

        def select(out: Any) -> Any:
            return _loss_of(out)

        p.guard.call("capture", p.forward_started, (batch,), {"batch_idx": batch_idx}, replay, bool(pl_module.training), select)

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: Any) -> None:
        if self.probe is not None:
            self.probe.guard.call("capture", self.probe.follow_output, loss)

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        if self.probe is not None:
            self.probe.before_step()

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        p = self.probe
        if p is None:
            return
        acc = int(getattr(trainer, "accumulate_grad_batches", 1) or 1)
        n = getattr(trainer, "num_training_batches", None)
        last = isinstance(n, int) and batch_idx + 1 >= n
        p.user_step(_loss_of(outputs), boundary=(batch_idx + 1) % acc == 0 or last)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.probe is not None:
            self.probe.close()

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.probe is not None:
            self.probe.close()
