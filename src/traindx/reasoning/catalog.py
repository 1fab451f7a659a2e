"""The failure-mode catalog (``knowledge/causes.yaml``): titles, explanations and fix templates."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class CauseEntry:
    id: str
    title: str
    summary: str
    quick_fix: str
    fix: str
    expected_impact: str
    verify: str
    if_not: str
    checklist: tuple[str, ...]


class _Keep(dict):
    """Leave unknown placeholders visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@lru_cache(maxsize=1)
def catalog() -> dict[str, CauseEntry]:
    import yaml

    text = resources.files("traindx.reasoning.knowledge").joinpath("causes.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it
    raw: dict[str, Any] = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    return {
        cid: CauseEntry(
            id=cid,
            title=e["title"],
            summary=e["summary"],
            quick_fix=e["quick_fix"],
            fix=e["fix"],
            expected_impact=e["expected_impact"],
            verify=e["verify"],
            if_not=e["if_not"],
            checklist=tuple(e.get("checklist") or ()),
        )
        for cid, e in raw.items()
    }


def entry(cause_id: str) -> CauseEntry:
    return catalog()[cause_id]


def fill(template: str, values: dict[str, Any]) -> str:
    return template.format_map(_Keep({k: v for k, v in values.items() if v is not None}))
