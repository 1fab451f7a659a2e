"""The check registry: one decorator, one table of codes, what each check needs.

A check is a pure function ``(run, **thresholds) -> Iterable[Symptom]``,
registered with a stable code (``TDX1xx`` loss, ``2xx`` gradients and weights,
``3xx`` optimizer and LR, ``4xx`` generalization, ``5xx`` data, ``6xx`` system,
``7xx`` outputs, ``8xx`` model and code, ``9xx`` ingest), the symptom id it
emits, and the signals it requires. Thresholds are keyword-only parameters
with defaults; the docstring is the documentation (sections: Symptom, Why it
matters, Evidence, Likely causes, Fix, Known false positives).

When a check's required signals are absent, the engine does not call it and
turns its declared ``request`` into a request for more data.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..findings import Request, Symptom
from ..run import Run

DOC_SECTIONS = ("Symptom", "Why it matters", "Evidence", "Likely causes", "Fix", "Known false positives")

CHECK_MODULES: tuple[str, ...] = (
    "loss.divergence",
    "loss.spike",
    "loss.nan_inf",
    "loss.plateau",
    "loss.slow_convergence",
    "loss.oscillation",
    "loss.at_zero",
    "loss.nan_origin",
    "gradients.explosion",
    "gradients.vanishing",
    "gradients.dead_units",
    "gradients.frozen_params",
    "gradients.grad_not_cleared",
    "optimizer.params_not_updated",
    "generalization.val_loss_rising",
    "generalization.train_val_gap",
    "generalization.suspicious_eval",
    "generalization.metric_drop",
    "data.minority_class",
    "system.crashed",
    "system.oom",
    "system.loss_scale",
    "system.memory",
    "system.throughput",
    "system.rank_drift",
    "outputs.degenerate",
    "ingest_checks.warnings",
    "ingest_checks.log_warnings",
    "model.param_imbalance",
    "model.nonfinite_weights",
    "model.degenerate_weights",
    "model.weight_norm_explosion",
    "model.dead_embedding_rows",
    "model.overtrained_layers",
    "model.undertrained_layers",
    "model.code_no_zero_grad",
    "model.code_zero_grad_after_backward",
    "model.code_step_before_backward",
    "model.code_tensor_accumulation",
    "model.code_eval_without_no_grad",
    "model.code_eval_mode_missing",
    "model.code_train_mode_not_restored",
    "model.code_eval_on_train_data",
    "model.code_test_used_for_selection",
    "model.code_softmax_before_ce",
    "model.code_sigmoid_before_bce",
    "model.code_wrong_loss",
    "model.code_not_reproducible",
    "model.code_no_grad_clip",
    "model.code_fit_before_split",
    "model.code_dropout_too_high",
    "model.code_lr_out_of_range",
    "model.eval_mode_in_training",
)

Requirement = str | tuple[str, ...]  # a series name, or alternatives of which one suffices


@dataclass(frozen=True)
class CheckSpec:
    code: str
    emits: str
    name: str
    family: str
    func: Callable[..., Iterable[Symptom]]
    requires: tuple[Requirement, ...]
    request: Request | None
    defaults: dict[str, Any] = field(default_factory=dict)

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "")

    @property
    def title(self) -> str:
        return self.doc.splitlines()[0] if self.doc else self.name

    def missing(self, run: Run) -> list[Requirement]:
        out: list[Requirement] = []
        for req in self.requires:
            alts = (req,) if isinstance(req, str) else req
            if not any(run.has(a) for a in alts):
                out.append(req)
        return out

    def run(self, run: Run, overrides: dict[str, Any] | None = None) -> list[Symptom]:
        kwargs = {k: v for k, v in (overrides or {}).items() if k in self.defaults}
        return list(self.func(run, **kwargs))


_REGISTRY: dict[str, CheckSpec] = {}


def check(
    *,
    code: str,
    emits: str,
    requires: tuple[Requirement, ...] = (),
    request: Request | None = None,
) -> Callable[[Callable[..., Iterable[Symptom]]], Callable[..., Iterable[Symptom]]]:
    """Register a check under ``code``; codes are never reused."""

    def deco(func: Callable[..., Iterable[Symptom]]) -> Callable[..., Iterable[Symptom]]:
        if code in _REGISTRY and _REGISTRY[code].func.__qualname__ != func.__qualname__:
            raise ValueError(f"check code {code} is already used by {_REGISTRY[code].name}")
        sig = inspect.signature(func)
        defaults = {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty
        }
        family = func.__module__.rsplit(".", 2)[-2] if "." in func.__module__ else ""
        _REGISTRY[code] = CheckSpec(
            code=code,
            emits=emits,
            name=func.__name__,
            family=family,
            func=func,
            requires=requires,
            request=request,
            defaults=defaults,
        )
        return func

    return deco


def all_checks() -> list[CheckSpec]:
    """Every registered check, in code order (imports the check modules on first use)."""
    for m in CHECK_MODULES:
        importlib.import_module(f"traindx.checks.{m}")
    return [_REGISTRY[c] for c in sorted(_REGISTRY)]


def get_check(code_or_id: str) -> CheckSpec | None:
    """A check by code (``TDX101``) or by the symptom id it emits (``loss_divergence``)."""
    key = code_or_id.strip()
    for spec in all_checks():
        if spec.code.lower() == key.lower() or spec.emits == key or spec.name == key:
            return spec
    return None
