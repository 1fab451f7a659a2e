"""TDX902 log_warning: the log carries warnings that bear on training (beyond zero variance).

The signature table below names the warnings PyTorch, Lightning, Accelerate and NumPy print
when something in the loop is off; every other ``UserWarning`` is kept as a fallback, except
those that only announce an API change (deprecations), which say nothing about the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...findings import Evidence, Symptom
from ...run import Event, Run
from ..registry import check


@dataclass(frozen=True)
class Known:
    """A warning worth reporting: an id, a pattern of its message, and what it means."""

    kind: str
    pattern: re.Pattern[str]
    label: str
    meaning: str
    categories: tuple[str, ...] = ()  # empty: any category


def _known(kind: str, pattern: str, label: str, meaning: str, categories: tuple[str, ...] = ()) -> Known:
    return Known(kind, re.compile(pattern), label, meaning, categories)


# Most specific first; the messages are PyTorch's, Lightning's, Accelerate's and NumPy's own words.
KNOWN: tuple[Known, ...] = (
    _known(
        "scheduler_before_optimizer",
        r"Detected call of `?lr_scheduler\.step\(\)`? before `?optimizer\.step\(\)",
        "lr_scheduler.step() called before optimizer.step()",
        "PyTorch skips the schedule's first value, so every LR comes one step early",
    ),
    _known(
        "scheduler_epoch_argument",
        r"epoch parameter in `?scheduler\.step\(\)`? was not necessary",
        "scheduler.step(epoch) called with an epoch",
        "the closed-form schedule is used, and an epoch that does not match the scheduler's count puts the LR off its curve",
    ),
    _known(
        "target_size_mismatch",
        r"Using a target size \(.{0,200}?\) that is different to the input size",
        "loss target and input of different sizes",
        "the loss broadcasts the target against the prediction, comparing every output with every target",
    ),
    _known(
        "grad_missing",
        r"\.grad attribute of a Tensor that is not a leaf|Gradients will be None|\bgrad(?:ient)?s? (?:is|are) None|"
        r"does not require grad|[Gg]radient accumulation",
        "gradients missing or accumulated unexpectedly",
        "some gradients are None, read from non-leaf tensors, or accumulated differently than configured, so the optimizer may not update what it should",
    ),
    _known(
        "dataloader_workers",
        r"DataLoader will create \d+ worker processes|does not have many workers|[Dd]ata[Ll]oader worker",
        "DataLoader worker setting",
        "too many workers for the machine (the loader may slow down or freeze) or too few (input may bottleneck the steps)",
    ),
    _known(
        "numpy_nonfinite",
        r"overflow encountered|invalid value encountered|divide by zero encountered|Mean of empty slice|Degrees of freedom <= 0",
        "NumPy produced inf or NaN",
        "a NumPy computation on this path (a metric, a data transform, a loss term) overflowed, divided by zero or reduced an empty array",
        ("RuntimeWarning",),
    ),
)

# UserWarnings that only announce an API change say nothing about this run.
_API_CHANGE = re.compile(r"deprecat|will be removed|no longer|in a future|future (?:release|version)|use_reentrant|TypedStorage|renamed", re.IGNORECASE)
_FALLBACK_CATEGORIES = ("UserWarning", "PossibleUserWarning")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


_ORIGIN = re.compile(r"^\s*(?P<path>[^\s:]+\.py):(?P<line>\d+):\s*")
_LIBRARY = ("site-packages", "dist-packages", "/lib/python")


def _message(e: Event) -> str:
    return str(e.get("message") or e.text)


def quote(e: Event, limit: int) -> str:
    """The warning as printed, from its category on; the code that raised it is named when it
    is the user's own (a library's internals say nothing about the run)."""
    text = e.text.strip()
    origin = ""
    m = _ORIGIN.match(text)
    if m is not None:
        text = text[m.end() :]
        if not any(lib in m.group("path") for lib in _LIBRARY):
            origin = f" [raised at {m.group('path')}:{m.group('line')}]"
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text + origin


def classify(e: Event) -> tuple[str, str, str] | None:
    """(group key, label, meaning) of a warning event worth reporting, else None."""
    msg, cat = _message(e), str(e.get("category") or "")
    for k in KNOWN:
        if k.categories and cat not in k.categories:
            continue
        if k.pattern.search(msg) or k.pattern.search(e.text):
            return k.kind, k.label, k.meaning
    if cat in _FALLBACK_CATEGORIES and not _API_CHANGE.search(msg):
        # one group per message, with its numbers blanked (sizes and counts vary between lines)
        key = _NUMBER.sub("#", msg.strip())[:160]
        return "user_warning:" + key, f"{cat}: {msg.strip()[:80]}", "a library warned about this run's setup"
    return None


@check(code="TDX902", emits="log_warning")
def log_warning(run: Run, *, max_evidence: int = 8, quote_chars: int = 160) -> list[Symptom]:
    """The log carries warnings that bear on training: a scheduler stepped early, gradients missing, NumPy overflow.

    ## Symptom
    Warning lines in a log that name a problem in the training loop, grouped by
    what they say and quoted with ``file:line`` and how often they appear (up to
    ``max_evidence``, 8, groups; each quote cut at ``quote_chars``, 160,
    characters). Recognised: PyTorch's ``Detected call of `lr_scheduler.step()`
    before `optimizer.step()``` and ``The epoch parameter in
    `scheduler.step()` was not necessary``; ``Using a target size ... that is
    different to the input size``; gradients that are ``None``, read from a
    non-leaf tensor or accumulated differently than configured
    (``Gradient accumulation ...``); DataLoader worker warnings (too many
    workers for the machine, Lightning's ``does not have many workers``); NumPy
    ``RuntimeWarning`` lines (overflow, invalid value, divide by zero, mean of
    an empty slice). Any other ``UserWarning`` is reported as itself, except those
    that only announce an API change (deprecated, removed in a future release,
    ``use_reentrant``). Zero-variance warnings are TDX901's.

    ## Why it matters
    These warnings are the library telling you the loop is not doing what you
    think: a schedule one step early, a loss that broadcasts its target, a
    gradient that never reaches the optimizer, a metric computed on inf. They
    scroll past in the console and are rarely read; the severity is low
    because most of them cost little, but a few explain a failure outright.

    ## Evidence
    For each distinct warning: the first line that carries it, its count, and
    the last line when it repeats.

    ## Likely causes
    ``scheduler.step()`` called before ``optimizer.step()`` (or an AMP
    GradScaler skipping the first optimizer step); a target of shape ``[N]``
    against an output of ``[N, 1]``; parameters frozen or detached by mistake;
    ``num_workers`` set for another machine; ``np.exp``/``np.log``/division on
    unguarded values.

    ## Fix
    Call ``optimizer.step()`` before ``scheduler.step()``; drop the ``epoch``
    argument to ``scheduler.step()``; make the target the prediction's shape
    (``target.view_as(output)``); check ``requires_grad`` and where gradients
    are read; set ``num_workers`` to the suggested value; guard the NumPy
    computation (``np.clip``, ``np.errstate`` to find it).

    ## Known false positives
    With an AMP ``GradScaler``, the scheduler warning also appears when the
    scaler skips the first optimizer step on an overflow (harmless). A
    ``UserWarning`` from a library's own internals may be noise; only the
    signature table above is known to matter. The table is our own reading of
    the messages these libraries print (torch 1.x-2.x, Lightning 1.x-2.x,
    Accelerate, NumPy); the rest of the thresholds are presentation limits.
    """
    groups: dict[str, list[Event]] = {}
    info: dict[str, tuple[str, str]] = {}
    for e in run.events_of("warning"):
        got = classify(e)
        if got is None:
            continue
        key, label, meaning = got
        groups.setdefault(key, []).append(e)
        info.setdefault(key, (label, meaning))
    if not groups:
        return []
    # known signatures first (table order), then the fallback groups by count and first line
    order = {k.kind: i for i, k in enumerate(KNOWN)}
    keys = sorted(groups, key=lambda k: (order.get(k, len(order)), -len(groups[k]), groups[k][0].where, k))
    evidence: list[Evidence] = []
    for key in keys[:max_evidence]:
        evs = groups[key]
        first, last = evs[0], evs[-1]
        times = f"{len(evs)} times, last at {last.where}" if len(evs) > 1 else "once"
        evidence.append(Evidence(f"{quote(first, quote_chars)} ({times}): {info[key][1]}", first.where, first.step))
    total = sum(len(v) for v in groups.values())
    shown = ", ".join(f"{info[k][0]} ({len(groups[k])}x)" for k in keys[:3])
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    first_step = min((e.step for v in groups.values() for e in v if e.step is not None), default=None)
    return [
        Symptom(
            id="log_warning",
            code="TDX902",
            severity="low",
            summary=f"the log carries {len(keys)} distinct warning{'s' if len(keys) != 1 else ''} that bear on training ({total} line{'s' if total != 1 else ''}): {shown}{more}",
            step=first_step,
            evidence=evidence,
            data={
                "count": total,
                "kinds": {k: len(groups[k]) for k in keys},
            },
        )
    ]
