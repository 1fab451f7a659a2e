"""The context package an agent hands over (``--context context.json``).

Shape (the original skill's): ``task`` (text), ``artifacts`` with
``training_logs``, ``loss_curves``, ``model_code``, ``error_messages`` and
``config`` (each a path, a list of paths, or for ``error_messages`` and
``config`` also the text or mapping itself), ``symptoms`` (list of
statements), ``constraints`` (e.g. ``max_analysis_time``). Relative paths are
resolved against the context file's folder.

``constraints.max_analysis_time`` is a number of seconds or a duration string
(``"30s"``, ``"2 min"``, ``"1h"``, ``"500ms"``); the engine stops the analysis
cleanly at that limit and lists what it did not finish.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARTIFACT_KEYS = ("training_logs", "loss_curves", "model_code", "error_messages", "config")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)?\s*$", re.IGNORECASE)
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


class ContextError(Exception):
    """The context file is unusable; the message names the file and the problem."""


@dataclass
class ContextPackage:
    source: str
    task: str | None = None
    paths: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error_texts: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    symptoms: list[str] = field(default_factory=list)
    constraints: dict[str, Any] = field(default_factory=dict)
    max_analysis_time: float | None = None  # seconds, from constraints.max_analysis_time


def parse_duration(value: Any) -> float | None:
    """Seconds from a number or a string like ``"30s"``, ``"2 min"``, ``"1h"``; None when it is neither or not positive."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if m is None:
            return None
        unit = (m.group(2) or "s").lower()
        key = "ms" if unit == "ms" else "min" if unit.startswith("min") else unit[0]
        seconds = float(m.group(1)) * _UNIT_S[key]
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def load_context(path: str | Path) -> ContextPackage:
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContextError(f"{p}: context file does not exist") from None
    except PermissionError:
        raise ContextError(f"{p}: context file is not readable (permission denied)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ContextError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ContextError(f"{p}: a context package is a JSON object with task, artifacts, symptoms, constraints")
    return parse_context(raw, base=p.parent, source=str(p))


def parse_context(raw: dict[str, Any], *, base: Path, source: str = "context") -> ContextPackage:
    pkg = ContextPackage(source=source)
    task = raw.get("task")
    pkg.task = str(task) if task is not None else None
    arts = raw.get("artifacts") or {}
    if not isinstance(arts, dict):
        raise ContextError(f"{source}: 'artifacts' must be an object with {', '.join(ARTIFACT_KEYS)}")
    for key in ARTIFACT_KEYS:
        for item in _as_list(arts.get(key)):
            if key == "config" and isinstance(item, dict):
                pkg.config.update(item)
                continue
            if not isinstance(item, str):
                continue
            if key == "error_messages" and ("\n" in item or not _looks_like_path(item, base)):
                pkg.error_texts.append(item)
                continue
            q = Path(item).expanduser()
            if not q.is_absolute():
                q = base / q
            if q.exists():
                pkg.paths.append(q)
            else:
                pkg.missing.append(item)
    pkg.symptoms = [str(s) for s in _as_list(raw.get("symptoms")) if str(s).strip()]
    cons = raw.get("constraints") or {}
    pkg.constraints = dict(cons) if isinstance(cons, dict) else {}
    if pkg.constraints.get("max_analysis_time") is not None:
        limit = parse_duration(pkg.constraints["max_analysis_time"])
        if limit is None:
            raise ContextError(
                f"{source}: constraints.max_analysis_time must be a positive number of seconds or a duration like \"30s\" or \"2 min\""
                f" (got {pkg.constraints['max_analysis_time']!r})"
            )
        pkg.max_analysis_time = limit
    return pkg


def _looks_like_path(item: str, base: Path) -> bool:
    q = Path(item).expanduser()
    return (q if q.is_absolute() else base / q).exists()
