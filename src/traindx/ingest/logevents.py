"""Signatures of the things a training log *says happened*: errors, overflows, saves.

Any reader of printed output can use this module:

* :func:`line_events` looks at one line and returns the events it states (a CUDA
  out-of-memory message with its sizes in bytes, a DeepSpeed loss-scale
  overflow with the scale before and after, a checkpoint save, a Slurm
  cancellation, a Python warning...). Most lines state nothing; a single
  pre-filter regex rejects them before any signature is tried.
* :class:`TracebackTracker` is fed every line and recognises Python
  ``Traceback (most recent call last):`` blocks, follows chained exceptions
  (``The above exception was the direct cause...``, ``During handling...``,
  DataLoader's ``Original Traceback``) and classifies the block with the same
  signature table applied to each exception message, the original cause first.
* :func:`strip_rank` removes a ``[rank3]: `` or ``[default3]:`` launcher prefix
  and returns the rank.

Signatures were taken from real messages (torch 2.0-2.13, DeepSpeed, Apex,
fairseq, NCCL, Gloo, Slurm); see FORMATS.md section 9 of the project notes.
Sizes are returned in bytes (``GiB`` = 2**30). Nothing here raises on odd input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = [
    "Found",
    "TracebackTracker",
    "line_events",
    "strip_rank",
    "to_bytes",
    "parse_number",
]


@dataclass
class Found:
    """One event stated by a line or a traceback block."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    line: int | None = None  # set by the traceback tracker (the line of the exception)
    text: str = ""


_UNITS = {
    "b": 1,
    "bytes": 1,
    "byte": 1,
    "kb": 1024,
    "kib": 1024,
    "mb": 1024**2,
    "mib": 1024**2,
    "gb": 1024**3,
    "gib": 1024**3,
    "tb": 1024**4,
    "tib": 1024**4,
}


def to_bytes(value: str, unit: str) -> int | None:
    """``("896.00", "MiB") -> 939524096``; PyTorch's KB/MB/GB are binary units too."""
    mult = _UNITS.get(unit.strip().lower())
    num = parse_number(value)
    if mult is None or num is None:
        return None
    return int(round(num * mult))


def parse_number(text: str) -> float | None:
    """A float from a printed number (``"1.52e-05"``, ``"64"``, ``"65536.0"``), else None."""
    try:
        return float(text.strip().rstrip(".,;"))
    except (ValueError, AttributeError):
        return None


_RANK_RE = re.compile(r"^\[(?:rank|default)?\s*(\d+)\]:\s?")


def strip_rank(text: str) -> tuple[str, int | None]:
    """``"[rank6]: RuntimeError: ..." -> ("RuntimeError: ...", 6)``."""
    if text.startswith("[") and "]:" in text[:16]:
        m = _RANK_RE.match(text)
        if m:
            return text[m.end() :], int(m.group(1))
    return text, None


# ---------------------------------------------------------------------------
# the signature table
# ---------------------------------------------------------------------------

_SZ = r"([\d.]+)\s*([KMGT]i?B|bytes|B)"

# Words that must appear for any signature to apply (one regex pass per line).
_PREFILTER = re.compile(
    r"out of memory|OutOfMemory|overflow|OVERFLOW|loss scale already|Killed|killed|SIGKILL|exitcode|exit (?:code|status)|"
    r"oom-kill|nan values|degrees of freedom|Watchdog|NCCL|nccl|[Gg]loo|DataLoader|bus error|shape|size of tensor|"
    r"batch_size|state_dict|dtype|scalar type|type \(|out of bounds|out of range|inplace operation|backward through|"
    r"does not require grad|mark a variable|finished reduction|[Cc]heckpoint|saving model|Saving |learning rate|"
    r"CANCELLED|Warning|WARNING|Error|Exception|Interrupt|CUDA error|Minimum loss scale|channels|model-\d|Snapshotting"
)


