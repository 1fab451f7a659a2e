"""TDX602 oom_error: the process ran out of GPU (or host) memory."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Event, Run
from ..registry import check


def human_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    v = float(n)
    i = 0
    while v >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    return f"{v:.2f} {units[i]}"


def best_oom(run: Run) -> tuple[Event | None, list[Event]]:
    evs = run.events_of("oom")
    if not evs:
        return None, []
    best = max(evs, key=lambda e: (len(e.data), e.line or 0))
    return best, evs


@check(code="TDX602", emits="oom_error")
def oom_error(run: Run, *, fragmentation_share: float = 1.0) -> list[Symptom]:
    """The process ran out of memory: a CUDA out-of-memory error with its sizes.

    ## Symptom
    A ``CUDA out of memory`` message (any torch generation) or a host
    out-of-memory kill. When the message carries sizes, they are parsed: how
    much was requested, the device capacity, what was free, what PyTorch had
    allocated and what it held reserved but unallocated.

    ## Why it matters
    The run cannot proceed at this configuration; the sizes say whether it is
    a little over (fragmentation, a slightly smaller batch fixes it) or far
    over (the model or sequence length does not fit).

    ## Evidence
    The error line with its ``file:line``, and the parsed sizes.

    ## Likely causes
    Batch size or sequence length too large for the device, a model that does
    not fit without sharding, memory held across steps (a leak), or
    fragmentation: reserved-but-unallocated memory at least
    ``fragmentation_share`` (100%) of the failed request, so the allocator held
    enough memory but not in one piece (the case PyTorch's own message points
    to ``expandable_segments`` for).

    ## Fix
    Halve the per-device batch and double gradient accumulation; enable
    gradient checkpointing and mixed precision; with fragmentation set
    ``PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True``.

    ## Known false positives
    A message that only mentions out-of-memory in prose (an issue title, a
    question) is quoted as weaker evidence than a traceback line with sizes.
    """
    best, evs = best_oom(run)
    if best is None:
        return []
    d = dict(best.data)
    parts = []
    if "tried_to_allocate" in d:
        parts.append(f"tried to allocate {human_bytes(d['tried_to_allocate'])}")
    if "total_capacity" in d:
        parts.append(f"device capacity {human_bytes(d['total_capacity'])}")
    if "free" in d:
        parts.append(f"{human_bytes(d['free'])} free")
    if "allocated_by_pytorch" in d:
        parts.append(f"{human_bytes(d['allocated_by_pytorch'])} allocated by PyTorch")
    if "reserved_unallocated" in d:
        parts.append(f"{human_bytes(d['reserved_unallocated'])} reserved but unallocated")
    fragmented = bool(
        d.get("reserved_unallocated") and d.get("tried_to_allocate") and d["reserved_unallocated"] >= fragmentation_share * d["tried_to_allocate"]
    )
    summary = "out of memory" + (f": {', '.join(parts)}" if parts else "")
    if fragmented:
        summary += " (the reserved-but-unallocated memory could have served the request: fragmentation)"
    ev = [Evidence(best.text[:300], best.where, best.step)]
    if parts:
        ev.append(Evidence("; ".join(parts), best.where, best.step))
    return [
        Symptom(
            id="oom_error",
            code="TDX602",
            severity="critical",
            summary=summary,
            step=best.step,
            evidence=ev,
            data={**{k: v for k, v in d.items() if isinstance(v, (int, float, str))}, "fragmented": fragmented, "events": len(evs)},
        )
    ]
