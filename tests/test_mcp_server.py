"""The MCP server through the SDK's in-memory client: every tool, its read-only annotation, results,
path confinement and bad arguments as tool errors, size caps, and nothing written into the runs."""

from __future__ import annotations

import base64
import inspect
import json
import os
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest

pytest.importorskip("mcp")

from conftest import tree_digest
from mcp import Client
from mcp.types import CallToolResult, ImageContent, TextContent

from traindx.agent.mcp_server import build_server
from traindx.schema import diagnosis_schema

ZOO = Path(__file__).resolve().parent / "zoo"
TOOLS = {
    "diagnose", "extract_training_metrics", "visualize_loss_curve", "analyze_architecture", "count_parameters",
    "check_gradients", "profile_memory", "explain", "list_artifacts",
}
ZOO_DIGEST = tree_digest(ZOO)


def call(server: Any, name: str, args: dict[str, Any]) -> CallToolResult:
    async def go() -> CallToolResult:
        async with Client(server) as client:
            return await client.call_tool(name, args)

    return anyio.run(go)


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text if result.content else result
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result.structured_content
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp_out")


@pytest.fixture(scope="module")
def server(out_dir: Path) -> Any:
    srv = build_server([ZOO], out_dir)
    yield srv
    srv.toolbox.close()


def test_every_tool_is_listed_read_only_with_its_docstring(server: Any) -> None:
    async def go() -> Any:
        async with Client(server) as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in anyio.run(go)}
    assert set(tools) == TOOLS
    for t in tools.values():
        assert t.annotations is not None and t.annotations.read_only_hint is True and t.annotations.destructive_hint is False
        assert t.description and len(t.description) > 80 and not t.description.startswith(" ")
    assert set(tools["diagnose"].input_schema["properties"]) == {"paths", "symptoms", "context", "plots"}
    assert tools["extract_training_metrics"].input_schema["required"] == ["paths"]
    assert "maximum" in json.dumps(tools["extract_training_metrics"].input_schema["properties"]["max_points"])
    # the description is the function's docstring
    assert tools["count_parameters"].description == inspect.cleandoc(tools["count_parameters"].description)


def test_diagnose_returns_the_json_contract(server: Any) -> None:
    d = ok(call(server, "diagnose", {"paths": ["curriculum_divergence_epoch7/run"], "symptoms": ["Loss diverged at epoch 7"]}))
    jsonschema.validate(d, diagnosis_schema())
    assert d["status"] == "diagnosis_complete"
    top = d["root_causes"][0]
    assert top["id"] == "exploding_gradients" and top["confidence"] >= 0.9
    assert {"issue", "severity", "evidence", "fix", "confidence"} <= set(top)
    assert d["user_symptoms"][0]["verdict"] == "confirmed"
    assert any(e["source"] == "train.log:314" for e in top["evidence"])  # grad norm 140 at step 304


def test_diagnose_with_a_context_package_and_plots(server: Any, out_dir: Path) -> None:
    ctx = {
        "task": "why did training fail at epoch 7?",
        "artifacts": {"training_logs": ["curriculum_divergence_epoch7/run/train.log"], "config": ["curriculum_divergence_epoch7/run/config.yaml"]},
        "symptoms": ["Loss diverged at epoch 7"],
        "constraints": {"max_analysis_time": "60s"},
    }
    d = ok(call(server, "diagnose", {"paths": [], "context": ctx, "plots": True}))
    jsonschema.validate(d, diagnosis_schema())
    assert d["task"] == ctx["task"]
    assert d["time_limit"] == {"max_analysis_time": 60, "reached": False, "stopped_during": None, "not_finished": []}
    plot = Path(d["analysis_artifacts"]["loss_visualization"])
    assert plot.is_file() and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out_dir.resolve() in plot.resolve().parents


def test_diagnose_refuses_context_artifacts_outside_the_root(server: Any, tmp_path: Path) -> None:
    (tmp_path / "x.log").write_text("step=1 loss=1\n")
    msg = error_text(call(server, "diagnose", {"paths": [], "context": {"artifacts": {"training_logs": [str(tmp_path / "x.log")]}}}))
    assert "outside the allowed roots" in msg
    # a name outside the roots is refused the same way whether it exists or not (no probing what lies outside)
    for missing in (str(tmp_path / "not_there.log"), "../not_there.log"):
        msg = error_text(call(server, "diagnose", {"paths": ["curriculum_divergence_epoch7/run"], "context": {"artifacts": {"training_logs": [missing]}}}))
        assert "outside the allowed roots" in msg or "'..' is not allowed" in msg
    msg = error_text(call(server, "diagnose", {"paths": ["curriculum_divergence_epoch7/run"], "context": {"constraints": {"max_analysis_time": "soon"}}}))
    assert "max_analysis_time" in msg


