"""The agent skill: its files (triggers, steps, the specialist prompt, the MCP registration) and `traindx skill install`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from traindx.agent import skill
from traindx.cli.app import app

runner = CliRunner()
TRIGGERS = (
    "debug my training run",
    "why is my loss diverging?",
    "model outputs are all the same token",
    "training failed at epoch X",
    "help diagnose mode collapse",
    "why are gradients exploding/vanishing?",
    "model not learning anything",
)
TOOLS = ("diagnose", "extract_training_metrics", "visualize_loss_curve", "analyze_architecture", "count_parameters",
         "check_gradients", "profile_memory", "explain", "list_artifacts")


def _frontmatter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_skill_md_has_its_frontmatter_triggers_and_steps() -> None:
    text = skill.skill_text("SKILL.md")
    meta = _frontmatter(text)
    assert meta["name"] == skill.SKILL_NAME and len(meta["description"]) < 1024
    for t in TRIGGERS:
        assert t in meta["description"] and t in text
    for section in ("## 1. Gather the context", "## 2. Hand over to the specialist", "## 3. Present the result"):
        assert section in text
    for key in ("training_logs", "loss_curves", "model_code", "error_messages", "config", "max_analysis_time"):
        assert key in text
    assert "agents/ml-debugger-specialist.prompt" in text and "list_artifacts" in text


def test_the_specialist_prompt_has_method_confidence_never_and_tools() -> None:
    text = skill.skill_text("agents/ml-debugger-specialist.prompt")
    for heading in ("# Method", "# Confidence rules", "# Never", "# Output"):
        assert heading in text
    for phrase in ("Above 0.9: direct evidence", "0.7 to 0.9: circumstantial", "Below 0.7: a hypothesis",
                   "Never guess without evidence", "Never modify code", "corrupt training state"):
        assert phrase in text
    for tool in TOOLS:
        assert f"`{tool}" in text


def test_the_packaged_mcp_registration_starts_traindx_mcp() -> None:
    reg = json.loads(skill.skill_text("mcp.json"))
    assert reg["mcpServers"]["traindx"]["args"][:1] == ["mcp"]


def test_install_writes_the_skill_and_an_mcp_json_for_this_python(tmp_path: Path) -> None:
    done = skill.install(tmp_path)
    assert done.folder == tmp_path / "traindx-debugger" and sorted(done.written) == sorted(skill.SKILL_FILES)
    assert (done.folder / "SKILL.md").read_text() == skill.skill_text("SKILL.md")
    reg = json.loads((done.folder / "mcp.json").read_text())
    assert reg == {"mcpServers": {"traindx": {"command": sys.executable, "args": ["-m", "traindx", "mcp", "--root", "."]}}}
    again = skill.install(tmp_path)
    assert again.written == [] and sorted(again.unchanged) == sorted(skill.SKILL_FILES)


def test_install_over_another_version_needs_force(tmp_path: Path) -> None:
    skill.install(tmp_path)
    (tmp_path / "traindx-debugger" / "SKILL.md").write_text("old\n")
    with pytest.raises(skill.SkillInstallError, match=r"another version of the skill \(SKILL\.md differ\); pass --force"):
        skill.install(tmp_path)
    assert (tmp_path / "traindx-debugger" / "SKILL.md").read_text() == "old\n"
    assert skill.install(tmp_path, force=True).written == ["SKILL.md"]


def test_register_mcp_merges_into_a_project_config(tmp_path: Path) -> None:
    cfg = tmp_path / ".mcp.json"
    cfg.write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}}))
    assert skill.register_mcp(cfg, python="/usr/bin/python3") is True
    data = json.loads(cfg.read_text())
    assert data["mcpServers"]["other"] == {"command": "x"}
    assert data["mcpServers"]["traindx"] == {"command": "/usr/bin/python3", "args": ["-m", "traindx", "mcp", "--root", "."]}
    assert skill.register_mcp(cfg, python="/usr/bin/python3") is False
    with pytest.raises(skill.SkillInstallError, match="different 'traindx' server"):
        skill.register_mcp(cfg, python="/opt/python")
    cfg.write_text("[1, 2]")
    with pytest.raises(skill.SkillInstallError, match="expected a JSON object"):
        skill.register_mcp(cfg)


def test_cli_skill_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    r = runner.invoke(app, ["skill", "install"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "claude" / "skills" / "traindx-debugger" / "SKILL.md").is_file()
    assert "claude mcp add traindx -- " in r.stdout
    r = runner.invoke(app, ["skill", "install", "--dir", str(tmp_path / "s"), "--mcp-config", str(tmp_path / "proj" / ".mcp.json")])
    assert r.exit_code == 0, r.output
    assert "registered: the traindx MCP server" in r.stdout and (tmp_path / "proj" / ".mcp.json").is_file()
    (tmp_path / "s" / "traindx-debugger" / "SKILL.md").write_text("changed\n")
    r = runner.invoke(app, ["skill", "install", "--dir", str(tmp_path / "s")])
    assert r.exit_code == 2 and "pass --force" in r.stderr
