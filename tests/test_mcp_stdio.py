"""End to end over stdio: a real client session spawns ``python -m traindx mcp`` and calls its tools."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from conftest import tree_digest
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

ZOO = Path(__file__).resolve().parent / "zoo"


def test_stdio_session_lists_and_calls_tools(tmp_path: Path) -> None:
    before = tree_digest(ZOO)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "traindx", "mcp", "--root", str(ZOO), "--out", str(tmp_path / "out")],
        cwd=str(tmp_path),
    )

    async def session() -> tuple[set[str], dict[str, Any], str, bool]:
        async with Client(params, read_timeout_seconds=120) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            d = await client.call_tool("diagnose", {"paths": ["embedding_heavy_colons/run"], "symptoms": ["model outputs are all the same token"]})
            bad = await client.call_tool("diagnose", {"paths": ["../../README.md"]})
            text = " ".join(c.text for c in bad.content if isinstance(c, TextContent))
            return names, d.structured_content or {}, text, bool(bad.is_error)

    names, d, bad_text, bad_is_error = anyio.run(session)
    assert {"diagnose", "extract_training_metrics", "visualize_loss_curve", "list_artifacts"} <= names
    assert d["status"] == "diagnosis_complete"
    assert d["root_causes"][0]["id"] == "architecture_imbalance"
    assert d["user_symptoms"][0]["text"] == "model outputs are all the same token"
    assert bad_is_error and "'..' is not allowed" in bad_text
    assert tree_digest(ZOO) == before
