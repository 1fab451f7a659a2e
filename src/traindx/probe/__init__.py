"""The live probe: records what diagnosis needs from a running PyTorch loop into a run log.

``traindx.watch(model, optimizer, log_dir=...)`` is the entry point; the HF
Trainer and Lightning callbacks in :mod:`traindx.integrations` are thin
adapters over the same recorder. The log format is in :mod:`.logformat`;
``traindx diagnose`` reads it through :mod:`traindx.ingest.probe_log`.

Importing this package imports no torch: the torch parts load when a probe
is created.
"""

from __future__ import annotations

from typing import Any

from .config import ProbeConfig, make_config
from .errors import FrameworkMissing, NonFiniteError
from .logformat import VERSION as LOG_VERSION

__all__ = ["watch", "Probe", "ProbeConfig", "make_config", "NonFiniteError", "FrameworkMissing", "LOG_VERSION", "memory_figures"]


def __getattr__(name: str) -> Any:
    if name in ("watch", "Probe"):
        from . import watch as w

        return getattr(w, name)
    if name == "memory_figures":
        from .figures import memory_figures

        return memory_figures
    raise AttributeError(name)
