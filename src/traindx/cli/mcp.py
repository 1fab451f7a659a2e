"""``traindx mcp``: serve the traindx tools to coding agents over MCP (stdio)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import EXIT_USAGE, fail


def mcp(
    root: Annotated[
        list[Path] | None,
        typer.Option("--root", help="A folder the tools may read (repeatable); paths outside every root are refused. Default: the working directory.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where plots are written (never a run folder). Default: a temporary folder removed when the server stops.", show_default=False),
    ] = None,
) -> None:
    """Serve the traindx tools over MCP on stdin/stdout (read-only: diagnose, metrics, plots, model, gradients, memory, explain, artifacts).

    Needs the MCP SDK: pip install 'traindx[mcp]'. Exit codes: 0 the client closed
    the connection, 2 the SDK is missing or a --root is not a folder.
    """
    roots = list(root or [Path.cwd()])
    for r in roots:
        if not r.is_dir():
            fail(f"--root {r}: not an existing folder")
            raise typer.Exit(EXIT_USAGE)
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
        raise typer.Exit(EXIT_USAGE)
    try:
        from ..agent.mcp_server import serve
    except ImportError as e:
        fail(f"traindx mcp needs the MCP SDK (mcp>=2): pip install 'traindx[mcp]' ({e})")
        raise typer.Exit(EXIT_USAGE)
    serve(roots, out)
