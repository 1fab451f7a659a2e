"""Helpers shared by the model and code checks: code facts as evidence, numbers in fact texts, parameter counts in words."""

from __future__ import annotations

import re
from typing import Any

from ...findings import Evidence, Symptom
from ...run import CodeFact, Run

_VALUE = re.compile(r"\(value (-?[0-9.]+(?:e[+-]?\d+)?)\)", re.IGNORECASE)


def reads_the_model(spec: Any) -> bool:
    """The model family's checks of the weights and parameter counts (TDX801-809), not the code lint
    (TDX810-826) nor what the probe saw (TDX827): what ``traindx model`` and the MCP model tools run."""
    return spec.family == "model" and spec.code < "TDX810"


def facts(run: Run, *kinds: str) -> list[CodeFact]:
    """The code facts of these kinds, in file and line order."""
    got = [f for f in run.code_facts if f.kind in kinds]
    got.sort(key=lambda f: (f.source, f.line or 0, f.kind))
    return got


def fact_value(f: CodeFact) -> float | None:
    """The number a fact states as ``(value X)``."""
    m = _VALUE.search(f.text)
    return float(m.group(1)) if m else None


def code_symptom(sid: str, code: str, severity: str, summary: str, found: list[CodeFact], max_evidence: int, **data: object) -> list[Symptom]:
    """One symptom quoting the first ``max_evidence`` facts at their ``file:line``."""
    if not found:
        return []
    return [
        Symptom(
            id=sid,
            code=code,
            severity=severity,
            summary=summary,
            evidence=[Evidence(f.text, f.where) for f in found[:max_evidence]],
            data={"count": len(found), "where": [f.where for f in found], "kinds": sorted({f.kind for f in found}), **data},
        )
    ]


def where_list(found: list[CodeFact], n: int = 3) -> str:
    out = ", ".join(f.where for f in found[:n])
    return out + (f" and {len(found) - n} more" if len(found) > n else "")


def count(n: int) -> str:
    """A parameter count as people write it: 124.4M, 5.2k, 812."""
    if n >= 1e9:
        return f"{n / 1e9:.2f}B"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.1f}k"
    return f"{n:,}"
