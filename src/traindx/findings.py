"""What checks and rules produce: evidence, symptoms, hypotheses, requests.

These are the values the Diagnosis is made of; renderers read them, nothing
else. Every evidence item carries a ``source`` (``file:line``, ``file#step``
or ``probe``) and every number in its text comes from the artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")


def severity_rank(s: str) -> int:
    return SEVERITIES.index(s) if s in SEVERITIES else -1


@dataclass(frozen=True)
class Evidence:
    text: str
    source: str
    step: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"text": self.text, "source": self.source}
        if self.step is not None:
            d["step"] = _num(self.step)
        return d


@dataclass
class Symptom:
    """An observed problem: what, where (step), how bad, and the located evidence."""

    id: str
    code: str
    severity: str
    summary: str
    metric: str | None = None
    step: float | None = None
    step_unit: str = "step"
    evidence: list[Evidence] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # numbers for the reasoning, not rendered

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "code": self.code,
            "severity": self.severity,
            "step": None if self.step is None else _num(self.step),
            "step_unit": self.step_unit,
            "metric": self.metric,
            "summary": self.summary,
            "evidence": [e.to_dict() for e in self.evidence],
        }
        return d


@dataclass
class Hypothesis:
    """A root cause proposed by a rule, with its support, what speaks against it, and a fix."""

    id: str
    issue: str
    severity: str
    confidence: float
    explains: list[str]
    evidence: list[Evidence]
    basis: str  # why this confidence: direct, circumstantial or hypothesis, in words
    fix: str
    expected_impact: str
    verify: str
    if_not: str
    contradicts: list[Evidence] = field(default_factory=list)
    confirm: str = ""  # what would confirm it, when confidence is below the direct tier

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "issue": self.issue,
            "severity": self.severity,
            "confidence": round(self.confidence, 2),
            "explains": list(self.explains),
            "evidence": [e.to_dict() for e in self.evidence],
            "contradicting_evidence": [e.to_dict() for e in self.contradicts],
            "confidence_basis": self.basis,
            "fix": self.fix,
            "expected_impact": self.expected_impact,
            "verify": self.verify,
            "if_not": self.if_not,
            "to_confirm": self.confirm,
        }


@dataclass(frozen=True)
class Request:
    """An artifact that would settle a question the evidence leaves open."""

    need: str
    why: str
    how: str

    def to_dict(self) -> dict[str, Any]:
        return {"need": self.need, "why": self.why, "how": self.how}


@dataclass
class UserSymptom:
    """A symptom the user stated, parsed, and checked against the evidence."""

    text: str
    verdict: str  # confirmed | refuted | not checkable
    explanation: str
    parsed: dict[str, Any] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "verdict": self.verdict,
            "explanation": self.explanation,
            "parsed": self.parsed,
            "evidence": [e.to_dict() for e in self.evidence],
        }


def _num(v: float) -> float | int:
    if v == int(v) and abs(v) < 2**53:
        return int(v)
    return round(float(v), 6)
