"""The worked example of docs/agent.md is real: the three runs diagnosed through the MCP tools give the JSON shown.

Each ``<!-- example:NAME -->`` block of the page holds the tool calls and the (shortened) results;
``pytest tests/test_agent_docs.py --update-golden`` rewrites them from a fresh run of the tools.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client

from traindx.agent.mcp_server import build_server

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "agent.md"
ZOO = HERE / "zoo"

EXAMPLES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "divergence": [
        ("diagnose", {"paths": ["curriculum_divergence_epoch7/run"], "symptoms": ["Loss diverged at epoch 7"]}),
        ("extract_training_metrics", {"paths": ["curriculum_divergence_epoch7/run"], "metrics": ["loss", "grad_norm"], "step_range": [298, 306]}),
    ],
    "colons": [
        ("diagnose", {"paths": ["embedding_heavy_colons/run"]}),
        ("analyze_architecture", {"path": "embedding_heavy_colons/run"}),
    ],
    "act": [
        (
            "diagnose",
            {
                "paths": [],
                "context": {
                    "task": "ACT model: a warning appeared and halt_var turned NaN",
                    "artifacts": {"training_logs": ["zero_variance_warning/run/train.log"], "config": ["zero_variance_warning/run/config.yaml"]},
                    "symptoms": [],
                    "constraints": {"max_analysis_time": "30s"},
                },
            },
        ),
    ],
}


def shorten(tool: str, d: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of a result: the contract's decisive parts, evidence cut to three items."""
    if tool == "diagnose":
        out: dict[str, Any] = {
            "status": d["status"],
            "summary": d["summary"],
            "symptoms": [{k: s[k] for k in ("id", "severity", "step", "summary")} for s in d["symptoms"]],
            "root_causes": [
                {**{k: c[k] for k in ("id", "issue", "severity", "confidence", "confidence_basis")}, "evidence": c["evidence"][:3], "fix": c["fix"]}
                for c in d["root_causes"]
            ],
            "quick_fixes": d["quick_fixes"],
            "requests": [r["need"] for r in d["requests"]],
            "user_symptoms": [{k: u[k] for k in ("text", "verdict", "explanation")} for u in d["user_symptoms"]],
            "analysis_artifacts": d["analysis_artifacts"],
        }
        if "time_limit" in d:
            out["time_limit"] = d["time_limit"]
        return out
    if tool == "extract_training_metrics":
        return {"series": [{k: s[k] for k in ("name", "source", "source_name", "steps", "values")} | {"max": s["stats"]["max"]} for s in d["series"]]}
    if tool == "analyze_architecture":
        return {k: d[k] for k in ("source", "parameters", "groups", "balance", "generative", "head_tied")}
    raise ValueError(tool)


def pretty(obj: Any) -> str:
    """Indented JSON with lists of plain values kept on one line."""
    text = json.dumps(obj, indent=2)
    return re.sub(r"\[\n\s+([^\[\]{}]*?)\n\s*\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",\n")) + "]", text)


def render_block(name: str, server: Any) -> str:
    async def go() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        out = []
        async with Client(server) as client:
            for tool, args in EXAMPLES[name]:
                r = await client.call_tool(tool, args)
                assert not r.is_error, r.content
                out.append((tool, args, r.structured_content))
        return out

    parts = []
    for tool, args, result in anyio.run(go):
        parts.append(f"Call `{tool}`:\n\n```json\n{pretty(args)}\n```\n\nResult (shortened):\n\n```json\n{pretty(shorten(tool, result))}\n```")
    return "\n\n".join(parts)


BLOCK = re.compile(r"(<!-- example:(\w+) -->\n)(.*?)(<!-- /example:\2 -->)", re.DOTALL)


def test_worked_example_matches_the_tools(tmp_path: Path, update_golden: bool) -> None:
    server = build_server([ZOO], tmp_path)
    try:
        text = DOC.read_text(encoding="utf-8")
        names = [m.group(2) for m in BLOCK.finditer(text)]
        assert sorted(names) == sorted(EXAMPLES)
        fresh = BLOCK.sub(lambda m: m.group(1) + render_block(m.group(2), server) + "\n" + m.group(4), text)
    finally:
        server.toolbox.close()
    if update_golden:
        DOC.write_text(fresh, encoding="utf-8")
    assert text == fresh, "docs/agent.md is stale: rerun pytest tests/test_agent_docs.py --update-golden and review the diff"
