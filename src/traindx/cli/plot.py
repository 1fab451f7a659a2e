"""``traindx plot PATH... [--metric NAME ...] [-o FILE]``: plot any series of a run, annotated with the diagnosis.

Without ``--metric`` it draws the loss curves with the LR panel (the same
figure as ``loss_plot.png`` in ``--out``); with it, one panel per named series.
A name may be canonical (``loss/train``, ``grad_norm``) or as the file wrote it
(``val_loss``). The output format follows the file's suffix (.png, .svg, .pdf).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import EXIT_USAGE, fail

DEFAULT_OUT = Path("traindx_plot.png")
FORMATS = (".png", ".svg", ".pdf")


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def resolve_metric(names: dict[str, str], wanted: str) -> str | None:
    """The run's canonical series name for ``wanted`` (canonical, as written, or through the name table)."""
    from ..ingest.names import canonical

    if wanted in names:
        return wanted
    by_source = sorted(n for n, src in names.items() if src == wanted)
    if by_source:
        return by_source[0]
    lower = {n.lower(): n for n in names}
    if wanted.lower() in lower:
        return lower[wanted.lower()]
    mapped = canonical(wanted)
    return mapped if mapped in names else None


def plot(
    paths: Annotated[list[Path], typer.Argument(help="Run folders or files, as for diagnose.", show_default=False)],
    metric: Annotated[
        Optional[list[str]],
        typer.Option("--metric", "-m", help="A series to plot (repeatable), e.g. loss/train, grad_norm, val_loss. Default: the loss curves and the LR.", show_default=False),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The image to write (.png, .svg or .pdf); never inside the run folder.")] = DEFAULT_OUT,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Plot series of a run with what the diagnosis found marked on them (onsets, spikes, first NaN, best step)."""
    if output.suffix.lower() not in FORMATS:
        fail(f"--output {output}: the file name must end in {', '.join(FORMATS)}")
        raise typer.Exit(EXIT_USAGE)
    for p in paths:
        folder = p if p.is_dir() else p.parent
        if p.exists() and _inside(output, folder):
            fail(f"--output {output} is inside the run folder {folder}; traindx never writes into the input, choose another place")
            raise typer.Exit(EXIT_USAGE)
    try:
        from ..render import plots
    except ImportError as e:  # pragma: no cover - numpy is a core dependency
        fail(str(e))
        raise typer.Exit(EXIT_USAGE)
    try:
        plots._mpl()
    except plots.PlotUnavailable as e:
        fail(str(e))
        raise typer.Exit(EXIT_USAGE)
    from ..engine import diagnose_paths

    missing = [p for p in paths if not p.exists()]
    if missing:
        fail(f"{missing[0]}: no such file or folder")
        raise typer.Exit(EXIT_USAGE)
    d = diagnose_paths(paths)
    series = {n: s.source_name for n, s in d.run.series.items() if len(s)}
    if not series:
        fail("no metric series found in " + ", ".join(str(p) for p in paths))
        raise typer.Exit(EXIT_USAGE)
    if metric:
        chosen: list[str] = []
        for m in metric:
            name = resolve_metric(series, m)
            if name is None:
                close = difflib.get_close_matches(m, sorted(series) + sorted(set(series.values())), n=3, cutoff=0.5)
                hint = f"; did you mean {', '.join(close)}?" if close else f"; the run has: {', '.join(sorted(series)[:12])}" + (" ..." if len(series) > 12 else "")
                fail(f"no series named {m!r}{hint}")
                raise typer.Exit(EXIT_USAGE)
            if name not in chosen:
                chosen.append(name)
        output.parent.mkdir(parents=True, exist_ok=True)
        plots.plot_metrics(d, chosen, output)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        if not plots.plot_loss(d, output):
            first = min(series)
            plots.plot_metrics(d, [first], output)
            if not quiet:
                typer.echo(f"no loss series; plotted {first} (choose with --metric)", err=True)
    if not quiet:
        typer.echo(str(output))
