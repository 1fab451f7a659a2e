"""``traindx explain ID_OR_CODE``: a check's or a root cause's documentation."""

from __future__ import annotations

from typing import Annotated

import typer

from .errors import EXIT_USAGE, fail


def explain(
    what: Annotated[str, typer.Argument(help="A check code (TDX101), a symptom id (loss_divergence) or a root-cause id (lr_too_high).")],
) -> None:
    """Print the documentation of a check or a root cause."""
    from ..checks.registry import all_checks, get_check
    from ..reasoning.catalog import catalog

    spec = get_check(what)
    if spec is not None:
        typer.echo(f"{spec.code} {spec.emits} ({spec.family})")
        typer.echo("")
        typer.echo(spec.doc)
        if spec.defaults:
            typer.echo("")
            typer.echo("Thresholds: " + ", ".join(f"{k}={v}" for k, v in spec.defaults.items()))
        if spec.requires:
            typer.echo("Requires: " + ", ".join(r if isinstance(r, str) else " or ".join(r) for r in spec.requires))
        return
    cat = catalog()
    e = cat.get(what.strip())
    if e is not None:
        typer.echo(f"{e.id}: {e.title}")
        typer.echo("")
        typer.echo(e.summary)
        typer.echo("")
        typer.echo(f"Quick fix: {e.quick_fix}")
        typer.echo(f"Fix: {e.fix}")
        typer.echo(f"Verify: {e.verify}")
        typer.echo(f"If not: {e.if_not}")
        if e.checklist:
            typer.echo("")
            typer.echo("Checklist:")
            for c in e.checklist:
                typer.echo(f"  - {c}")
        return
    codes = ", ".join(s.code for s in all_checks())
    fail(f"unknown check or cause '{what}' (checks: {codes}; causes: {', '.join(sorted(cat))})")
    raise typer.Exit(EXIT_USAGE)
