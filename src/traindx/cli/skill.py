"""``traindx skill install``: install the agent skill (SKILL.md, the specialist prompt, the MCP registration)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import EXIT_USAGE, fail

app = typer.Typer(name="skill", help="The traindx agent skill for Claude Code and other agents.", no_args_is_help=True, add_completion=False)


@app.command("install")
def install(
    dir: Annotated[
        Path | None,
        typer.Option("--dir", help="The skills folder to install into. Default: Claude Code's (~/.claude/skills, or $CLAUDE_CONFIG_DIR/skills).", show_default=False),
    ] = None,
    mcp_config: Annotated[
        Path | None,
        typer.Option("--mcp-config", help="Also register the traindx MCP server in this MCP config file (e.g. a project's .mcp.json); other servers are kept.", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an installed skill or a registered server that differs.")] = False,
) -> None:
    """Install the traindx-debugger skill: SKILL.md, agents/ml-debugger-specialist.prompt and mcp.json.

    Exit codes: 0 installed (or already up to date), 2 the folder holds another
    version (use --force) or cannot be written.
    """
    from ..agent.skill import SkillInstallError, claude_command, default_skills_dir, register_mcp
    from ..agent.skill import install as do_install

    try:
        done = do_install(dir if dir is not None else default_skills_dir(), force=force)
        registered = register_mcp(mcp_config, force=force) if mcp_config is not None else None
    except SkillInstallError as e:
        fail(str(e))
        raise typer.Exit(EXIT_USAGE)
    if done.written:
        typer.echo(f"installed the traindx-debugger skill in {done.folder} ({', '.join(done.written)})")
    else:
        typer.echo(f"the traindx-debugger skill in {done.folder} is up to date")
    if mcp_config is not None:
        typer.echo(f"{'registered' if registered else 'already registered'}: the traindx MCP server in {mcp_config}")
    else:
        typer.echo("register the MCP server the skill uses with:")
        typer.echo(f"  {claude_command()}")
        typer.echo(f"or add {done.folder / 'mcp.json'} to a project's .mcp.json (traindx skill install --mcp-config .mcp.json)")
