"""Evidence builders: a point of a series quoted with its value, step and location."""

from __future__ import annotations

from ..findings import Evidence
from ..run import Series, fmt_num, fmt_step


def step_word(series: Series) -> str:
    return "epoch" if series.step_unit == "epoch" else "step"


def at(series: Series, i: int) -> str:
    """``step 420`` or ``epoch 3`` for point ``i``."""
    return f"{step_word(series)} {fmt_step(float(series.steps[i]))}"


def point(series: Series, i: int, what: str | None = None) -> Evidence:
    """``<name> <value> at step <s>`` located at the point's own line."""
    label = what or series.source_name
    return Evidence(
        text=f"{label} {fmt_num(float(series.values[i]))} at {at(series, i)}",
        source=series.where(i),
        step=float(series.steps[i]),
    )


def span(series: Series, i: int, j: int, what: str | None = None, suffix: str = "") -> Evidence:
    """``<name> a -> b (+x%) from step s to step t``, located at the later point."""
    label = what or series.source_name
    a, b = float(series.values[i]), float(series.values[j])
    change = f" ({(b - a) / abs(a) * 100:+.0f}%)" if a != 0 else ""
    return Evidence(
        text=f"{label} {fmt_num(a)} -> {fmt_num(b)}{change} from {at(series, i)} to {at(series, j)}{suffix}",
        source=series.where(j),
        step=float(series.steps[j]),
    )
