"""Events the live probe wrote (``traindx.probe``), as the probe checks read them: ordered, one per rank where ranks repeat."""

from __future__ import annotations

from ..findings import Evidence
from ..run import Event, Run, fmt_step


def probe_events(run: Run, kind: str) -> list[Event]:
    """Events of ``kind`` in step order (then rank, file and line)."""
    evs = run.events_of(kind)
    return sorted(evs, key=lambda e: (e.step if e.step is not None else float("inf"), _rank(e), e.source, e.line or 0))


def _rank(e: Event) -> int:
    r = e.get("rank", 0)
    return int(r) if isinstance(r, (int, float)) else 0


def ranks_of(evs: list[Event]) -> list[int]:
    return sorted({_rank(e) for e in evs})


def ranks_text(evs: list[Event]) -> str:
    """`` on rank 1`` or `` on ranks 0, 1`` when the events come from distributed logs."""
    ranks = ranks_of(evs)
    if ranks == [0] and all(e.get("rank") in (None, 0) for e in evs):
        return ""
    return f" on rank{'s' if len(ranks) > 1 else ''} {', '.join(str(r) for r in ranks)}"


def event_evidence(e: Event, prefix: str = "") -> Evidence:
    return Evidence(f"{prefix}{e.text}", e.where, e.step)


def names_text(names: list[str], most: int = 3) -> str:
    """The first ``most`` names, with " ..." when there are more."""
    return ", ".join(names[:most]) + (" ..." if len(names) > most else "")


def at_step(e: Event) -> str:
    return f"step {fmt_step(e.step)}" if e.step is not None else "an unknown step"
