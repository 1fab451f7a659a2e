"""Build small in-memory runs for check tests (curves shaped like the ones real trainers log)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from traindx.run import ConfigValue, Run, as_series


def make_run(config: dict | None = None, unit: str = "step", **curves: tuple[Sequence[float], Sequence[float]]) -> Run:
    """``make_run(loss_train=(steps, values), lr=(steps, values))``: names use ``_`` for ``/``."""
    run = Run()
    for key, (steps, values) in curves.items():
        name = key.replace("__", "/") if "__" in key else key.replace("_", "/", 1) if key.startswith(("loss_", "accuracy_")) else key
        run.series[name] = as_series(name, steps, values, source="train.log", source_name=key, lines=range(1, len(steps) + 1), step_unit=unit)
    for k, v in (config or {}).items():
        run.config[k] = ConfigValue(k, v, "config.yaml", 1)
    return run


def noisy(n: int, start: float, end: float, noise: float, seed: int = 0) -> np.ndarray:
    """An exponential-looking decay from ``start`` to ``end`` with multiplicative noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)
    base = end + (start - end) * np.exp(-5 * t)
    return base * (1 + noise * rng.standard_normal(n))
