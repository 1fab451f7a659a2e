"""Resource causes: memory."""

from __future__ import annotations


from ...findings import Hypothesis
from .. import confidence as conf
from .base import Context, make, rule


# -- resources ----------------------------------------------------------------------------------


@rule("out_of_memory")
def out_of_memory(ctx: Context) -> Hypothesis | None:
    o = ctx.sym("oom_error")
    if o is None:
        return None
    from ...checks.system.oom import human_bytes

    d = o.data
    fix = None
    bs = None
    for key in ("per_device_train_batch_size", "train_batch_size", "batch_size", "micro_batch_size", "train_micro_batch_size_per_gpu"):
        bs = ctx.run.config_value(key)
        if bs is not None:
            break
    if d.get("fragmented"):
        fix = (
            f"The failed request ({human_bytes(d.get('tried_to_allocate'))}) was smaller than the memory PyTorch held reserved but unused "
            f"({human_bytes(d.get('reserved_unallocated'))}): set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True, and if it still fails, halve the per-device batch size."
        )
    elif bs is not None:
        fix = (
            f"Halve {bs.key} (now {bs.value}, {bs.where}) and double gradient accumulation to keep the global batch; "
            "enable gradient checkpointing and bf16/fp16 if not on yet."
        )
    over = ""
    if d.get("tried_to_allocate") and d.get("free") is not None:
        over = f"; it asked for {human_bytes(d['tried_to_allocate'])} with {human_bytes(d['free'])} free"
    return make(
        ctx,
        "out_of_memory",
        # the message with its sizes is the allocator's own report; a bare "out of memory" may be a side effect
        tier=conf.DIRECT if d.get("tried_to_allocate") else conf.CIRCUMSTANTIAL,
        support=2 if d.get("tried_to_allocate") else 0,
        explains=["oom_error"] + (["run_crashed"] if ctx.sym("run_crashed") is not None and ctx.sym("run_crashed").data.get("last_kind") == "exception" and "OutOfMemory" in str(ctx.sym("run_crashed").data.get("exc_type")) else []),
        evidence=list(o.evidence),
        basis="the out-of-memory error is in the log" + over,
        fix=fix,
    )
