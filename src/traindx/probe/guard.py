"""The probe never crashes the loop it watches: each part runs under a guard.

A part (``layers``, ``activations``, ``nan``, ``invariants``, ``memory``,
``ranks``, ...) that raises is disabled for the rest of the run; the error is
logged once through the ``traindx.probe`` logger and written to the run log
as a ``probe`` record, so the missing series is explained. Errors the probe
raises on purpose (:class:`~traindx.probe.errors.NonFiniteError`) pass through.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from .errors import NonFiniteError

log = logging.getLogger("traindx.probe")

T = TypeVar("T")


class Guard:
    """Runs probe parts, disabling a part at its first error."""

    def __init__(self, report: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.disabled: dict[str, str] = {}
        self._report = report

    def on(self, part: str) -> bool:
        return part not in self.disabled

    def call(self, part: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``fn(*args, **kwargs)``, or None when the part is off or ``fn`` raised (which turns it off)."""
        if part in self.disabled:
            return None
        try:
            return fn(*args, **kwargs)
        except NonFiniteError:
            raise
        except Exception as e:  # noqa: BLE001 - the probe must never break the training loop
            self.fail(part, e)
            return None

    def fail(self, part: str, e: BaseException) -> None:
        """Turn ``part`` off because of ``e``: log once, record why."""
        if part in self.disabled:
            return
        msg = f"{type(e).__name__}: {e}".strip()
        first_line = msg.splitlines()[0] if msg else type(e).__name__
        self.disabled[part] = first_line[:300]
        log.warning("traindx probe: %s disabled after an error (%s); training goes on", part, first_line[:300])
        if self._report is not None:
            try:
                self._report({"kind": "probe", "what": "disabled", "part": part, "error": first_line[:300]})
            except Exception:  # noqa: BLE001 - reporting must not fail either
                pass
