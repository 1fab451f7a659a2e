"""``traindx diagnose PATH...``: symptoms, ranked root causes and fixes for a run."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, fail, warn


class Format(str, Enum):
    text = "text"
    json = "json"
    md = "md"


class LogTo(str, Enum):
    mlflow = "mlflow"
    wandb = "wandb"
    tensorboard = "tensorboard"


class FailOn(str, Enum):
    never = "never"
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def diagnose(
    paths: Annotated[
        Optional[list[Path]],
        typer.Argument(help="Run folders or files: logs, metric CSV/JSONL, trainer_state.json, configs, tracebacks, tracking-system folders.", show_default=False),
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format on stdout.")] = Format.text,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Also write diagnosis.json, report.md, report.html and the PNG plots into this folder (never the run folder).", show_default=False),
    ] = None,
    symptom: Annotated[
        Optional[list[str]],
        typer.Option("--symptom", "-s", help='A symptom you saw, checked against the evidence (repeatable), e.g. "Loss diverged at epoch 7".', show_default=False),
    ] = None,
    context: Annotated[
        Optional[Path],
        typer.Option("--context", help="A context package (JSON: task, artifacts, symptoms, constraints) as an agent gathers it.", show_default=False),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option("--fail-on", help="Exit with code 1 when a finding is at or above this severity (for CI)."),
    ] = FailOn.never,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display and no warnings on stderr.")] = False,
    mlflow_uri: Annotated[
        Optional[str],
        typer.Option("--mlflow-uri", help="An MLflow tracking server (http://HOST:PORT) or store (sqlite:///mlflow.db, an mlruns folder) to read the run from; PATH may also be mlflow://HOST:PORT/RUN_ID.", show_default=False),
    ] = None,
    run_id: Annotated[Optional[str], typer.Option("--run-id", help="The MLflow run to read (default: the latest started).", show_default=False)] = None,
    log_to: Annotated[
        Optional[LogTo],
        typer.Option(
            "--log-to",
            help="Also log the diagnosis back into the run: MLflow artifacts under traindx/ and tags traindx.status, traindx.top_cause; W&B files in the run's files/.traindx/; a TensorBoard text summary in a new event file. The one case where traindx writes next to a run, and only when asked.",
            show_default=False,
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also write a short plain-language explanation with an LLM (needs ANTHROPIC_API_KEY and traindx[agent]); every sentence cites evidence ids, uncited ones are dropped. Printed after the report (on stderr with --format json).",
        ),
    ] = False,
) -> None:
    """Diagnose a training run: what went wrong, where, why, and what to do.

    Exit codes: 0 no finding at or above --fail-on, 1 findings at or above it,
    2 usage error or nothing readable.
    """
    from ..context import ContextError, load_context
    from ..engine import diagnose_paths
    from ..findings import severity_rank

    from ..ingest.mlflow_server import TrackingError, read_refs, split_paths

    try:
        paths, refs = split_paths(list(paths or []), mlflow_uri, run_id)
    except TrackingError as e:
        fail(str(e))
        raise typer.Exit(EXIT_USAGE)
    ctx = None
    if context is not None:
        try:
            ctx = load_context(context)
        except ContextError as e:
            fail(str(e))
            raise typer.Exit(EXIT_USAGE)
    if not paths and not refs and (ctx is None or not (ctx.paths or ctx.error_texts)):
        fail("no path given: traindx diagnose PATH... (a run folder or files), or --context FILE")
        raise typer.Exit(EXIT_USAGE)
    if out is not None:
        for p in paths + (ctx.paths if ctx else []):
            folder = p if p.is_dir() else p.parent
            if p.exists() and _inside(out, folder):
                fail(f"--out {out} is inside the run folder {folder}; traindx never writes into the input, choose another folder")
                raise typer.Exit(EXIT_USAGE)

    progress_cb = None
    progress_ctx = None
    if not quiet and sys.stderr.isatty():
        from rich.progress import BarColumn, Progress, TextColumn

        progress_ctx = Progress(TextColumn("reading"), BarColumn(), TextColumn("{task.description}"), transient=True)
        task_id = progress_ctx.add_task("", total=100)

        def progress_cb(name: str, pct: int) -> None:
            progress_ctx.update(task_id, completed=pct, description=name[-60:])

        progress_ctx.start()
    try:
        tracked = read_refs(refs)
        diagnosis = diagnose_paths(paths, user_symptoms=list(symptom or []), context=ctx, progress=progress_cb, parts=tracked)
    except TrackingError as e:
        fail(str(e))
        raise typer.Exit(EXIT_USAGE)
    finally:
        if progress_ctx is not None:
            progress_ctx.stop()

    run = diagnosis.run
    problems = [s for s in run.skipped if s.error]
    if not run.sources and not run.config:
        if problems:
            for s in problems[:20]:
                fail(f"{s.path}: {s.reason}")
            if len(problems) > 20:
                fail(f"... and {len(problems) - 20} more unreadable inputs")
        else:
            n = len(run.skipped)
            reasons: dict[str, int] = {}
            for s in run.skipped:
                reasons[s.reason] = reasons.get(s.reason, 0) + 1
            top = ", ".join(f"{r}: {c}" for r, c in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
            if n == 1:
                fail(f"no training artifacts found: {run.skipped[0].path}: {run.skipped[0].reason}")
            elif n:
                fail(f"no training artifacts found: {n} files skipped ({top})")
            else:
                fail("no files found")
        raise typer.Exit(EXIT_USAGE)
    if not quiet:
        for s in problems:
            warn(f"{s.path}: {s.reason}")
        for issue in run.issues[:5]:
            warn(str(issue))
        if len(run.issues) > 5:
            warn(f"... and {len(run.issues) - 5} more read issues (listed in --format json under run.read_issues)")

    if out is not None:
        from ..report import write_reports

        try:
            write_reports(diagnosis, out)
        except OSError as e:
            fail(f"{out}: cannot write the report ({e.strerror or e})")
            raise typer.Exit(EXIT_USAGE)

    if format is Format.json:
        from ..render.json import to_json

        sys.stdout.write(to_json(diagnosis))
    elif format is Format.md:
        from ..render.markdown import to_markdown

        sys.stdout.write(to_markdown(diagnosis))
    else:
        from rich.console import Console

        from ..render.text import render_text

        render_text(diagnosis, Console(highlight=False, soft_wrap=False))

    if log_to is not None:
        from ..logback import LogBackError, log_back

        try:
            done = log_back(diagnosis, log_to.value, paths=paths + (ctx.paths if ctx else []), tracking=refs[0] if refs else None, out=out)
        except LogBackError as e:
            fail(str(e))
            raise typer.Exit(EXIT_USAGE)
        if not quiet:
            sys.stderr.write(f"traindx: logged the diagnosis to {done}\n")

    if explain:
        _explain(diagnosis, format)

    if fail_on is not FailOn.never:
        threshold = severity_rank(fail_on.value)
        worst = max(
            [severity_rank(s.severity) for s in diagnosis.symptoms] + [severity_rank(h.severity) for h in diagnosis.root_causes] + [-1]
        )
        if worst >= threshold:
            raise typer.Exit(EXIT_FINDINGS)
    raise typer.Exit(EXIT_OK)


def _explain(diagnosis: object, format: Format) -> None:
    """The --explain narrative: on stdout after a text or Markdown report, on stderr with JSON; a missing key is said, not fatal."""
    from ..agent.narrative import NarrativeUnavailable, explain, render

    try:
        nar = explain(diagnosis.to_dict())  # type: ignore[attr-defined]
    except NarrativeUnavailable as e:
        sys.stdout.flush()
        warn(f"--explain: {e}")
        return
    text = render(nar, markdown=format is Format.md)
    if format is Format.json:
        sys.stderr.write(text)
    else:
        sys.stdout.write("\n" + text)
