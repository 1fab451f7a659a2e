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

__all__ = ["__version__", "diagnose", "load_run", "Diagnosis", "Run"]


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


def __getattr__(name: str) -> Any:
    if name == "Diagnosis":
        from .diagnosis import Diagnosis

        return Diagnosis
    if name == "Run":
        from .run import Run

        return Run
    raise AttributeError(name)
