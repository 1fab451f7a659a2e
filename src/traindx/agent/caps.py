"""Size caps on what a tool returns, so one call cannot flood an agent's context.

A result is measured as compact JSON. When it is over its cap, the longest lists
in it are halved, longest first, until it fits; each cut is described in a note
(``run.series_used: 4000 -> 250 items``) that the tool returns with the result.
"""

from __future__ import annotations

import json
from typing import Any

# One tool result, as compact JSON text.
MAX_RESULT_BYTES = 256_000
# extract_training_metrics: points per series (default and ceiling) and points over all series.
DEFAULT_POINTS = 400
MAX_POINTS_PER_SERIES = 5_000
MAX_TOTAL_POINTS = 20_000
# Series one extract_training_metrics call returns at most.
MAX_SERIES = 64
# list_artifacts: entries listed.
MAX_LISTED = 500
# model tools: layers listed.
MAX_LAYERS = 64


def json_size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":"), default=str))


def _lists(obj: Any, path: str) -> list[tuple[str, list[Any]]]:
    out: list[tuple[str, list[Any]]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_lists(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(obj, list):
        if len(obj) > 1:
            out.append((path, obj))
        for i, v in enumerate(obj[:50]):
            out.extend(_lists(v, f"{path}[{i}]"))
    return out


def fit(obj: Any, max_bytes: int = MAX_RESULT_BYTES) -> list[str]:
    """Shorten lists in ``obj`` (in place) until its JSON is at most ``max_bytes``; the notes say what was cut."""
    cut: dict[str, tuple[int, int]] = {}
    while json_size(obj) > max_bytes:
        lists = _lists(obj, "")
        if not lists:
            break
        path, longest = max(lists, key=lambda pl: (json_size(pl[1]), pl[0]))
        before = cut.get(path, (len(longest), 0))[0]
        keep = len(longest) // 2
        del longest[keep:]
        cut[path] = (before, keep)
    return [f"{p}: {a} -> {b} items" for p, (a, b) in sorted(cut.items())]


def capped(out: dict[str, Any]) -> dict[str, Any]:
    """``out`` cut to fit :data:`MAX_RESULT_BYTES`, with what was cut listed under ``truncated``."""
    notes = fit(out)
    if notes:
        out["truncated"] = notes
    return out
