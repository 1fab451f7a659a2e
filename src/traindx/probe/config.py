"""What the probe records and how often: one dataclass, two presets (defaults and full detail).

The defaults are chosen so that leaving the probe on costs at most about 3% of
the step time on a small model (``bench/probe_overhead.py`` measures it):
every step only scalars that are cheap to read (loss, global gradient norm,
LR, timings, memory); the per-layer and per-module statistics, which cost a
pass over the weights and one hook per module, every ``every`` steps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

ON_NONFINITE = ("warn", "stop", "skip")


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of one probe.

    ``every``: per-layer gradient/update/weight norms and activation statistics
    every this many steps (and at the steps in ``extra_steps``, so that short
    runs and the first steps are covered).
    ``on_nonfinite``: what to do at the first non-finite gradient: ``warn``
    (record and go on), ``stop`` (raise :class:`~traindx.probe.errors.NonFiniteError`
    before the optimizer applies it), ``skip`` (drop the batch: the optimizer
    step sees no gradients; every later non-finite batch is dropped too).
    """

    every: int = 100
    extra_steps: tuple[int, ...] = (1, 10)
    layers: bool = True
    activations: bool = True
    invariants: bool = True
    memory: bool = True
    trace_origin: bool = True
    save_batch: bool = True
    on_nonfinite: str = "warn"
    flush_secs: float = 1.0
    max_snapshot_mb: float = 1024.0
    compare_ranks: bool | None = None  # None: when the model is wrapped in DistributedDataParallel
    rank_tolerance: float = 1e-6
    rank_timeout_s: float = 60.0
    overflow_patience: int = 50
    frozen_after: int = 3
    not_updated_after: int = 2
    detail: str = "default"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.on_nonfinite not in ON_NONFINITE:
            raise ValueError(f"on_nonfinite must be one of {', '.join(ON_NONFINITE)}, not {self.on_nonfinite!r}")
        if int(self.every) < 1:
            raise ValueError(f"every must be at least 1, not {self.every!r}")

    @classmethod
    def full(cls, **overrides: Any) -> "ProbeConfig":
        """Everything every step: the most detail, at the most cost (bench: at most 1.3x)."""
        return replace(cls(every=1, extra_steps=(), detail="full"), **overrides)

    def is_cadence(self, step: int) -> bool:
        """Whether ``step`` gets the per-layer and per-module statistics."""
        return step % self.every == 0 or step in self.extra_steps

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["extra_steps"] = list(self.extra_steps)
        return d


def make_config(detail: str = "default", **overrides: Any) -> ProbeConfig:
    """A config from a preset name (``default`` or ``full``) and keyword overrides (unknown names raise)."""
    if detail == "default":
        base = ProbeConfig()
    elif detail == "full":
        base = ProbeConfig.full()
    else:
        raise ValueError(f"detail must be 'default' or 'full', not {detail!r}")
    known = set(ProbeConfig.__dataclass_fields__)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown probe setting{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    if "extra_steps" in overrides and overrides["extra_steps"] is not None:
        overrides["extra_steps"] = tuple(int(s) for s in overrides["extra_steps"])
    return replace(base, **overrides)
