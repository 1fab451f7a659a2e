"""Facts the rules reason with, read once from the Run: the learning rate, gradients, precision,
and the schedule switches (sequence length, batch size, curriculum stage) around a divergence."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..checks.evidence import at
from ..checks.stats import MAX_POINTS, nearest_index, smoothing_window
from ..findings import Evidence, Symptom
from ..ingest.names import is_schedule
from ..run import ConfigValue, Run, Series, fmt_num, times, to_float

# Config keys of the learning rate, the most specific first. ``*_lr`` stands for any key whose
# last part ends in ``_lr`` (``muon_lr``, ``optimizer.head_lr``), except the floors and starting
# points of a schedule (LR_NOT_PEAK); with several, the largest value is the one named.
LR_KEYS = ("peak_lr", "max_lr", "learning_rate", "lr", "base_lr", "optimizer.lr", "optim.lr", "train.lr", "*_lr")
LR_NOT_PEAK = ("min_", "final_", "end_", "init_", "initial_", "start_", "warmup_", "eta_min")
WARMUP_KEYS = ("warmup_steps", "warmup_iters", "lr_warmup_iters", "warmup_updates", "num_warmup_steps", "warmup_ratio", "warmup_epochs")
OPTIMIZER_KEYS = ("optimizer", "optim", "optimizer.name", "optimizer.type", "optimizer._target_", "optimizer_type")
FP16_KEYS = ("fp16", "amp", "use_amp", "mixed_precision", "precision", "dtype")


@dataclass(frozen=True)
class LRAt:
    value: float
    evidence: Evidence


@dataclass(frozen=True)
class StepChange:
    """A schedule series switching level between two logged points: ``before`` at point
    ``index - 1``, ``after`` from point ``index`` on."""

    series: Series
    index: int
    before: float
    after: float

    @property
    def name(self) -> str:
        return self.series.source_name

    @property
    def step(self) -> float:
        return float(self.series.steps[self.index])

    @property
    def evidence(self) -> Evidence:
        s, i = self.series, self.index
        return Evidence(
            f"{self.name} {fmt_num(self.before)} -> {fmt_num(self.after)} at {at(s, i)} "
            f"({fmt_num(self.before)} at {at(s, i - 1)}, {s.where(i - 1)})",
            s.where(i),
            self.step,
        )

    @property
    def text(self) -> str:
        return f"{self.name} switched {fmt_num(self.before)} -> {fmt_num(self.after)} at {at(self.series, self.index)} ({self.series.where(self.index)})"


def step_change(series: Series, lo: float, hi: float, *, range_share: float = 0.1, stand_out: float = 5.0, local: int = 5) -> StepChange | None:
    """The largest level switch of ``series`` that falls between steps ``lo`` and ``hi``.

    A switch between points ``k-1`` and ``k`` counts when the interval between them
    meets ``[lo, hi]``, the jump is at least ``range_share`` (10%) of the series' range over
    the run (smaller increments are the rungs of a ramp, the gradual schedule that
    sequence-length warmup recommends: Li, Zhang & He 2022), and it is at least
    ``stand_out`` (5) times every other change within ``local`` (5) points on either side
    (a schedule holds its level between switches; a series that moves every batch, such
    as fairseq's token-bucketed ``bsz``, has no switch to stand out).
    """
    f = series.finite_part()
    n = len(f)
    if n < 2:
        return None
    v, st = f.values, f.steps
    rng = float(v.max() - v.min())
    if rng <= 0:
        return None
    d = np.abs(np.diff(v))
    best: StepChange | None = None
    # switches between points k-1 and k with steps[k] >= lo and steps[k-1] < hi
    k_lo = max(1, int(np.searchsorted(st, lo, side="left")))
    k_hi = min(n - 1, int(np.searchsorted(st, hi, side="left")))
    for k in range(k_lo, k_hi + 1):
        i = k - 1
        if d[i] <= 0:
            continue
        jump = float(d[i])
        if jump < range_share * rng:
            continue
        near = np.concatenate([d[max(0, i - local) : i], d[i + 1 : i + 1 + local]])
        if near.size and jump < stand_out * float(near.max()):
            continue
        if best is None or jump > abs(best.after - best.before):
            best = StepChange(f, k, float(v[k - 1]), float(v[k]))
    return best


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
            got = self._suffix_lr() if key == "*_lr" else self.run.config_number(key)
            if got is not None and got[0] > 0:
                return got
        return None

    def _suffix_lr(self) -> tuple[float, ConfigValue] | None:
        """The largest positive number under a key ending in ``_lr`` that is not a floor or a start."""
        found: list[tuple[float, str, ConfigValue]] = []
        for key, cv in self.run.config.items():
            last = key.rsplit(".", 1)[-1].lower()
            if not last.endswith("_lr") or last.startswith(LR_NOT_PEAK):
                continue
            v = to_float(cv.value)
            if v is not None and v > 0 and math.isfinite(v):
                found.append((v, key, cv))
        if not found:
            return None
        v, _, cv = max(found, key=lambda t: (t[0], t[1]))
        return v, cv

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

    # -- schedule switches at a divergence ------------------------------------
    def onset_window(self, d: Symptom) -> tuple[float, float] | None:
        """The steps a cause of divergence ``d`` may switch at to coincide with its onset.

        From half the divergence check's smoothing window before the onset (the onset is
        a change point on a rolling median, so a gradual climb is flagged up to that many
        points after it began), but never before the loss's best point, to the next logged
        point after the onset.
        """
        s = self.run.get(d.metric or "loss/train")
        if s is None or d.data.get("onset_step") is None:
            return None
        fin = s.finite_part()
        n = len(fin)
        if n < 2:
            return None
        onset = int(np.searchsorted(fin.steps, float(d.data["onset_step"]), side="left"))
        onset = min(onset, n - 1)
        best = int(np.searchsorted(fin.steps, float(d.data.get("best_step", fin.steps[0])), side="left"))
        m = min(n, MAX_POINTS)
        half = max(1, (smoothing_window(m) // 2) * max(1, n // m))
        lo = max(onset - half, min(best + 1, onset))
        hi = min(n - 1, onset + 1)
        return float(fin.steps[lo]), float(fin.steps[hi])

    def schedule_switch(self, d: Symptom) -> StepChange | None:
        """The largest switch of a logged schedule series (sequence length, batch size,
        curriculum stage, mixture weight) that coincides with the onset of divergence ``d``."""
        win = self.onset_window(d)
        if win is None:
            return None
        got: list[StepChange] = []
        for name in sorted(self.run.series):
            s = self.run.series[name]
            if s.step_unit != d.step_unit or not is_schedule(name):
                continue
            c = step_change(s, *win)
            if c is not None:
                got.append(c)
        if not got:
            return None
        # the largest relative switch; names break ties so the answer does not depend on order
        return max(got, key=lambda c: (abs(c.after - c.before) / max(abs(c.before), abs(c.after)), c.series.name))

    def lr_step_up(self, d: Symptom) -> StepChange | None:
        """A jump up of the logged LR (a restart, a step up) that coincides with the onset of ``d``."""
        if self.lr is None or self.lr.step_unit != d.step_unit:
            return None
        win = self.onset_window(d)
        if win is None:
            return None
        c = step_change(self.lr, *win)
        return c if c is not None and c.after > c.before else None

    def schedule_key(self, c: StepChange) -> str:
        """The config key that sets switched series ``c`` (one holding its new value first),
        else the name the log gave the series."""
        names = {c.series.name, c.name}
        hits = []
        for key in sorted(self.run.config):
            last = key.rsplit(".", 1)[-1]
            if last in names or key in names:
                v = to_float(self.run.config[key].value)
                if v is not None:
                    hits.append((v != c.after, key))
        return min(hits)[1] if hits else c.name

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
