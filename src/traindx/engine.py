"""The pipeline: artifacts -> Run -> checks -> symptoms -> reasoning -> Diagnosis."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks.registry import CheckSpec, all_checks
from .diagnosis import Diagnosis
from .findings import Request, Symptom, severity_rank
from .ingest.discover import Progress, discover
from .reasoning import confidence as conf
from .reasoning.catalog import entry
from .reasoning.reason import reason
from .run import ConfigValue, Run, Skipped
from .user_symptoms import check_user_symptom

STATUS_HEALTHY = "healthy"
STATUS_COMPLETE = "diagnosis_complete"
STATUS_MORE = "needs_more_data"

# Symptoms at or above this severity make a run not healthy.
SIGNIFICANT = "medium"


@dataclass
class Deadline:
    """A wall-clock budget for one analysis (the context package's ``constraints.max_analysis_time``).

    The stages ask :meth:`expired` between units of work (before each file after the
    first, before each check, before the reasoning) and record what they leave undone in
    ``not_finished``. A file is not cut part-way: one being read is read to its end, and
    ``stopped_during`` says when the limit passed during reading.
    """

    limit_s: float
    start: float = field(default_factory=time.monotonic)
    not_finished: list[str] = field(default_factory=list)
    stopped_during: str | None = None

    def expired(self, stage: str) -> bool:
        if time.monotonic() - self.start < self.limit_s:
            return False
        if self.stopped_during is None:
            self.stopped_during = stage
        return True

    @property
    def reached(self) -> bool:
        return self.stopped_during is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_analysis_time": self.limit_s,
            "reached": self.reached,
            "stopped_during": self.stopped_during,
            "not_finished": list(self.not_finished),
        }


def run_checks(
    run: Run,
    overrides: dict[str, dict[str, Any]] | None = None,
    *,
    deadline: Deadline | None = None,
    select: Callable[[CheckSpec], bool] | None = None,
) -> tuple[list[Symptom], list[Request], list[str], list[str]]:
    """(symptoms, requests for missing signals, internal errors, codes run).

    With a ``deadline``, the checks not started before it passed are listed in
    ``deadline.not_finished`` (``check TDX101 loss_divergence``); ``select`` runs
    only the checks it accepts (a family, for a tool that shows one part).
    """
    symptoms: list[Symptom] = []
    requests: list[Request] = []
    errors: list[str] = []
    ran: list[str] = []
    for spec in all_checks():
        if select is not None and not select(spec):
            continue
        if deadline is not None and deadline.expired("checks"):
            deadline.not_finished.append(f"check {spec.code} {spec.name}")
            continue
        if spec.missing(run):
            if spec.request is not None:
                requests.append(spec.request)
            continue
        try:
            symptoms.extend(spec.run(run, (overrides or {}).get(spec.code)))
            ran.append(spec.code)
        except Exception as e:  # noqa: BLE001 - a failing check is reported, the others still run
            errors.append(f"{spec.code} {spec.name}: internal error: {type(e).__name__}: {e}")
    symptoms.sort(key=lambda s: (-severity_rank(s.severity), s.code, s.step if s.step is not None else 0.0))
    return symptoms, requests, errors, ran


def _dedupe(requests: list[Request]) -> list[Request]:
    seen: set[str] = set()
    out = []
    for r in requests:
        if r.need not in seen:
            seen.add(r.need)
            out.append(r)
    return out


def diagnose_run(
    run: Run,
    *,
    user_symptoms: Sequence[str] = (),
    task: str | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    deadline: Deadline | None = None,
) -> Diagnosis:
    symptoms, requests, errors, ran = run_checks(run, overrides, deadline=deadline)
    if deadline is not None and deadline.expired("reasoning"):
        hyps, more = [], []
        deadline.not_finished.append("root-cause reasoning")
    else:
        hyps, more, rule_errors = reason(run, symptoms)
        errors.extend(rule_errors)
    significant = [s for s in symptoms if severity_rank(s.severity) >= severity_rank(SIGNIFICANT)]
    has_loss = any(n.startswith("loss/") for n in run.series)
    cut = deadline is not None and bool(deadline.not_finished)
    if cut:
        assert deadline is not None
        requests.insert(
            0,
            Request(
                "more analysis time",
                f"the analysis stopped at its {deadline.limit_s:g} s limit (constraints.max_analysis_time) during {deadline.stopped_during}; "
                f"{len(deadline.not_finished)} part(s) did not run (listed under time_limit.not_finished), so what they would find is unknown",
                "raise constraints.max_analysis_time in the context package, or diagnose without a limit",
            ),
        )
    if cut and not any(h.confidence >= conf.COMPLETE_AT for h in hyps):
        status = STATUS_MORE
    elif not significant:
        status = STATUS_HEALTHY if has_loss else STATUS_MORE
        if not has_loss:
            requests.insert(
                0,
                Request(
                    "training metrics (a loss curve)",
                    "no loss series was found in the given files, so nothing can be said about the training",
                    "point traindx at the run's log, metrics CSV/JSONL, trainer_state.json, or tracking-system folder",
                ),
            )
    elif any(h.confidence >= conf.COMPLETE_AT for h in hyps):
        status = STATUS_COMPLETE
    else:
        status = STATUS_MORE
    if status == STATUS_MORE and hyps and not (more or requests):
        # no missing signal was named, yet no cause is certain: the test of the best hypothesis is what settles it
        top = hyps[0]
        requests.append(
            Request(
                top.confirm or f"a short rerun that tests {top.id}",
                f"no cause reaches {conf.COMPLETE_AT:g}: the best, {top.id} at {top.confidence:.2f}, rests on circumstantial evidence "
                "and the logs hold nothing more that would confirm or rule it out",
                f"apply its fix for a few hundred steps from a checkpoint before the onset ({top.fix}) and compare: {top.verify}".replace(".) and compare", ") and compare"),
            )
        )
    explained = {sid for h in hyps for sid in h.explains}
    unexplained = sorted({s.id for s in significant if s.id not in explained})
    quick: list[str] = []
    for h in hyps:
        # a quick fix for a likely cause; not for one that evidence speaks against while it stays uncertain
        if h.confidence < 0.6 or (h.contradicts and h.confidence < conf.COMPLETE_AT):
            continue
        q = entry(h.id).quick_fix
        if q not in quick:
            quick.append(q)
    user = [check_user_symptom(t, run, symptoms) for t in user_symptoms]
    return Diagnosis(
        status=status,
        run=run,
        symptoms=symptoms,
        root_causes=hyps,
        requests=_dedupe(more + requests),
        user_symptoms=user,
        quick_fixes=quick[:5],
        errors=errors,
        unexplained=unexplained,
        task=task,
        checks_run=ran,
        time_limit=None if deadline is None else deadline.to_dict(),
    )


def diagnose_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    user_symptoms: Sequence[str] = (),
    context: Any = None,
    progress: Progress | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    max_analysis_time: float | None = None,
    parts: Sequence[Any] = (),
) -> Diagnosis:
    """Discover and diagnose; ``context`` is a ContextPackage, the package as a dict, or None.

    A time limit (``max_analysis_time`` in seconds, else the context's
    ``constraints.max_analysis_time``) stops the analysis cleanly: the checks and
    the reasoning not started in time are listed in the diagnosis' ``time_limit``.
    ``parts`` (ingest Parts read elsewhere, e.g. a run fetched from an MLflow
    server) are merged with what the paths hold.
    """
    if isinstance(context, dict):
        from .context import parse_context

        context = parse_context(context, base=Path.cwd())
    limit = max_analysis_time if max_analysis_time is not None else (context.max_analysis_time if context is not None else None)
    deadline = Deadline(limit) if limit is not None else None
    all_paths: list[str | os.PathLike[str]] = list(paths)
    symptoms = list(user_symptoms)
    task = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    labels: dict[Path, str] = {}
    try:
        if context is not None:
            all_paths.extend(context.paths)
            symptoms.extend(context.symptoms)
            task = context.task
            if context.error_texts:
                tmp = tempfile.TemporaryDirectory(prefix="traindx-context-")
                p = Path(tmp.name) / "error_messages.txt"
                p.write_text("\n".join(context.error_texts) + "\n", encoding="utf-8")
                all_paths.append(p)
                labels[p] = "context:error_messages"
        stop = None
        if deadline is not None:

            def stop(display: str) -> bool:
                if not deadline.expired("reading"):
                    return False
                deadline.not_finished.append(f"read {display} (and the files after it)")
                return True

        run = discover(all_paths, progress=progress, labels=labels, parts=parts, stop=stop) if all_paths or parts else Run()
        if deadline is not None:
            deadline.expired("reading")
        if context is not None:
            for k, v in _flatten(context.config).items():
                run.config.setdefault(k, ConfigValue(k, v, context.source, None))
            for m in context.missing:
                run.skipped.append(Skipped(m, f"named in {context.source} but does not exist"))
        return diagnose_run(run, user_symptoms=symptoms, task=task, overrides=overrides, deadline=deadline)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out
