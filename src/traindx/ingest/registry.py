"""The readers, in the order they are asked, and how a file is matched to one.

A reader is a module with ``NAME``, ``RANK`` (which reader's copy of a series
wins a tie: structured files over printed logs), ``sniff(path, head) -> float``
(0 when the file is not its format, up to 1 when sure) and ``read(source) ->
Part``. A directory reader also has ``sniff_dir(path) -> bool`` and
``read_dir(source) -> list[Part]`` and claims the whole folder (an MLflow run).

Reader modules are imported when discovery starts, not when ``traindx`` is.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from types import ModuleType

# Order matters only for ties in sniff scores.
READER_MODULES: tuple[str, ...] = (
    "probe_log",
    "hf_trainer",
    "tensorboard",
    "wandb",
    "mlflow_sqlite",
    "predictions",
    "csvlog",
    "jsonl",
    "jsonfile",
    "config",
    "samples",
    "checkpoint",
    "code",
    "textlog",
)

DIR_READER_MODULES: tuple[str, ...] = ("mlflow",)


def _load(names: tuple[str, ...]) -> tuple[ModuleType, ...]:
    mods = []
    for m in names:
        try:
            mods.append(importlib.import_module(f"traindx.ingest.{m}"))
        except ModuleNotFoundError as e:  # a reader left out of a trimmed install
            if e.name != f"traindx.ingest.{m}":
                raise
    return tuple(mods)


@lru_cache(maxsize=1)
def readers() -> tuple[ModuleType, ...]:
    return _load(READER_MODULES)


@lru_cache(maxsize=1)
def dir_readers() -> tuple[ModuleType, ...]:
    return _load(DIR_READER_MODULES)


def reader_rank(name: str) -> int:
    for m in readers() + dir_readers():
        if m.NAME == name:
            return int(getattr(m, "RANK", 0))
    return 0
