"""The JSON Schema of the diagnosis contract, shipped with the package."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def diagnosis_schema() -> dict[str, Any]:
    return json.loads(resources.files("traindx.schema").joinpath("diagnosis.schema.json").read_text(encoding="utf-8"))
