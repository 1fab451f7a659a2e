"""The Diagnosis: the one value every renderer reads, and its JSON contract.

When the run holds a model (a checkpoint, a safetensors file, an HF
``config.json``), the contract carries a compact ``model`` block: its source,
parameter counts, dtypes and bytes, the share of each parameter group, the
verdict of the parameter-balance check and whether the output head is tied.
The per-layer table stays with ``traindx model``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .findings import Hypothesis, Request, Symptom, UserSymptom
from .run import Run

SCHEMA_VERSION = "1.0"
MAX_LISTED_SKIPPED = 200
MAX_LISTED_ISSUES = 100


@dataclass
class Diagnosis:
    status: str  # diagnosis_complete | needs_more_data | healthy
    run: Run
    symptoms: list[Symptom]
    root_causes: list[Hypothesis]
    requests: list[Request]
    user_symptoms: list[UserSymptom] = field(default_factory=list)
    quick_fixes: list[str] = field(default_factory=list)
    analysis_artifacts: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)
    task: str | None = None
    checks_run: list[str] = field(default_factory=list)
    time_limit: dict[str, Any] | None = None  # set when a max_analysis_time was given (engine.Deadline.to_dict)

    @property
    def top_cause(self) -> Hypothesis | None:
        return self.root_causes[0] if self.root_causes else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (DESIGN.md): plain types only, deterministic order, no NaN."""
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "status": self.status,
            "summary": self.headline(),
            "run": run_section(self.run),
            "symptoms": [s.to_dict() for s in self.symptoms],
            "root_causes": [h.to_dict() for h in self.root_causes],
            "unexplained_symptoms": list(self.unexplained),
            "quick_fixes": list(self.quick_fixes),
            "requests": [r.to_dict() for r in self.requests],
            "user_symptoms": [u.to_dict() for u in self.user_symptoms],
            "analysis_artifacts": dict(sorted(self.analysis_artifacts.items())),
            "checks_run": list(self.checks_run),
            "errors": list(self.errors),
        }
        if self.task:
            d["task"] = self.task
        if self.time_limit is not None:
            d["time_limit"] = dict(self.time_limit)
        model = model_section(self)
        if model is not None:
            d["model"] = model
        return clean(d)

    def headline(self) -> str:
        """One sentence: the status and the top cause or the main symptom."""
        top = self.top_cause
        if self.status == "healthy":
            n = len(self.run.series)
            return f"No problem found in {n} series from {len(self.run.sources)} file(s)."
        if top is not None and top.confidence >= 0.8:
            return f"{top.issue} (confidence {top.confidence:.2f})."
        if self.symptoms:
            s = self.symptoms[0]
            lead = f"{s.summary[0].upper()}{s.summary[1:]}"
            if top is not None:
                return f"{lead}. Most likely: {top.issue.lower()} (confidence {top.confidence:.2f}); more data needed to confirm."
            return f"{lead}. No cause can be named from this evidence; more data needed."
        if not self.run.series:
            return "No training metrics could be read; more data needed."
        return "More data needed."


def run_section(run: Run) -> dict[str, Any]:
    sources = [
        {"path": s.path, "reader": s.reader, "format": s.detail or s.reader, "series": s.series, "events": s.events}
        for s in sorted(run.sources, key=lambda s: s.path)
    ]
    skipped_all = sorted(run.skipped, key=lambda s: s.path)
    skipped = [{"path": s.path, "reason": s.reason, "error": s.error} for s in skipped_all[:MAX_LISTED_SKIPPED]]
    used = []
    for name in sorted(run.series):
        s = run.series[name]
        used.append(
            {
                "name": name,
                "source": s.source,
                "source_name": s.source_name,
                "points": len(s),
                "step_unit": s.step_unit,
                "step_source": s.step_source,
                "alternates": [f"{a.source_name} in {a.source} ({len(a)} points)" for a in run.alternates.get(name, [])],
            }
        )
    rng = run.step_range
    events: dict[str, int] = {}
    for e in run.events:
        events[e.kind] = events.get(e.kind, 0) + 1
    out: dict[str, Any] = {
        "sources": sources,
        "skipped": skipped,
        "skipped_count": len(skipped_all),
        "steps": None if rng is None else [rng[0], rng[1]],
        "series": sorted(run.series),
        "series_used": used,
        "events": dict(sorted(events.items())),
        "config_keys": len(run.config),
        "read_issues": [str(i) for i in run.issues[:MAX_LISTED_ISSUES]],
        "read_issue_count": len(run.issues),
    }
    return out


BALANCE_CHECK = ("TDX801", "param_imbalance")
# how a summary was made, where its file name does not say
MODEL_KIND_WORDS = {"hf-config": "counted from the config", "factory": "built by the factory"}


def model_section(d: Diagnosis) -> dict[str, Any] | None:
    """The ``model`` block of the contract, or None when the run holds no model."""
    m = d.run.model
    if m is None:
        return None
    code, sid = BALANCE_CHECK
    imbalance = next((s.summary for s in d.symptoms if s.id == sid), None)
    return clean(m.brief(imbalance, checked=code in d.checks_run))


def fmt_bytes(n: float) -> str:
    """A size as people write it: 812 B, 277.4 KB, 1.2 GB (powers of 1000, as ``traindx model`` prints)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _pct(share: float) -> str:
    return f"{share:.0%}" if share >= 0.1 or share == 0 else f"{share:.1%}"


def model_lines(block: dict[str, Any]) -> list[str]:
    """The model block in two short lines: what it is and its size; where its parameters sit and the balance verdict."""
    from .checks.model.common import count

    about = [w for w in (MODEL_KIND_WORDS.get(block["kind"]), f"step {block['step']}" if block.get("step") is not None else None) if w]
    dtypes = block.get("dtypes") or {}
    size = fmt_bytes(block["bytes"])
    if len(dtypes) == 1:
        size += f" {next(iter(dtypes))}"
    elif dtypes:
        size += " (" + ", ".join(f"{k} {fmt_bytes(v)}" for k, v in dtypes.items()) + ")"
    first = f"{block['source']}{' (' + ', '.join(about) + ')' if about else ''} · {count(int(block['parameters']))} parameters, {size}"
    if block.get("trainable") is not None:
        first += f" · trainable {count(int(block['trainable']))}, frozen {count(int(block['frozen'] or 0))}"
    tied = block.get("head_tied")
    if tied is not None:
        first += " · head tied" if tied else " · head untied"
    ranked = sorted((block.get("groups") or {}).items(), key=lambda kv: -kv[1]["parameters"])
    verdict = (block.get("balance") or {}).get("verdict", "unchecked")
    second = ", ".join(f"{g} {_pct(float(v['share']))}" for g, v in ranked) or "no parameters"
    second += " · " + ("balance unchecked" if verdict == "unchecked" else verdict)
    return [first, second]


def balance_shares(balance: dict[str, Any]) -> str:
    """Where the parameters sit, in words (the reports put the verdict before it)."""
    return (
        f"embeddings {float(balance['embedding_share']):.1%}, vocabulary-sized matrices {float(balance['vocabulary_share']):.1%}, "
        f"the rest of the model {float(balance['body_share']):.1%}"
    )


def clean(obj: Any) -> Any:
    """Plain JSON types; NaN/inf become None; integral floats in step-like places stay numbers."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        if obj == int(obj) and abs(obj) < 2**53:
            return int(obj)
        return round(obj, 6)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return clean(obj.item())
    return obj
