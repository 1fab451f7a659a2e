"""``traindx.watch``: attach the probe to a PyTorch model and optimizer.

::

    probe = traindx.watch(model, optimizer, log_dir="runs/exp42")
    for batch in loader:
        loss = ...; loss.backward(); optimizer.step(); optimizer.zero_grad()
        probe.step(loss)        # optional: the optimizer hook ends each step
    probe.close()               # or use ``with traindx.watch(...) as probe:``

then ``traindx diagnose runs/exp42``.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path
from typing import Any

from .config import make_config


class Probe:
    """A running probe: ``step(loss)`` per step (optional), ``close()`` at the end (also at interpreter exit)."""

    def __init__(self, impl: Any) -> None:
        from .torch_probe import finalizer

        self._impl = impl
        self._atexit = finalizer(impl)
        atexit.register(self._atexit)

    @property
    def log_dir(self) -> Path:
        return self._impl.log_dir

    @property
    def log_path(self) -> Path:
        """This rank's log file."""
        return self._impl.recorder.path

    @property
    def config(self) -> Any:
        return self._impl.config

    @property
    def disabled(self) -> dict[str, str]:
        """Parts turned off after an error inside the probe, with the error."""
        return dict(self._impl.guard.disabled)

    @property
    def first_nonfinite_step(self) -> int | None:
        return self._impl.first_nonfinite_step

    def step(self, loss: Any = None, *, step: int | None = None) -> None:
        """Report this step's loss (a tensor or a number); ends the step when no optimizer hook did."""
        self._impl.user_step(loss, step)

    def flush(self) -> None:
        """Write everything recorded so far to the log."""
        self._impl.flush()

    def close(self) -> None:
        """Remove the hooks, write the end record and close the log."""
        self._impl.close()
        try:
            atexit.unregister(self._atexit)
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> "Probe":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def watch(
    model: Any,
    optimizer: Any = None,
    log_dir: str | os.PathLike[str] = "traindx_probe",
    *,
    scaler: Any = None,
    detail: str = "default",
    on_nonfinite: str = "warn",
    **settings: Any,
) -> Probe:
    """Watch a PyTorch training loop and write a run log that ``traindx diagnose`` reads.

    ``model`` is the module the loop calls (DataParallel, DistributedDataParallel
    and torch.compile wrappers are fine); ``optimizer`` the torch optimizer whose
    ``step()`` ends a training step (recommended: without it there are no update
    ratios and no action before a non-finite step is applied); ``scaler`` the
    ``torch.amp.GradScaler`` when one is used (its overflow steps are then not
    reported as NaN, and the loss scale is logged). ``detail`` is ``"default"``
    or ``"full"`` (everything every step); ``on_nonfinite`` is ``"warn"``,
    ``"stop"`` or ``"skip"``. Other settings are the fields of
    :class:`~traindx.probe.config.ProbeConfig` (``every=50``, ``activations=False``...).
    Each rank of a distributed run writes ``probe-rank<N>.jsonl`` in ``log_dir``.
    """
    from .torch_probe import TorchProbe

    config = make_config(detail, on_nonfinite=on_nonfinite, **settings)
    impl = TorchProbe(model, optimizer, log_dir=Path(log_dir), config=config, scaler=scaler, framework="torch")
    return Probe(impl)
