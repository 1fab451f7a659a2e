"""``traindx model PATH``: a model's parameters by group and layer, its weight health and spectra, and the model checks."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .errors import EXIT_OK, EXIT_USAGE, fail


class Format(str, Enum):
    text = "text"
    json = "json"


def _findings(summary: Any) -> list[Any]:
    from ..checks.model.common import reads_the_model
    from ..engine import run_checks
    from ..run import Run

    return run_checks(Run(model=summary), select=reads_the_model)[0]


def render(summary: Any, findings: list[Any], *, layers: int) -> str:
    from ..checks.model.common import count
    from ..diagnosis import fmt_bytes

    m = summary
    lines = [f"{m.source} · {m.kind}"]
    tot = m.total
    dt = ", ".join(f"{k} {fmt_bytes(v)}" for k, v in m.dtypes.items())
    lines.append(f"parameters  {count(tot)} ({tot:,}) · {dt or 'no tensors'}")
    if m.trainable is not None:
        lines.append(f"trainable   {count(m.trainable)} · frozen {count(m.frozen or 0)}")
    lines.append("groups")
    for g, n in m.groups.items():
        share = n / tot if tot else 0.0
        lines.append(f"  {g:<12} {count(n):>9}  {share:6.1%}  {'█' * int(round(share * 30))}")
    ht = m.head_tied
    if ht is not None or m.tied:
        tied = "; ".join(f"{a} = {b}" for a, b in m.tied)
        lines.append(f"output head {'tied to the input embedding' if ht else 'untied' if ht is False else 'unknown'}" + (f" ({tied})" if tied else ""))
    if m.generative is not None:
        lines.append(f"generative  {'yes' if m.generative else 'no'}" + (f" ({m.arch.get('architecture')})" if m.arch.get("architecture") else ""))
    lay = list(m.layers.items())
    lines.append(f"layers ({len(lay)})")
    shown = lay if layers <= 0 or len(lay) <= layers else lay[: layers // 2] + [("...", -1)] + lay[-(layers - layers // 2) :]
    for name, n in shown:
        lines.append("  ..." if n < 0 else f"  {name:<40} {count(n):>9}  {n / tot if tot else 0:6.1%}")
    if m.health is not None:
        bad = [h for h in m.health if h.nan or h.inf]
        zero = [h for h in m.health if h.all_zero]
        lines.append(f"weights     {len(m.health)} tensors read: {len(bad)} with NaN/inf, {len(zero)} all zero, largest |w| {max((h.max_abs for h in m.health), default=0):.4g}")
    if m.spectra:
        alphas = sorted(s.alpha for s in m.spectra)
        med = alphas[len(alphas) // 2]
        lines.append(
            f"spectra     {len(alphas)} matrices: median alpha {med:.2f}, {sum(a < 2 for a in alphas)} below 2 (over-trained), {sum(a > 6 for a in alphas)} above 6 (under-trained)"
        )
    if findings:
        lines.append("findings")
        for s in findings:
            lines.append(f"  {s.severity.upper():<8} {s.id} ({s.code}): {s.summary}")
            for e in s.evidence[:3]:
                lines.append(f"           · {e.text}  [{e.source}]")
    else:
        lines.append("findings    none")
    for n in m.notes:
        lines.append(f"note        {n}")
    return "\n".join(lines) + "\n"


def model(
    path: Annotated[Optional[Path], typer.Argument(help="A .safetensors file, a sharded model folder, a torch checkpoint (.pt/.pth/.bin/.ckpt) or an HF config.json.", show_default=False)] = None,
    factory: Annotated[
        Optional[str],
        typer.Option("--factory", help="Build the model by calling module:callable (runs your code; an explicit opt-in), e.g. mypkg.models:build_model.", show_default=False),
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    values: Annotated[bool, typer.Option("--values/--no-values", help="Read the weight values for the health checks (headers only with --no-values).")] = True,
    spectra: Annotated[bool, typer.Option("--spectra/--no-spectra", help="Fit the eigenvalue spectrum (power-law alpha) of each weight matrix.")] = True,
    layers: Annotated[int, typer.Option("--layers", help="How many layers to list (0 = all).")] = 12,
) -> None:
    """Parameters by group and layer, trainable and frozen, dtypes, weight health and spectra of a model.

    Exit codes: 0 read, 2 unreadable or not a model.
    """
    from ..model import load as mload

    if (path is None) == (factory is None):
        fail("give a model PATH or --factory module:callable (one of them)")
        raise typer.Exit(EXIT_USAGE)
    try:
        if factory is not None:
            summary = _from_factory(factory, values=values, spectra=spectra)
        else:
            assert path is not None
            summary = mload.load(path, display=path.name if path.is_file() else None, read_values=values, spectra=spectra and values)
    except mload.LoadError as e:
        fail(f"{path}: {e}")
        raise typer.Exit(EXIT_USAGE)
    except ValueError as e:  # a factory that failed
        fail(str(e))
        raise typer.Exit(EXIT_USAGE)
    found = _findings(summary)
    if format is Format.json:
        d = summary.to_dict()
        d["findings"] = [s.to_dict() for s in found]
        sys.stdout.write(json.dumps(d, indent=2, sort_keys=True, default=float) + "\n")
    else:
        sys.stdout.write(render(summary, found, layers=layers))
    raise typer.Exit(EXIT_OK)


def _from_factory(spec: str, *, values: bool, spectra: bool) -> Any:
    from ..model import factory as fac
    from ..model import health, spectral

    built = fac.build(spec)
    summary, tensors = fac.summarize(built, spec)
    if values:
        def get(name: str) -> Any:
            t = tensors.get(name)
            return None if t is None else fac.raw_values(t)

        summary.health, notes = health.analyze(summary.tensors, get)
        summary.notes.extend(notes)
        if spectra:
            summary.spectra, snotes = spectral.analyze(summary.tensors, get)
            summary.notes.extend(snotes)
    return summary
