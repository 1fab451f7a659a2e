"""traindx: an evidence-based debugger for machine-learning training runs.

The public API is small and imports nothing heavy until it is used::

    import traindx
    diagnosis = traindx.diagnose(["runs/exp42"])
    print(diagnosis.status, [c.id for c in diagnosis.root_causes])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from .diagnosis import Diagnosis
    from .run import Run

__all__ = ["__version__", "diagnose", "load_run", "watch", "Diagnosis", "Run"]


def load_run(paths: Any) -> "Run":
    """Read the artifacts under ``paths`` (a path or a list of paths) into a Run."""
    from .ingest.discover import discover

    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    return discover(list(paths))


def diagnose(paths: Any, *, symptoms: list[str] | None = None, context: dict | None = None) -> "Diagnosis":
    """Diagnose the run under ``paths``: symptoms, ranked root causes, fixes."""
    from .engine import diagnose_paths

    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    return diagnose_paths(list(paths), user_symptoms=symptoms or [], context=context)


def watch(model: Any, optimizer: Any = None, log_dir: Any = "traindx_probe", **settings: Any) -> Any:
    """Attach the live probe to a PyTorch model and optimizer; see :func:`traindx.probe.watch.watch`.

    Returns a :class:`~traindx.probe.watch.Probe` (``probe.step(loss)``,
    ``probe.close()``, usable as a context manager). torch is imported here,
    not when ``traindx`` is.
    """
    from .probe.watch import watch as _watch

    return _watch(model, optimizer, log_dir, **settings)


def __getattr__(name: str) -> Any:
    if name == "Diagnosis":
        from .diagnosis import Diagnosis

        return Diagnosis
    if name == "Run":
        from .run import Run

        return Run
    raise AttributeError(name)
