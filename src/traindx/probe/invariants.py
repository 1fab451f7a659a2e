"""Silent-bug invariants, judged from plain facts the adapters gather cheaply each step.

- gradients are cleared between optimizer steps (a missing ``zero_grad`` adds
  every step's gradient to the last);
- parameters that received a gradient change when the optimizer steps (a
  parameter left out of the optimizer, a stale optimizer built for another
  copy of the model);
- the model is in train mode during training steps (an evaluation that left
  ``model.eval()`` on, or batch norm / dropout layers switched off);
- parameters that never receive a gradient (a frozen layer still in the
  optimizer, or a layer disconnected from the loss).

Each violation becomes one event the first time it is seen (with the step);
the end record counts how often. Framework-free: the facts are names, steps
and booleans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

Emit = Callable[..., None]  # (kind, step, text, **data)

MAX_NAMES = 20


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


@dataclass
class ParamSeen:
    """What the cadence checks saw of one parameter."""

    requires_grad: bool
    in_optimizer: bool
    with_grad: int = 0  # checks where the gradient was present and not all zero


@dataclass
class Invariants:
    """State of the invariant checks of one probe."""

    emit: Emit
    frozen_after: int = 3
    not_updated_after: int = 2
    counts: dict[str, int] = field(default_factory=dict)
    _reported: set[str] = field(default_factory=set)
    _not_updated_run: dict[str, int] = field(default_factory=dict)
    params: dict[str, ParamSeen] = field(default_factory=dict)
    _frozen_reported: tuple | None = None
    cadence_checks: int = 0

    def _count(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def _once(self, key: str) -> bool:
        if key in self._reported:
            return False
        self._reported.add(key)
        return True

    # -- zero_grad ---------------------------------------------------------------------------------
    def grads_cleared(self, step: int, cleared: bool, param: str) -> None:
        """At the first backward after an optimizer step, whether ``param``'s gradient held only that backward's."""
        if cleared:
            return
        self._count("grad_not_cleared")
        if self._once("grad_not_cleared"):
            self.emit(
                "grad_not_cleared",
                step,
                f"gradients were not cleared between optimizer steps: after the first backward of step {step}, "
                f"{param}.grad held the previous step's gradient plus the new one (no zero_grad() between the steps)",
                param=param,
            )

    # -- updates -----------------------------------------------------------------------------------
    def updates(self, step: int, unchanged: dict[str, str]) -> None:
        """At a cadence step: parameters with a non-zero gradient that ``optimizer.step()`` left unchanged, with why (``not in the optimizer``...)."""
        for name in list(self._not_updated_run):
            if name not in unchanged:
                del self._not_updated_run[name]
        for name in unchanged:
            self._not_updated_run[name] = self._not_updated_run.get(name, 0) + 1
        stuck = sorted(n for n, c in self._not_updated_run.items() if c >= self.not_updated_after)
        if not stuck:
            return
        self._count("params_not_updated")
        if self._once("params_not_updated"):
            reasons: dict[str, list[str]] = {}
            for n in stuck:
                reasons.setdefault(unchanged[n], []).append(n)
            why = "; ".join(f"{_names(v)} ({k})" for k, v in sorted(reasons.items()))
            self.emit(
                "params_not_updated",
                step,
                f"{len(stuck)} parameter tensor{'s' if len(stuck) != 1 else ''} received non-zero gradients but did not change "
                f"when the optimizer stepped, at {self.not_updated_after} checks in a row: {why}",
                params=stuck[:MAX_NAMES],
                count=len(stuck),
                reasons={n: unchanged[n] for n in stuck[:MAX_NAMES]},
            )

    # -- train mode --------------------------------------------------------------------------------
    def mode(self, step: int, root_training: bool, eval_modules: list[str]) -> None:
        """A training step ran its forward with the model (or mode-sensitive layers in it) in eval mode."""
        if not root_training:
            self._count("eval_mode_in_training")
            if self._once("eval_mode_root"):
                self.emit(
                    "eval_mode_in_training",
                    step,
                    f"the model was in eval mode (model.training is False) during the training step {step}: dropout is off "
                    "and batch norm uses its running statistics; call model.train() before training",
                    scope="model",
                    modules=[],
                )
        elif eval_modules:
            self._count("eval_mode_in_training")
            if self._once("eval_mode_modules"):
                self.emit(
                    "eval_mode_in_training",
                    step,
                    f"{len(eval_modules)} dropout or normalization layer{'s' if len(eval_modules) != 1 else ''} "
                    f"in eval mode while the model trains at step {step}: {_names(eval_modules)}",
                    scope="modules",
                    modules=eval_modules[:MAX_NAMES],
                )

    # -- gradients that never come ------------------------------------------------------------------
    def grads_seen(self, step: int, seen: dict[str, tuple[bool, bool, bool]]) -> None:
        """At a cadence step: per parameter (requires_grad, in the optimizer, has a non-zero gradient)."""
        self.cadence_checks += 1
        for name, (rg, in_opt, has) in seen.items():
            p = self.params.get(name)
            if p is None:
                p = self.params[name] = ParamSeen(requires_grad=rg, in_optimizer=in_opt)
            p.requires_grad, p.in_optimizer = rg, in_opt
            p.with_grad += 1 if has else 0
        if self.cadence_checks == self.frozen_after:
            self._report_frozen(step)

    def frozen_summary(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {"disconnected": [], "frozen_in_optimizer": [], "frozen": []}
        for name, p in sorted(self.params.items()):
            if p.with_grad:
                continue
            if p.requires_grad:
                groups["disconnected"].append(name)
            elif p.in_optimizer:
                groups["frozen_in_optimizer"].append(name)
            else:
                groups["frozen"].append(name)
        return groups

    def _report_frozen(self, step: int) -> None:
        g = self.frozen_summary()
        key = tuple(tuple(v) for v in g.values())
        if not any(g.values()) or key == self._frozen_reported:
            return
        self._frozen_reported = key
        parts = []
        if g["disconnected"]:
            parts.append(f"{len(g['disconnected'])} never received a gradient although they require one (disconnected from the loss): {_names(g['disconnected'])}")
        if g["frozen_in_optimizer"]:
            parts.append(f"{len(g['frozen_in_optimizer'])} are frozen (requires_grad=False) but sit in the optimizer: {_names(g['frozen_in_optimizer'])}")
        if g["frozen"]:
            parts.append(f"{len(g['frozen'])} are frozen and outside the optimizer (by design, usually): {_names(g['frozen'])}")
        checks = self.cadence_checks
        self.emit(
            "frozen_params",
            step,
            f"over {checks} check{'s' if checks != 1 else ''} up to step {step}, parameter tensors without gradients: " + "; ".join(parts),
            checks=checks,
            **{k: v[:MAX_NAMES] for k, v in g.items()},
            counts={k: len(v) for k, v in g.items()},
        )

    def finish(self, step: int | None) -> None:
        """At close: report frozen parameters when fewer checks than ``frozen_after`` (but at least 2) ran, or when the picture changed."""
        if self.cadence_checks >= 2 and step is not None:
            self._report_frozen(step)

    def summary(self) -> dict[str, Any]:
        return dict(sorted(self.counts.items()))