def test_extract_training_metrics_keeps_the_spike_when_downsampling(server: Any) -> None:
    d = ok(call(server, "extract_training_metrics", {"paths": ["curriculum_divergence_epoch7/run"], "metrics": ["loss", "grad_norm"], "max_points": 40}))
    by = {s["name"]: s for s in d["series"]}
    assert set(by) == {"loss/train", "grad_norm"}
    g = by["grad_norm"]
    assert g["points_in_series"] == 600 and g["downsampled"] and g["returned"] <= 42
    assert g["stats"]["max"] == {"value": 140.0496, "step": 304, "source": "train.log:314"}
    assert 304 in g["steps"] and g["values"][g["steps"].index(304)] == 140.0496
    assert g["source_name"] == "grad_norm" and g["step_unit"] == "step"
    narrow = ok(call(server, "extract_training_metrics", {"paths": ["curriculum_divergence_epoch7/run"], "metrics": ["loss/train"], "step_range": [299, 305]}))
    s = narrow["series"][0]
    assert s["steps"] == [299, 300, 301, 302, 303, 304, 305] and s["values"][5] == 2.940647


def test_extract_training_metrics_bad_arguments_are_tool_errors(server: Any) -> None:
    msg = error_text(call(server, "extract_training_metrics", {"paths": ["curriculum_divergence_epoch7/run"], "metrics": ["grad_nrom"]}))
    assert "no series named 'grad_nrom'" in msg and "grad_norm" in msg
    msg = error_text(call(server, "extract_training_metrics", {"paths": ["curriculum_divergence_epoch7/run"], "step_range": [10, 1]}))
    assert "first <= last" in msg
    assert call(server, "extract_training_metrics", {"paths": ["curriculum_divergence_epoch7/run"], "max_points": 1}).is_error
    assert call(server, "extract_training_metrics", {"paths": []}).is_error


def test_visualize_loss_curve_returns_a_png_and_its_path(server: Any, out_dir: Path) -> None:
    r = call(server, "visualize_loss_curve", {"paths": ["curriculum_divergence_epoch7/run"]})
    assert not r.is_error
    image, text = r.content
    assert isinstance(image, ImageContent) and image.mime_type == "image/png"
    png = base64.b64decode(image.data)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads(text.text)
    path = Path(info["path"])
    assert path.read_bytes() == png and out_dir.resolve() in path.resolve().parents
    assert "loss/train" in info["series"] and any(m["symptom"] == "loss_divergence" and m["step"] == 301 for m in info["marked"])
    r = call(server, "visualize_loss_curve", {"paths": ["curriculum_divergence_epoch7/run"], "metrics": ["grad_norm"]})
    assert json.loads(r.content[1].text)["series"] == ["grad_norm"]


def test_model_tools_on_the_embedding_heavy_checkpoint(server: Any) -> None:
    a = ok(call(server, "analyze_architecture", {"path": "embedding_heavy_colons/run"}))
    assert a["balance"]["verdict"] == "embedding-dominated" and a["balance"]["embedding_share"] > 0.9
    assert a["generative"] is True and a["head_tied"] is True
    assert any(f["id"] == "param_imbalance" and f["severity"] == "high" for f in a["findings"])
    assert a["weights"]["tensors_read"] > 0 and a["weights"]["with_nan_or_inf"] == []
    # the same groups and verdict the diagnosis carries in its model block
    d = ok(call(server, "diagnose", {"paths": ["embedding_heavy_colons/run"]}))
    assert {k: v for k, v in a["balance"].items() if k != "explanation"} == d["model"]["balance"]
    assert a["groups"] == d["model"]["groups"]
    c = ok(call(server, "count_parameters", {"path": "embedding_heavy_colons/run/model.safetensors"}))
    assert c["parameters"] == 69360 and c["by_group"]["embedding"]["parameters"] == 66048
    assert c["by_dtype_bytes"] == {"F16": 138720}
    msg = error_text(call(server, "count_parameters", {"path": "curriculum_divergence_epoch7/run"}))
    assert "no model" in msg


def test_check_gradients_summarizes_per_layer_flow(server: Any) -> None:
    g = ok(call(server, "check_gradients", {"paths": ["vanishing_gradients_sigmoid/run"]}))
    assert g["flow"]["verdict"] == "vanishing" and g["flow"]["first_over_last"] < 1e-3
    assert g["layers"][0]["layer"] == "net.0.weight" and len(g["layers"]) >= 8
    assert any(f["id"] == "gradient_vanishing" for f in g["findings"])
    g = ok(call(server, "check_gradients", {"paths": ["curriculum_divergence_epoch7/run"]}))
    assert g["layers"] == [] and "per-layer gradient norms" in g["request"]["need"]
    assert g["global"]["max"]["step"] == 304 and g["global"]["spikes"] >= 1


