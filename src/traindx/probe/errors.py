"""Exceptions the probe raises on purpose (everything else it catches, see :mod:`.guard`)."""

from __future__ import annotations


class NonFiniteError(RuntimeError):
    """Raised with ``on_nonfinite="stop"`` at the first non-finite gradient, before the optimizer applies it.

    ``step`` is the step, ``origin`` the module and phase found by replaying the
    batch (a dict, empty when tracing was off or found nothing), ``batch_file``
    the saved batch (or None).
    """

    def __init__(self, message: str, *, step: int, origin: dict | None = None, batch_file: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.origin = origin or {}
        self.batch_file = batch_file


class FrameworkMissing(ImportError):
    """An integration was used without its framework installed."""