def _oom_new(m: re.Match[str], text: str) -> dict[str, Any]:
    d: dict[str, Any] = {}
    t = re.search(r"Tried to allocate " + _SZ, text)
    if t:
        d["tried_to_allocate"] = to_bytes(t.group(1), t.group(2))
    g = re.search(r"GPU (\d+) has a total capac(?:i)?ty of " + _SZ + r" of which " + _SZ + " is free", text)
    if g:
        d["gpu"] = int(g.group(1))
        d["total_capacity"] = to_bytes(g.group(2), g.group(3))
        d["free"] = to_bytes(g.group(4), g.group(5))
        d["torch_generation"] = "2.1" if "capacty" in text else ">=2.2"
    p = re.search(r"this process has " + _SZ + " memory in use", text)
    if p:
        d["process_in_use"] = to_bytes(p.group(1), p.group(2))
    a = re.search(
        r"Of the allocated memory " + _SZ + r" is allocated by PyTorch, and " + _SZ + r" is reserved by PyTorch but unallocated",
        text,
    )
    if a:
        d["allocated_by_pytorch"] = to_bytes(a.group(1), a.group(2))
        d["reserved_unallocated"] = to_bytes(a.group(3), a.group(4))
    old = re.search(
        r"\(GPU (\d+); " + _SZ + r" total capacity; " + _SZ + r" already allocated; " + _SZ + r" free; "
        r"(?:" + _SZ + r" allowed; )?" + _SZ + r" reserved in total by PyTorch",
        text,
    )
    if old:
        d["gpu"] = int(old.group(1))
        d["total_capacity"] = to_bytes(old.group(2), old.group(3))
        d["allocated_by_pytorch"] = to_bytes(old.group(4), old.group(5))
        d["free"] = to_bytes(old.group(6), old.group(7))
        reserved = to_bytes(old.group(10), old.group(11))
        d["reserved_by_pytorch"] = reserved
        if reserved is not None and d["allocated_by_pytorch"] is not None:
            d["reserved_unallocated"] = max(reserved - d["allocated_by_pytorch"], 0)
        d["torch_generation"] = "<=2.0"
    if "MPS backend out of memory" in text:
        d["device"] = "mps"
    else:
        d.setdefault("device", "cuda")
    return d


def _groups(*names: str, conv: tuple[Callable[[str], Any], ...] | None = None) -> Callable[[re.Match[str], str], dict[str, Any]]:
    """A data builder that names the regex groups (``None`` names are dropped)."""

    def build(m: re.Match[str], _text: str) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for i, n in enumerate(names):
            if n is None:
                continue
            v = m.group(i + 1)
            if v is None:
                continue
            f = conv[i] if conv is not None and i < len(conv) else _auto
            d[n] = f(v)
        return d

    return build


def _auto(v: str) -> Any:
    v = v.strip()
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    n = parse_number(v)
    return n if n is not None else v


def _text(v: str) -> str:
    return v.strip()


def _const(**kw: Any) -> Callable[[re.Match[str], str], dict[str, Any]]:
    return lambda _m, _t: dict(kw)


def _checkpoint(m: re.Match[str], text: str) -> dict[str, Any]:
    d: dict[str, Any] = {}
    path = m.groupdict().get("path")
    if path:
        d["path"] = path.strip().strip("'\"").rstrip(".,")
    for pat in (
        r"at iteration\s+(\d+)",
        r"global[_ ]step[ =:]?(\d+)",
        r"checkpoint-(\d+)",
        r"@ (\d+) updates",
        r"model-(\d+)",
        r"step=(\d+)",
        r"iter(?:ation)?_?0*(\d+)\b",
    ):
        s = re.search(pat, text)
        if s:
            d["checkpoint_step"] = int(s.group(1))
            break
    e = re.search(r"\(epoch (\d+)|\bepoch=(\d+)|^Epoch (\d+):", text)
    if e:
        d["epoch"] = int(next(g for g in e.groups() if g is not None))
    return d


def _overflow_ds(m: re.Match[str], text: str) -> dict[str, Any]:
    d: dict[str, Any] = {"source": "deepspeed"}
    r = re.search(r"Rank (\d+)", text)
    if r:
        d["rank"] = int(r.group(1))
    d["from"] = parse_number(m.group(1))
    if m.group(2) is not None:
        d["to"] = parse_number(m.group(2))
    else:  # hysteresis absorbed the overflow: the scale did not change
        d["to"] = d["from"]
        d["hysteresis"] = int(m.group(4))
    return d


def _warning(m: re.Match[str], _text: str) -> dict[str, Any]:
    return {"category": m.group(1), "message": m.group(2).strip()[:300]}


