"""TDX601 run_crashed: the logs record an error that stops training."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Event, Run
from ..registry import check

FATAL_KINDS = (
    "exception",
    "killed",
    "loss_scale_min",
    "cuda_error",
    "nccl_timeout",
    "nccl_error",
    "gloo_error",
    "dataloader_crash",
    "dataloader_timeout",
    "shm_error",
    "autograd_error",
    "shape_error",
    "dtype_error",
    "index_error",
)


def fatal_events(run: Run) -> list[Event]:
    """Events that end a run (OOM has its own check); a deliberate cancel is not one."""
    out = []
    for e in run.events:
        if e.kind in FATAL_KINDS:
            out.append(e)
        elif e.kind == "run_status" and str(e.get("status", "")).lower() in ("failed", "killed"):
            out.append(e)
    return out


@check(code="TDX601", emits="run_crashed")
def run_crashed(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """The logs record an error that stops training: an exception, a kill, a fatal loss-scale floor.

    ## Symptom
    A traceback or error message (exception, CUDA or NCCL error, DataLoader
    worker crash, shape/dtype/index error, autograd misuse), a process killed
    by a signal, a loss scaler that hit its minimum, or a tracking-system run
    marked FAILED or KILLED. Out-of-memory errors have their own check
    (TDX602). The last ``max_evidence`` (3) such events are quoted.

    ## Why it matters
    A run that stopped on an error is not healthy whatever its curves looked
    like until then; the error's type and the step it came at point to the
    cause.

    ## Evidence
    The error lines with their ``file:line`` and step when known, the exception
    type and message as parsed from the traceback block.

    ## Likely causes
    fp16 overflow (loss scale at its minimum), host memory exhaustion (killed
    by signal 9), collective timeouts in distributed runs, corrupt or
    mis-shaped data (shape, dtype and index errors), code bugs.

    ## Fix
    Depends on the error: the root-cause rules map the known ones; for the
    rest, the innermost exception of the traceback is where to start.

    ## Known false positives
    A Slurm cancel at the end of a planned benchmark (``CANCELLED AT``) and a
    user's Ctrl-C are not crashes and are ignored. Errors that a script caught
    and logged without stopping are reported too; the step shows whether
    training continued afterwards.
    """
    evs = fatal_events(run)
    if not evs:
        return []
    # the most informative first: those with parsed data, then the latest
    chosen = sorted(evs, key=lambda e: (len(e.data) > 0, e.step if e.step is not None else -1.0, e.line or 0), reverse=True)[:max_evidence]
    chosen.sort(key=lambda e: (e.source, e.line or 0))
    kinds = sorted({e.kind for e in evs})
    last = max(evs, key=lambda e: (e.step if e.step is not None else -1.0, e.line or 0))
    exc = last.get("exc_type") or last.kind
    msg = last.get("message")
    summary = f"the run records {len(evs)} fatal error event{'s' if len(evs) != 1 else ''} ({', '.join(kinds)}); the last: {exc}"
    if msg:
        summary += f": {str(msg)[:160]}"
    severity = "critical" if any(e.kind in ("loss_scale_min", "killed") for e in evs) else "high"
    return [
        Symptom(
            id="run_crashed",
            code="TDX601",
            severity=severity,
            summary=summary,
            metric=None,
            step=last.step,
            evidence=[Evidence(e.text[:300], e.where, e.step) for e in chosen],
            data={"kinds": kinds, "count": len(evs), "last_kind": last.kind, "exc_type": last.get("exc_type")},
        )
    ]
