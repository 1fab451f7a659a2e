"""What every root-cause rule shares: the context it reads, the registry, and ``make``."""

from __future__ import annotations

import math
from typing import Callable

from ...findings import Evidence, Hypothesis, Request, Symptom, severity_rank
from ...run import Run, fmt_num
from .. import confidence as conf
from ..catalog import entry, fill
from ..facts import Facts


class Context:
    """What every rule sees: the run, its facts, and the symptoms by id."""

    def __init__(self, run: Run, symptoms: list[Symptom]) -> None:
        self.run = run
        self.facts = Facts(run)
        self.symptoms = symptoms
        self.by_id: dict[str, Symptom] = {}
        for s in symptoms:
            self.by_id.setdefault(s.id, s)
        self.requests: list[Request] = []

    def sym(self, sid: str) -> Symptom | None:
        return self.by_id.get(sid)

    def request(self, need: str, why: str, how: str) -> None:
        self.requests.append(Request(need, why, how))

    # -- shared readings -----------------------------------------------------------
    def divergence(self) -> Symptom | None:
        return self.sym("loss_divergence")

    def after_divergence(self, s: Symptom | None) -> bool:
        """True when the divergence explains symptom ``s``: it starts at or after the onset, or it
        is a "no improvement" plateau over the whole run (the climb is why the loss did not improve)."""
        d = self.divergence()
        if d is None or s is None:
            return False
        if s.id == "loss_plateau" and s.data.get("kind") == "no_improvement":
            return True
        if s.step is None or d.step is None or s.step_unit != d.step_unit:
            return False
        return s.step >= d.step

    def explained_by_divergence(self) -> list[str]:
        out = ["loss_divergence"]
        for sid in ("nan_inf", "loss_plateau", "train_val_gap", "val_loss_rising", "loss_at_zero", "metric_drop", "loss_spike", "gradient_explosion"):
            if self.after_divergence(self.sym(sid)):
                out.append(sid)
        crash = self.sym("run_crashed")
        if crash is not None and crash.data.get("kinds") == ["run_status"]:
            out.append("run_crashed")  # a tracking system marking the diverged run failed
        return out

    def severity(self, ids: list[str]) -> str:
        best = "info"
        for sid in ids:
            s = self.sym(sid)
            if s is not None and severity_rank(s.severity) > severity_rank(best):
                best = s.severity
        return best


Rule = Callable[[Context], "Hypothesis | None"]
RULES: dict[str, Rule] = {}


def rule(cause: str) -> Callable[[Rule], Rule]:
    def deco(f: Rule) -> Rule:
        RULES[cause] = f
        return f

    return deco


def make(
    ctx: Context,
    cause: str,
    *,
    tier: str,
    support: int = 0,
    against: int = 0,
    explains: list[str],
    evidence: list[Evidence],
    basis: str,
    values: dict | None = None,
    contradicts: list[Evidence] | None = None,
    confirm: str = "",
    fix: str | None = None,
    expected_impact: str | None = None,
    verify: str | None = None,
    if_not: str | None = None,
    issue: str | None = None,
) -> Hypothesis:
    e = entry(cause)
    vals = values or {}
    return Hypothesis(
        id=cause,
        issue=issue or e.title,
        severity=ctx.severity(explains),
        confidence=conf.score(tier, support=support, against=against),
        explains=explains,
        evidence=[x for x in evidence if x is not None],
        basis=f"{tier}: {basis}",
        fix=fix or fill(e.fix, vals),
        expected_impact=expected_impact or fill(e.expected_impact, vals),
        verify=verify or fill(e.verify, vals),
        if_not=if_not or fill(e.if_not, vals),
        contradicts=contradicts or [],
        confirm=confirm,
    )


def round_down(v: float) -> float:
    """Two significant digits, rounded down: 3.77e-3 -> 3.7e-3."""
    if v <= 0 or not math.isfinite(v):
        return v
    e = math.floor(math.log10(v)) - 1
    return math.floor(v / 10**e + 1e-9) * 10**e


def lr_text(v: float) -> str:
    """An LR as people write it: 0.0033, 3e-04; a second significant digit only when it has one (2.5e-04)."""
    if v >= 1e-3:
        return fmt_num(v, 2)
    one = f"{v:.0e}"
    return one if math.isclose(float(one), v, rel_tol=1e-9) else f"{v:.1e}"