def _ddp_rank(m: re.Match[str], text: str) -> dict[str, Any]:
    d = _groups("seq", "op_type", "numel_in", "numel_out", "timeout_ms", "ran_ms")(m, text)
    r = re.search(r"\[Rank (\d+)\]", text)
    if r:
        d["rank"] = int(r.group(1))
    return d


_Sig = tuple[str, "re.Pattern[str]", Callable[[re.Match[str], str], dict[str, Any]]]


def _sig(kind: str, pattern: str, build: Callable[[re.Match[str], str], dict[str, Any]] | None = None, flags: int = 0) -> _Sig:
    return (kind, re.compile(pattern, flags), build or _const())


# Order matters: the first signature that matches a line wins, so specific
# messages come before the generic ones (a DataLoader worker "killed by
# signal: Killed" is a DataLoader crash, not a host OOM).
SIGNATURES: tuple[_Sig, ...] = (
    # -- memory
    _sig("oom", r"(?:CUDA|HIP|MPS backend|XPU) out of memory", _oom_new),
    _sig("oom", r"CUDA error: out of memory|CUBLAS_STATUS_ALLOC_FAILED", _const(device="cuda")),
    # -- numerics
    _sig(
        "nan_anomaly",
        r"Function '(\w+)' returned nan values in its (\d+)(?:st|nd|rd|th) output",
        _groups("function", "output"),
    ),
    _sig("zero_variance", r"\b(var|std)(?:_mean)?\(\): degrees of freedom is <= 0", _groups("function")),
    # -- fp16 loss scaling
    _sig("loss_scale_min", r"Current loss scale already at minimum", _const(source="deepspeed")),
    _sig("loss_scale_min", r"Minimum loss scale reached \(([-\d.eE+]+)\)", _groups("min_scale")),
    _sig(
        "loss_scale_overflow",
        r"Attempted loss scale: ([\d.eE+-]+)(?:, reducing to ([\d.eE+-]+)|(, but hysteresis is \d+\. Reducing hysteresis to (\d+)))",
        _overflow_ds,
    ),
    _sig(
        "loss_scale_overflow",
        r"Gradient overflow\.\s+Skipping step, loss scaler (\d+) reducing loss scale to ([\d.eE+-]+)",
        lambda m, t: {"source": "apex", "scaler": int(m.group(1)), "to": parse_number(m.group(2))},
    ),
    _sig(
        "loss_scale_overflow",
        r"overflow detected, (?:ignoring gradient, )?setting loss scale to: ([\d.eE+-]+)",
        lambda m, t: {"source": "fairseq", "to": parse_number(m.group(1))},
    ),
    _sig(
        "loss_scale_overflow",
        r"(?:[Oo]verflow|OVERFLOW).*?reducing (?:loss )?scale to:? ([\d.eE+-]+)",
        lambda m, t: {"to": parse_number(m.group(1))},
    ),
    # -- distributed
    _sig(
        "nccl_timeout",
        r"Watchdog caught collective operation timeout: WorkNCCL\(SeqNum=(\d+), OpType=(\w+), NumelIn=(\d+), "
        r"NumelOut=(\d+), Timeout\(ms\)=(\d+)\) ran for (\d+) milliseconds",
        _ddp_rank,
    ),
    _sig(
        "nccl_progress",
        r"Rank (\d+)\] Timeout at NCCL work: (\d+), last enqueued NCCL work: (-?\d+), last completed NCCL work: (-?\d+)",
        _groups("rank", "work", "last_enqueued", "last_completed"),
    ),
    _sig(
        "nccl_error",
        r"NCCL error in: (\S+?),? (.+?)(?:, NCCL version ([\d.]+\S*))?$",
        _groups("where", "reason", "nccl_version", conv=(_text, _text, _text)),
    ),
    _sig(
        "nccl_error",
        r"(nccl(?:UnhandledCudaError|SystemError|InternalError|InvalidUsage|InvalidArgument|RemoteError)): ?(.*)",
        _groups("code", "reason", conv=(_text, _text)),
    ),
    _sig(
        "gloo_timeout",
        r"[Gg]loo.*Timed out waiting (\d+)ms for (\w+) operation",
        _groups("timeout_ms", "op"),
    ),
    _sig("gloo_error", r"gloo/transport/\S+\] (Connection closed by peer|Connection reset by peer.*|Read error.*)", _groups("reason", conv=(_text,))),
    # -- data loading
    _sig(
        "dataloader_crash",
        r"DataLoader worker \(pid (\d+)\) is killed by signal: ([\w ]+?)(?:\.|$)",
        _groups("pid", "signal", conv=(int, _text)),
    ),
    _sig(
        "dataloader_crash",
        r"DataLoader worker \(pid\(s\) ([\d, ]+)\) exited unexpectedly",
        _groups("pids", conv=(_text,)),
    ),
    _sig(
        "dataloader_crash",
        r"Caught (\w+) in DataLoader worker process (\d+)",
        _groups("error", "worker", conv=(_text, int)),
    ),
    _sig("dataloader_timeout", r"DataLoader timed out after (\d+) seconds", _groups("seconds")),
    _sig("shm_error", r"bus error encountered in worker|insufficient shared memory \(shm\)", _const(resource="shm")),
    # -- host kills
    _sig("killed", r"Signal (\d+) \((SIG\w+)\) received by PID (\d+)", _groups("signal", "signal_name", "pid", conv=(int, _text, int))),
    _sig("killed", r"exitcode\s*:\s*-(9|15) \(pid: (\d+)\)", _groups("signal", "pid")),
    _sig("killed", r"Out of memory: Killed process (\d+)", lambda m, t: {"pid": int(m.group(1)), "oom": True}),
    _sig("killed", r"Detected (\d+) oom-kill event", lambda m, t: {"oom": True, "count": int(m.group(1))}),
    _sig("killed", r"^\s*(?:\S+: line \d+: \s*\d+ )?Killed(?:\s+\S.*)?$", _const(signal=9)),
    _sig("killed", r"exit(?:ed with)? (?:code|status)[ :=]+137\b", _const(signal=9, exit_code=137)),
    # -- shapes, dtypes, indices, autograd
    _sig(
        "shape_error",
        r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)",
        lambda m, t: {"what": "matmul", "a": f"{m.group(1)}x{m.group(2)}", "b": f"{m.group(3)}x{m.group(4)}"},
    ),
    _sig(
        "shape_error",
        r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton dimension (\d+)",
        lambda m, t: {"what": "broadcast", "a": int(m.group(1)), "b": int(m.group(2)), "dim": int(m.group(3))},
    ),
    _sig(
        "shape_error",
        r"shape '\[([-\d, ]*)\]' is invalid for input of size (\d+)",
        lambda m, t: {"what": "view", "shape": m.group(1), "size": int(m.group(2))},
    ),
    _sig(
        "shape_error",
        r"Expected input batch_size \((\d+)\) to match target batch_size \((\d+)\)",
        lambda m, t: {"what": "batch_size", "input": int(m.group(1)), "target": int(m.group(2))},
    ),
    _sig(
        "shape_error",
        r"size mismatch for ([\w.]+): copying a param with shape torch\.Size\(\[([\d, ]*)\]\) from checkpoint, "
        r"the shape in current model is torch\.Size\(\[([\d, ]*)\]\)",
        lambda m, t: {"what": "state_dict", "param": m.group(1), "checkpoint": m.group(2), "model": m.group(3)},
    ),
    _sig(
        "shape_error",
        r"(Missing|Unexpected) key\(s\) in state_dict: (.*)",
        lambda m, t: {"what": "state_dict_" + m.group(1).lower(), "keys": m.group(2).strip()[:300]},
    ),
    _sig(
        "shape_error",
        r"expected input\[([\d, ]+)\] to have (\d+) channels, but got (\d+) channels",
        lambda m, t: {"what": "channels", "input": m.group(1), "expected": int(m.group(2)), "got": int(m.group(3))},
    ),
    _sig("shape_error", r"Sizes of tensors must match except in dimension (\d+)", lambda m, t: {"what": "cat", "dim": int(m.group(1))}),
    _sig(
        "dtype_error",
        r"(?:mat1 and mat2|expected m1 and m2 to) (?:must )?have the same dtype, but got:? ([\w:]+) (?:and|!=) ([\w:]+)",
        _groups("a", "b", conv=(_text, _text)),
    ),
    _sig("dtype_error", r"expected target dtype to be (.+?), but got (\w+)", _groups("expected", "got", conv=(_text, _text))),
    _sig("dtype_error", r"expected scalar type (\w+) but found (\w+)", _groups("expected", "got", conv=(_text, _text))),
    _sig("dtype_error", r"Found dtype (\w+) but expected (\w+)", _groups("got", "expected", conv=(_text, _text))),
    _sig("dtype_error", r"tensors used as indices must be long, int, byte or bool tensors", _const(what="index dtype")),
    _sig(
        "dtype_error",
        r"Input type \(([\w.]+)\) and weight type \(([\w.]+)\) should be the same",
        _groups("input", "weight", conv=(_text, _text)),
    ),
    _sig("index_error", r"Target (-?\d+) is out of bounds", _groups("target")),
    _sig("index_error", r"index out of range in self", _const(what="embedding")),
    _sig("index_error", r"Assertion .*(?:index out of bounds|srcIndex < srcSelectDimSize|t >= 0 && t < n_classes).* failed", _const(what="device assert")),
    _sig(
        "autograd_error",
        r"modified by an inplace operation: \[(.+?)\](?:, which is output (\d+) of (\w+))?, is at version (\d+); expected version (\d+)",
        lambda m, t: {"what": "inplace", "tensor": m.group(1), "op": m.group(3) or "", "version": int(m.group(4)), "expected_version": int(m.group(5))},
    ),
    _sig("autograd_error", r"Trying to backward through the graph a second time", _const(what="backward twice")),
    _sig("autograd_error", r"element 0 of tensors does not require grad and does not have a grad_fn", _const(what="no grad_fn")),
    _sig("autograd_error", r"Expected to mark a variable ready only once|Expected to have finished reduction in the prior iteration", _const(what="ddp")),
    _sig("cuda_error", r"CUDA error: ([^.\n]+)", _groups("reason", conv=(_text,))),
    _sig("cuda_error", r"(cudaError\w+): (.*)", _groups("code", "reason", conv=(_text, _text))),
    # -- run bookkeeping
    _sig(
        "checkpoint",
        r"(?i:saving (?:model )?checkpoint)(?: at iteration\s+\d+)?(?: to|:)?\s+(?P<path>\S+)",
        _checkpoint,
    ),
    _sig("checkpoint", r"^\|?\s*[Ss]aved checkpoint (?P<path>\S+)", _checkpoint),
    _sig("checkpoint", r"^Saving (?P<path>\S*(?:checkpoint|model-\d+|\.ckpt|\.pt\b|\.pth\b|\.bin\b|\.safetensors)\S*)", _checkpoint),
    _sig("checkpoint", r"saving model to (?P<path>\S+)", _checkpoint),
    _sig("checkpoint", r"Snapshotting to (?:binary proto file |HDF5 file )?(?P<path>\S+)", _checkpoint),
    _sig(
        "lr_change",
        r"[Rr]educing learning rate (?:of group (\d+) )?to ([\d.eE+-]+)",
        lambda m, t: {**({"group": int(m.group(1))} if m.group(1) else {}), "lr": parse_number(m.group(2))},
    ),
    _sig(
        "run_status",
        r"\*\*\* (JOB|STEP) (\S+) ON (\S+) CANCELLED AT (\S+)(?: DUE TO ([A-Z ]+?))? \*\*\*",
        lambda m, t: {
            "source": "slurm",
            "status": "cancelled" if not m.group(5) else m.group(5).strip().lower().replace(" ", "_"),
            "scope": m.group(1).lower(),
            "id": m.group(2),
            "node": m.group(3),
            "at": m.group(4),
        },
    ),
    _sig("interrupted", r"^(?:\w+\.)*KeyboardInterrupt\b", _const()),
    # -- warnings (low value; after everything specific)
    _sig("warning", r"\b(\w*Warning): (.+)", _warning),
    # Lightning 2.x prints some warnings as "file.py:LINE: message", with no category
    _sig(
        "warning",
        r"^\S+\.py:\d+: ((?:The '?\w+'?|.*) does not have many workers.+)",
        lambda m, t: {"category": "PossibleUserWarning", "message": m.group(1)[:300]},
    ),
    _sig("warning", r"^(?:\S+ )*?[|\[]? ?(WARNING|WARN)\b[\s:|\]-]+(.+)", _warning),
    # -- any other exception line printed outside a traceback block
    _sig("exception", r"^(?:> )?((?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)): (.+)", lambda m, t: {"exc_type": m.group(1), "message": m.group(2).strip()[:300]}),
)

