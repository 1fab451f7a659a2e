"""Install the traindx agent skill (``traindx skill install``) and register its MCP server.

The skill ships inside the package (``traindx/agent/skill/``): ``SKILL.md`` (when to
use it, how to gather the context, how to present the result),
``agents/ml-debugger-specialist.prompt`` (the specialist's system prompt) and
``mcp.json`` (the MCP registration). Installing copies them into
``<skills dir>/traindx-debugger/``; the default skills folder is Claude Code's,
``~/.claude/skills`` (``$CLAUDE_CONFIG_DIR/skills`` when that is set). The installed
``mcp.json`` names the Python that ran the installer (``python -m traindx mcp``), so
the server starts with the same traindx whatever the PATH.

An existing installation that differs is replaced only with ``force``; a project's
``.mcp.json`` is only written when asked (``register_mcp``), merged key by key.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SKILL_NAME = "traindx-debugger"
SKILL_FILES = ("SKILL.md", "agents/ml-debugger-specialist.prompt", "mcp.json")
SERVER_NAME = "traindx"


class SkillInstallError(Exception):
    """The skill cannot be installed as asked; the message says why and what to do."""


@dataclass
class Installed:
    folder: Path
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def default_skills_dir() -> Path:
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base).expanduser() if base else Path.home() / ".claude") / "skills"


def registration(python: str | None = None, root: str = ".") -> dict[str, Any]:
    """The ``mcpServers`` entry that starts ``python -m traindx mcp --root ROOT``."""
    return {"mcpServers": {SERVER_NAME: {"command": python or sys.executable, "args": ["-m", "traindx", "mcp", "--root", root]}}}


def claude_command(python: str | None = None, root: str = ".") -> str:
    """The ``claude mcp add`` command line that registers the server."""
    return f"claude mcp add {SERVER_NAME} -- {python or sys.executable} -m traindx mcp --root {root}"


def skill_text(name: str) -> str:
    """A file of the packaged skill, as text."""
    if name not in SKILL_FILES:
        raise KeyError(name)
    return resources.files("traindx.agent").joinpath("skill", *name.split("/")).read_text(encoding="utf-8")


def _contents(python: str | None) -> dict[str, str]:
    out = {name: skill_text(name) for name in SKILL_FILES}
    out["mcp.json"] = json.dumps(registration(python), indent=2) + "\n"
    return out


def install(skills_dir: str | os.PathLike[str] | None = None, *, force: bool = False, python: str | None = None) -> Installed:
    """Copy the skill into ``<skills_dir>/traindx-debugger``; an installation that differs needs ``force``."""
    base = Path(skills_dir).expanduser() if skills_dir is not None else default_skills_dir()
    if base.exists() and not base.is_dir():
        raise SkillInstallError(f"{base} is a file, not a folder")
    folder = base / SKILL_NAME
    wanted = _contents(python)
    result = Installed(folder)
    differing = []
    for name, text in wanted.items():
        p = folder / name
        if p.is_file():
            try:
                same = p.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                same = False
            if same:
                result.unchanged.append(name)
                continue
            differing.append(name)
        elif p.exists():
            raise SkillInstallError(f"{p} exists and is not a file")
    if differing and not force:
        raise SkillInstallError(f"{folder} holds another version of the skill ({', '.join(differing)} differ); pass --force to replace it")
    for name, text in wanted.items():
        if name in result.unchanged:
            continue
        p = folder / name
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
        except OSError as e:
            raise SkillInstallError(f"cannot write {p}: {e.strerror or e}") from None
        result.written.append(name)
    return result


def register_mcp(config: str | os.PathLike[str], *, force: bool = False, python: str | None = None, root: str = ".") -> bool:
    """Add the traindx server to an MCP config file (a project's ``.mcp.json``); False when it was already there.

    Other servers in the file are kept; a different ``traindx`` entry is replaced only with ``force``.
    """
    path = Path(config).expanduser()
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SkillInstallError(f"{path}: not a readable JSON file ({e})") from None
        if not isinstance(data, dict) or not isinstance(data.get("mcpServers", {}), dict):
            raise SkillInstallError(f"{path}: expected a JSON object with an 'mcpServers' object")
    entry = registration(python, root)["mcpServers"][SERVER_NAME]
    servers = data.setdefault("mcpServers", {})
    if servers.get(SERVER_NAME) == entry:
        return False
    if SERVER_NAME in servers and not force:
        raise SkillInstallError(f"{path} already registers a different '{SERVER_NAME}' server; pass --force to replace it")
    servers[SERVER_NAME] = entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise SkillInstallError(f"cannot write {path}: {e.strerror or e}") from None
    return True
