"""The JSON contract, serialized deterministically (same input, same bytes)."""

from __future__ import annotations

import json as _json
from typing import Any

from ..diagnosis import Diagnosis


def to_json(diagnosis: Diagnosis, *, indent: int | None = 2) -> str:
    return dumps(diagnosis.to_dict(), indent=indent)


def dumps(data: Any, *, indent: int | None = 2) -> str:
    return _json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