_SKIP_CHECKPOINT = re.compile(r"successfully saved checkpoint|[Ll]oading checkpoint|[Rr]esum|[Nn]o checkpoint|load_checkpoint")


_CACHE_SIZE = 4096
_cache: dict[str, list[Found]] = {}


# Generated text printed into a log that repeats itself: one character 30+ times ("!!!!", "::::")
# or one word 8+ times in a row ("It It It It ..."). Hex digits, separators and progress-bar
# blocks are not counted (hashes, rules, bars), nor words printed tensors repeat (nan, 0.).
_CHAR_RUN = re.compile(r"([!?:;,@$%&^g-zG-Z])\1{29,}")
_WORD_RUN = re.compile(r"\b([A-Za-z]{1,12})\b(?:\s+\1\b){7,}")
_NOT_TEXT_WORDS = {"nan", "inf", "true", "false", "none", "null", "tensor", "x"}


def degenerate_text(text: str) -> Found | None:
    """A line that quotes degenerate generated text, or None."""
    if len(text) < 30:
        return None
    m = _CHAR_RUN.search(text)
    if m is not None and len(m.group(0)) >= 0.9 * len(text.strip()):
        m = None  # a line of nothing but "!!!!" is a banner, not quoted output
    if m is None and text.count(" ") >= 8:
        m = _WORD_RUN.search(text)
        if m is not None and m.group(1).lower() in _NOT_TEXT_WORDS:
            m = None
    if m is None:
        return None
    run = m.group(0)
    token = m.group(1)
    repeats = len(run) if len(token) == 1 and " " not in run else len(run.split())
    return Found("degenerate_text", {"token": token, "repeats": repeats}, text=text[:300])


