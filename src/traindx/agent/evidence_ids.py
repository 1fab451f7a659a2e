"""Stable ids for the evidence of a diagnosis, computed from positions in the JSON contract.

The ids are not stored in the JSON; they are derived from it, so every existing
consumer of the contract is unaffected and the same diagnosis always gives the
same ids (the contract's lists are in a deterministic order):

=============  ==========================================================
``S3``         the 3rd entry of ``symptoms`` (its summary, step and metric)
``S3.2``       the 2nd item of ``symptoms[2].evidence``
``C1``         the 1st entry of ``root_causes`` (the top cause)
``C1.4``       the 4th item of ``root_causes[0].evidence``
``C1.x1``      the 1st item of ``root_causes[0].contradicting_evidence``
``U2.1``       the 1st item of ``user_symptoms[1].evidence``
``R1``         the 1st entry of ``requests`` (data that would settle an open question)
=============  ==========================================================

Numbering is 1-based, as a reader counts. A narrative cites them in square
brackets: ``The loss diverged at step 4200 [S1.1] ...``.
"""

from __future__ import annotations

import re
from typing import Any

ID_PATTERN = re.compile(r"\b([SCUR]\d+(?:\.x?\d+)?)\b")


def evidence_index(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every citable id of the diagnosis ``d`` (a ``Diagnosis.to_dict()``) with what it points at, in order."""
    out: dict[str, dict[str, Any]] = {}
    for i, s in enumerate(d.get("symptoms") or [], 1):
        out[f"S{i}"] = {"kind": "symptom", "id": s.get("id"), "text": s.get("summary", ""), "step": s.get("step"), "severity": s.get("severity")}
        for j, e in enumerate(s.get("evidence") or [], 1):
            out[f"S{i}.{j}"] = {"kind": "evidence", "of": f"S{i}", "text": e.get("text", ""), "source": e.get("source"), "step": e.get("step")}
    for i, c in enumerate(d.get("root_causes") or [], 1):
        out[f"C{i}"] = {"kind": "cause", "id": c.get("id"), "text": c.get("issue", ""), "confidence": c.get("confidence"), "severity": c.get("severity")}
        for j, e in enumerate(c.get("evidence") or [], 1):
            out[f"C{i}.{j}"] = {"kind": "evidence", "of": f"C{i}", "text": e.get("text", ""), "source": e.get("source"), "step": e.get("step")}
        for j, e in enumerate(c.get("contradicting_evidence") or [], 1):
            out[f"C{i}.x{j}"] = {"kind": "contradicting", "of": f"C{i}", "text": e.get("text", ""), "source": e.get("source"), "step": e.get("step")}
    for i, u in enumerate(d.get("user_symptoms") or [], 1):
        for j, e in enumerate(u.get("evidence") or [], 1):
            out[f"U{i}.{j}"] = {"kind": "user_symptom_evidence", "of": u.get("text", ""), "text": e.get("text", ""), "source": e.get("source"), "step": e.get("step")}
    for i, r in enumerate(d.get("requests") or [], 1):
        out[f"R{i}"] = {"kind": "request", "text": r.get("need", ""), "why": r.get("why", ""), "how": r.get("how", "")}
    return out


def cited(text: str) -> list[str]:
    """The ids cited in ``text`` inside square brackets (``[S1.2]``, ``[C1, C1.3]``), in order, without repeats."""
    out: list[str] = []
    for group in re.findall(r"\[([^\[\]]{1,200})\]", text):
        for m in ID_PATTERN.finditer(group):
            if m.group(1) not in out:
                out.append(m.group(1))
    return out