def test_profile_memory(server: Any) -> None:
    m = ok(call(server, "profile_memory", {"model_or_config": "embedding_heavy_colons/run", "batch_size": 16}))
    est = m["estimate"]
    assert m["parameters"] == 69360 and est["weights"] == 4 * 69360 and est["gradients"] == 4 * 69360
    assert est["setup"]["batch_size"] == 16 and est["setup"]["sources"]["batch_size"] == "tool argument"
    assert est["setup"]["seq_len"] == 32
    assert "dtype must be one of" in error_text(call(server, "profile_memory", {"model_or_config": "embedding_heavy_colons/run", "dtype": "fp8"}))
    m = ok(call(server, "profile_memory", {"model_or_config": "embedding_heavy_colons/run", "gpu_memory_gib": 0.001}))
    assert m["capacity"]["batch_that_fits"] is not None


def test_explain_checks_and_causes(server: Any) -> None:
    e = ok(call(server, "explain", {"id_or_code": "TDX101"}))
    assert e["kind"] == "check" and e["symptom"] == "loss_divergence" and "## Symptom" in e["documentation"]
    e = ok(call(server, "explain", {"id_or_code": "architecture_imbalance"}))
    assert e["kind"] == "cause" and e["fix"]
    assert "unknown check or cause 'TDX000'" in error_text(call(server, "explain", {"id_or_code": "TDX000"}))


def test_list_artifacts(server: Any) -> None:
    d = ok(call(server, "list_artifacts", {"dir": "embedding_heavy_colons"}))
    readers = {r["path"]: r["reader"] for r in d["readable"]}
    assert readers["run/model.safetensors"] == "checkpoint" and readers["run/train.log"] == "textlog"
    assert readers["run/samples.txt"] == "samples" and d["complete"] is True
    assert "is a file, not a folder" in error_text(call(server, "list_artifacts", {"dir": "embedding_heavy_colons/label.yaml"}))


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("diagnose", {"paths": ["../README.md"]}, "'..' is not allowed"),
        ("diagnose", {"paths": ["/etc"]}, "outside the allowed roots"),
        ("extract_training_metrics", {"paths": ["/etc/passwd"]}, "outside the allowed roots"),
        ("count_parameters", {"path": "../zoo_gpu"}, "'..' is not allowed"),
        ("list_artifacts", {"dir": "/"}, "outside the allowed roots"),
        ("diagnose", {"paths": ["no_such_case/run"]}, "does not exist"),
    ],
)
def test_paths_outside_the_root_are_tool_errors(server: Any, tool: str, args: dict[str, Any], expected: str) -> None:
    assert expected in error_text(call(server, tool, args))


def test_a_symlink_out_of_the_root_is_a_tool_error(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(ZOO / "curriculum_divergence_epoch7" / "run", root / "run")
    srv = build_server([root], tmp_path / "out")
    try:
        assert "symlink" in error_text(call(srv, "diagnose", {"paths": ["run"]}))
        os.symlink(ZOO / "curriculum_divergence_epoch7" / "run" / "train.log", root / "train.log")
        assert "symlink" in error_text(call(srv, "extract_training_metrics", {"paths": ["train.log"]}))
    finally:
        srv.toolbox.close()


def test_an_output_folder_inside_the_run_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.log").write_text("".join(f"step={i} loss={2.0 / i:.4f}\n" for i in range(1, 60)))
    srv = build_server([tmp_path], run / "plots")
    try:
        assert "never writes into a run folder" in error_text(call(srv, "visualize_loss_curve", {"paths": ["run"]}))
        assert not (run / "plots").exists()
    finally:
        srv.toolbox.close()


def test_results_are_size_capped(tmp_path: Path) -> None:
    names = [f"metric_{i:03d}" for i in range(80)]
    rows = ["step," + ",".join(names)] + [f"{s}," + ",".join(f"{(s * (i + 1)) % 97 / 10:.3f}" for i in range(len(names))) for s in range(1, 1501)]
    (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n")
    srv = build_server([tmp_path])
    try:
        d = ok(call(srv, "extract_training_metrics", {"paths": ["metrics.csv"], "max_points": 5000}))
        assert len(d["series"]) == 64 and len(d["not_returned"]) == len(d["available"]) - 64
        assert sum(s["returned"] for s in d["series"]) <= 20_000 + 64 * 3
        assert len(json.dumps(d)) <= 256_000 + 10_000
    finally:
        srv.toolbox.close()


def test_no_tool_wrote_into_the_runs() -> None:
    assert tree_digest(ZOO) == ZOO_DIGEST


def test_a_model_file_beside_a_config_that_links_out_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "ckpt").mkdir(parents=True)
    (root / "ckpt" / "model.safetensors").write_bytes((ZOO / "embedding_heavy_colons" / "run" / "model.safetensors").read_bytes())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text('{"model_type": "gpt2", "n_embd": 16, "vocab_size": 4096}')
    os.symlink(outside / "config.json", root / "ckpt" / "config.json")
    srv = build_server([root], tmp_path / "out")
    try:
        msg = error_text(call(srv, "count_parameters", {"path": "ckpt/model.safetensors"}))
        assert "config.json beside it is a symlink" in msg
    finally:
        srv.toolbox.close()