def line_events(text: str) -> list[Found]:
    """The events one line states (usually none). The first matching signature wins.

    The answer depends on the text alone, and logs repeat their warnings and
    overflow messages word for word, so answers for lines that state an event
    are remembered (a bounded table, emptied when full). Callers must not
    change what they get.
    """
    if not _PREFILTER.search(text):
        d = degenerate_text(text)
        return [d] if d is not None else []
    got = _cache.get(text)
    if got is None:
        got = _line_events(text)
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[text] = got
    return got


def _line_events(text: str) -> list[Found]:
    for kind, pat, build in SIGNATURES:
        m = pat.search(text)
        if m is None:
            continue
        if kind == "checkpoint" and _SKIP_CHECKPOINT.search(text):
            return []
        if kind == "exception" and ("Warning" in m.group(1)):
            continue
        try:
            data = build(m, text)
        except (ValueError, TypeError, IndexError):
            data = {}
        return [Found(kind, {k: v for k, v in data.items() if v is not None}, text=text)]
    return []


# ---------------------------------------------------------------------------
# traceback blocks
# ---------------------------------------------------------------------------

_TB_START = re.compile(r"^(?:Original )?Traceback \(most recent call last\):")
_CHAIN = re.compile(r"^(The above exception was the direct cause of the following exception:|During handling of the above exception, another exception occurred:)")
_EXC_LINE = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit|Warning|Failure|Timeout|Stop\w*)?)(?::\s?(.*))?$")
_MAX_BLOCK_LINES = 5000


