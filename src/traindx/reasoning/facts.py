"""Facts the rules reason with, read once from the Run: the learning rate, gradients, precision."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks.evidence import at
from ..checks.stats import nearest_index
from ..findings import Evidence
from ..run import ConfigValue, Run, Series, fmt_num, times, to_float

LR_KEYS = ("peak_lr", "max_lr", "learning_rate", "lr", "base_lr", "optimizer.lr", "optim.lr", "train.lr")
WARMUP_KEYS = ("warmup_steps", "warmup_iters", "lr_warmup_iters", "warmup_updates", "num_warmup_steps", "warmup_ratio", "warmup_epochs")
OPTIMIZER_KEYS = ("optimizer", "optim", "optimizer.name", "optimizer.type", "optimizer._target_", "optimizer_type")
FP16_KEYS = ("fp16", "amp", "use_amp", "mixed_precision", "precision", "dtype")


@dataclass(frozen=True)
class LRAt:
    value: float
    evidence: Evidence


class Facts:
    """Read-only views of the run that several rules share."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.lr: Series | None = self._finite(run.get("lr"))
        self.grad: Series | None = self._finite(run.first("grad_norm", "grad_norm/pre_clip", "grad_norm/post_clip"))
        self.loss_scale: Series | None = self._finite(run.get("loss_scale"))

    @staticmethod
    def _finite(s: Series | None) -> Series | None:
        if s is None:
            return None
        f = s.finite_part()
        return f if len(f) else None

    # -- learning rate --------------------------------------------------------
    @property
    def lr_config(self) -> tuple[float, ConfigValue] | None:
        for key in LR_KEYS:
            got = self.run.config_number(key)
            if got is not None and got[0] > 0:
                return got
        return None

    @property
    def lr_key(self) -> str:
        cfg = self.lr_config
        return cfg[1].key if cfg is not None else "the learning rate"

    @property
    def optimizer(self) -> str:
        for key in OPTIMIZER_KEYS:
            cv = self.run.config_value(key)
            if cv is not None and isinstance(cv.value, str):
                return cv.value.lower()
        return ""

    @property
    def adaptive(self) -> bool | None:
        """True for Adam-like optimizers, False for SGD, None when unknown."""
        o = self.optimizer
        if not o:
            return None
        if any(k in o for k in ("adam", "lion", "adafactor", "rmsprop", "lamb", "muon", "sophia")):
            return True
        if "sgd" in o or "momentum" in o:
            return False
        return None

    def lr_is_extreme_high(self, lr: float) -> bool:
        """An LR outside what any run of this optimizer family uses (UMLAUT's sane range tops out at 0.01)."""
        if self.adaptive is False:
            return lr > 1.0
        if self.adaptive is True:
            return lr > 1e-2
        return lr > 0.5

    def lr_is_extreme_low(self, lr: float) -> bool:
        """An LR below 1e-7 (UMLAUT's lower bound) or below 1e-6 for SGD."""
        if self.adaptive is False:
            return lr < 1e-5
        return lr < 1e-7

    def lr_at(self, step: float, unit: str) -> LRAt | None:
        """The logged LR at ``step`` (the last value at or before it), else the configured one."""
        if self.lr is not None and self.lr.step_unit == unit:
            i = int(np.searchsorted(self.lr.steps, step, side="right")) - 1
            i = max(0, min(i, len(self.lr) - 1))
            return LRAt(
                float(self.lr.values[i]),
                Evidence(f"learning rate {fmt_num(float(self.lr.values[i]))} at {at(self.lr, i)}", self.lr.where(i), float(self.lr.steps[i])),
            )
        cfg = self.lr_config
        if cfg is not None:
            v, cv = cfg
            return LRAt(v, Evidence(f"{cv.key} = {fmt_num(v)} in the config", cv.where, None))
        return None

    @property
    def lr_constant(self) -> bool:
        """The logged LR never changes (by more than 1%): its "peak" says nothing."""
        if self.lr is None or len(self.lr) < 2:
            return True
        lo, hi = float(self.lr.values.min()), float(self.lr.values.max())
        return hi <= lo * 1.01

    def lr_peak(self) -> tuple[float, int] | None:
        if self.lr is None:
            return None
        i = int(np.argmax(self.lr.values))
        return float(self.lr.values[i]), i

    def lr_rise(self, start: float, end: float, unit: str) -> tuple[float, float, int, int] | None:
        """(lr at start, lr at end, i, j) when the logged LR rose between two steps."""
        if self.lr is None or self.lr.step_unit != unit:
            return None
        i = max(0, int(np.searchsorted(self.lr.steps, start, side="right")) - 1)
        j = max(0, int(np.searchsorted(self.lr.steps, end, side="right")) - 1)
        a, b = float(self.lr.values[i]), float(self.lr.values[j])
        return a, b, i, j

    # -- gradients -------------------------------------------------------------
    def grad_jump(self, step: float, unit: str, *, before: int = 50, window: int = 5) -> tuple[float, Evidence] | None:
        """How many times its earlier median the grad norm is around ``step`` (max over a few points)."""
        g = self.grad
        if g is None or g.step_unit != unit or len(g) < 4:
            return None
        i = nearest_index(g.steps, step)
        lo = max(0, i - before)
        base = g.values[lo:max(lo + 1, i - 1)]
        if base.size < 3:
            return None
        med = float(np.median(base))
        if med <= 0 or not math.isfinite(med):
            return None
        hi = min(len(g), i + window)
        k = i + int(np.argmax(g.values[i:hi])) if hi > i else i
        ratio = float(g.values[k]) / med
        return ratio, Evidence(
            f"grad norm {fmt_num(float(g.values[k]))} at {at(g, k)}, {times(ratio)} its median {fmt_num(med)} over the {base.size} points before",
            g.where(k),
            float(g.steps[k]),
        )

    # -- precision ---------------------------------------------------------------
    def fp16(self) -> Evidence | None:
        for key in FP16_KEYS:
            cv = self.run.config_value(key)
            if cv is None:
                continue
            v = str(cv.value).lower()
            if v in ("true", "1", "fp16", "float16", "16", "16-mixed", "half", "o1", "o2") or (key == "fp16" and cv.value is True):
                return Evidence(f"{cv.key} = {cv.value} in the config", cv.where, None)
        return None

    def overflow_events_before(self, step: float | None) -> list:
        evs = self.run.events_of("loss_scale_overflow", "loss_scale_min")
        if step is None:
            return evs
        return [e for e in evs if e.step is None or e.step <= step]


def number(v: object) -> float | None:
    return to_float(v)
