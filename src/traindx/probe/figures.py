"""Measured memory from probe logs, for ``traindx memory`` (measured figures beat estimates).

Reads only the probe's own logs (no torch): for each rank, the largest
allocated, reserved and peak CUDA memory, or the process's resident set size
and its peak on CPU, with the step where each maximum was seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import logformat as fmt

GiB = 1024**3
KEYS = ("allocated", "reserved", "peak", "rss", "rss_peak")


def memory_figures(path: str | Path) -> dict[str, Any] | None:
    """Measured memory of the run under ``path`` (a probe log or a folder with some), or None when no log has memory figures.

    Returns ``{"kind": "cuda" | "process_rss", "ranks": [...], "max": {key: bytes},
    "at_step": {key: step}, "steps": n, "source": "probe-rank0.jsonl", "device": ...}``
    where the maxima are over all ranks.
    """
    p = Path(path)
    if not p.exists():
        return None
    out_max: dict[str, float] = {}
    at_step: dict[str, Any] = {}
    kind = None
    device = None
    ranks: list[int] = []
    steps = 0
    sources: list[str] = []
    for log in fmt.find_logs(p):
        try:
            header, records = fmt.iter_records(log)
        except (ValueError, OSError, fmt.UnsupportedVersion):
            continue
        seen = False
        for _, rec in records:
            mem = rec.get("memory") if rec.get("kind") == "step" else None
            if not isinstance(mem, dict):
                continue
            seen = True
            steps += 1
            for k in KEYS:
                v = mem.get(k)
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v > out_max.get(k, -1):
                    out_max[k] = float(v)
                    at_step[k] = rec.get("step")
        if seen:
            kind = kind or header.get("memory")
            device = device or header.get("device")
            ranks.append(int(header.get("rank", 0) or 0))
            sources.append(log.name)
    if not out_max:
        return None
    return {
        "kind": kind or ("cuda" if "allocated" in out_max else "process_rss"),
        "device": device,
        "ranks": sorted(ranks),
        "steps": steps,
        "max": {k: int(v) for k, v in sorted(out_max.items())},
        "at_step": {k: at_step[k] for k in sorted(at_step)},
        "source": ", ".join(sources[:4]) + (" ..." if len(sources) > 4 else ""),
    }


def memory_lines(figures: dict[str, Any] | None) -> list[str]:
    """Text lines for ``traindx memory``: what the probe measured."""
    if not figures:
        return []
    m = figures["max"]
    where = f"{figures['source']}, {figures['steps']} steps"
    if figures["kind"] == "cuda":
        parts = []
        for k, label in (("peak", "peak allocated"), ("reserved", "reserved"), ("allocated", "allocated")):
            if k in m:
                parts.append(f"{label} {m[k] / GiB:.2f} GiB")
        return [f"measured    {', '.join(parts)} (probe log {where}; CUDA context not included)"]
    parts = []
    if "rss_peak" in m:
        parts.append(f"peak resident {m['rss_peak'] / GiB:.2f} GiB")
    if "rss" in m:
        parts.append(f"largest resident at a step {m['rss'] / GiB:.2f} GiB")
    return [f"measured    {', '.join(parts)} of the training process on CPU (probe log {where})"]