@dataclass
class _Exc:
    exc_type: str
    message: str
    line: int


class TracebackTracker:
    """Recognise Python traceback blocks in a stream of lines.

    Feed every line with :meth:`feed`; it returns ``(inside, finished)`` where
    ``inside`` says the line belongs to a traceback block (so a reader should
    not extract metrics or single-line events from it) and ``finished`` is the
    list of events of blocks that ended on or before this line. Call
    :meth:`close` at the end of the input.
    """

    def __init__(self) -> None:
        self._active = False
        self._start = 0
        self._excs: list[_Exc] = []
        self._state = "frames"  # frames | after_exc | chain
        self._n = 0
        self._had_frames = False

    @property
    def active(self) -> bool:
        return self._active

    def feed(self, lineno: int, text: str) -> tuple[bool, list[Found]]:
        done: list[Found] = []
        if not self._active:
            if "Traceback (most recent call last)" in text and _TB_START.match(text.lstrip("> ")):
                self._begin(lineno)
                return True, done
            return False, done
        self._n += 1
        stripped = text.strip()
        if self._n > _MAX_BLOCK_LINES:
            done.append(self._finish())
            return False, done
        if self._state == "frames":
            if not stripped:
                return True, done
            if text[0] in " \t" or stripped.startswith(("File ", "^", "~")):
                self._had_frames = True
                return True, done
            if _TB_START.match(stripped):
                return True, done
            m = _EXC_LINE.match(stripped)
            if m and (m.group(2) is not None or self._had_frames):
                self._excs.append(_Exc(m.group(1), (m.group(2) or "").strip(), lineno))
                self._state = "after_exc"
                return True, done
            # a line that is neither a frame nor an exception: the block was cut
            done.append(self._finish())
            return False, done
        if self._state == "after_exc":
            if stripped.startswith("Original Traceback (most recent call last)"):
                # DataLoader re-raises a worker's error with the worker's traceback in its message
                self._state = "frames"
                self._had_frames = False
                return True, done
            if _CHAIN.match(stripped):
                self._state = "chain"
                return True, done
            if not stripped:
                return True, done
            if text[0] in " \t" and self._excs:  # a message continued on indented lines
                last = self._excs[-1]
                if len(last.message) < 2000:
                    last.message = (last.message + " " + stripped).strip()
                return True, done
            done.append(self._finish())
            return self._restart_if_start(lineno, text, done)
        # chain: blank lines, then a new Traceback
        if not stripped:
            return True, done
        if _TB_START.match(stripped):
            self._state = "frames"
            self._had_frames = False
            return True, done
        done.append(self._finish())
        return self._restart_if_start(lineno, text, done)

    def _restart_if_start(self, lineno: int, text: str, done: list[Found]) -> tuple[bool, list[Found]]:
        if "Traceback (most recent call last)" in text and _TB_START.match(text.lstrip("> ")):
            self._begin(lineno)
            return True, done
        return False, done

    def close(self) -> list[Found]:
        """Events of a block still open at the end of the input (a truncated traceback)."""
        if not self._active:
            return []
        return [self._finish()]

    def _begin(self, lineno: int) -> None:
        self._active = True
        self._start = lineno
        self._excs = []
        self._state = "frames"
        self._n = 0
        self._had_frames = False

    def _finish(self) -> Found:
        self._active = False
        excs = self._excs
        self._excs = []
        return classify_block(excs, self._start)


