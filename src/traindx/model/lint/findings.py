"""What a lint rule reports: a fact kind, a sentence with the code and line numbers, and the line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    kind: str
    text: str
    line: int