def classify_block(excs: list[_Exc], start: int) -> Found:
    """One event for a traceback block: the most specific signature among its exceptions.

    Exceptions are tried in printed order, so the original cause of a chain (or
    the real error inside a DataLoader worker's ``Original Traceback``) decides
    the kind before the exception that merely re-raised it.
    """
    chain = " -> ".join(e.exc_type for e in excs)
    for e in excs:
        text = f"{e.exc_type}: {e.message}" if e.message else e.exc_type
        found = line_events(text)
        for f in found:
            if f.kind in ("warning", "exception"):
                continue
            data = dict(f.data)
            data.update(exc_type=e.exc_type, message=e.message[:300], traceback_line=start)
            if len(excs) > 1:
                data["chain"] = chain
            return Found(f.kind, data, line=e.line, text=text)
    if not excs:
        return Found(
            "exception",
            {"message": "traceback cut before its exception line", "traceback_line": start},
            line=start,
            text="Traceback (most recent call last):",
        )
    last = excs[-1]
    kind = "interrupted" if last.exc_type.endswith("KeyboardInterrupt") else "exception"
    data: dict[str, Any] = {"exc_type": last.exc_type, "message": last.message[:300], "traceback_line": start}
    if len(excs) > 1:
        data["chain"] = chain
        data["cause"] = excs[0].exc_type
    text = f"{last.exc_type}: {last.message}" if last.message else last.exc_type
    return Found(kind, data, line=last.line, text=text)
