"""Resource causes: out of memory, a memory leak, a data loader that cannot keep up."""

from __future__ import annotations

from ...findings import Evidence, Hypothesis
from .. import confidence as conf
from .base import Context, make, rule


def batch_that_fits(batch: object, d: dict) -> int | None:
    """The largest power-of-two batch whose memory, scaled linearly from the failed one, fits in 90% of the device."""
    from ...run import to_float

    b = to_float(batch)
    need = (d.get("allocated_by_pytorch") or 0) + (d.get("tried_to_allocate") or 0)
    total = d.get("total_capacity")
    if not b or b < 2 or not need or not total:
        return None
    scale = 0.9 * total / need
    if scale >= 1:
        return None
    fits = 1
    while fits * 2 <= b * scale:
        fits *= 2
    return fits if fits < b else None


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
    batch_fix = None
    if bs is not None:
        fits = batch_that_fits(bs.value, d)
        target = f"{fits}" if fits is not None else "half of it"
        batch_fix = (
            f"Set {bs.key} (now {bs.value}, {bs.where}) to {target} and raise gradient accumulation to keep the global batch; "
            "enable gradient checkpointing and bf16/fp16 if not on yet."
        )
        if fits is not None:
            batch_fix += (
                f" ({fits} is the largest power of two whose memory, scaled from the {human_bytes(d['allocated_by_pytorch'] + d['tried_to_allocate'])} "
                f"this batch needed, fits in 90% of the {human_bytes(d['total_capacity'])} device, assuming activations dominate; "
                "weights and optimizer states do not shrink with the batch, so check with one step.)"
            )
    if d.get("fragmented"):
        fix = (
            f"The failed request ({human_bytes(d.get('tried_to_allocate'))}) was no larger than the memory PyTorch held reserved but unused "
            f"({human_bytes(d.get('reserved_unallocated'))}), only not in one piece: set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True. If it still fails: "
            + (batch_fix if batch_fix else "halve the per-device batch size and raise gradient accumulation.")
        )
    else:
        fix = batch_fix
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


@rule("memory_leak")
def memory_leak(ctx: Context) -> Hypothesis | None:
    m = ctx.sym("memory_growth")
    if m is None:
        return None
    code = [c for c in ctx.run.code_facts if c.kind == "tensor_accumulation"]
    explains = ["memory_growth"] + (["oom_error"] if ctx.sym("oom_error") is not None else [])
    return make(
        ctx,
        "memory_leak",
        tier=conf.DIRECT if code else conf.CIRCUMSTANTIAL,
        support=1 if ctx.sym("oom_error") is not None else 0,
        explains=explains,
        evidence=list(m.evidence) + [Evidence(c.text, c.where, None) for c in code[:2]],
        basis=f"memory grows linearly with the steps (R\u00b2 {m.data['r2']:.2f})" + ("; the code accumulates tensors across steps" if code else ""),
        confirm="" if code else "the training code: confirmed by tensors kept across steps (a loss summed without .item())",
    )


@rule("dataloader_bottleneck")
def dataloader_bottleneck(ctx: Context) -> Hypothesis | None:
    t = ctx.sym("throughput_drop")
    if t is None or t.severity == "low":
        return None
    wait = ctx.run.first("data_wait", "data_time", "dataloader_time")
    if wait is not None:
        import numpy as np

        w = wait.finite_part()
        share = None
        step_time = ctx.run.first("step_time", "step_time_ms")
        if step_time is not None and len(w) and len(step_time):
            st = step_time.finite_part()
            scale = 1000.0 if step_time.name == "step_time_ms" and wait.name != "data_time_ms" else 1.0
            share = float(np.median(w.values[-max(1, len(w) // 4) :])) * scale / max(float(np.median(st.values[-max(1, len(st) // 4) :])), 1e-12)
        return make(
            ctx,
            "dataloader_bottleneck",
            tier=conf.DIRECT if share is not None and share >= 0.3 else conf.CIRCUMSTANTIAL,
            explains=["throughput_drop"],
            evidence=list(t.evidence) + [Evidence(f"{w.source_name} {w.values[-1]:.4g} at the end", w.where(len(w) - 1), float(w.steps[-1]))],
            basis="the slowdown comes with data-wait time logged" + (f" ({share:.0%} of a step at the end)" if share is not None else ""),
        )
    ctx.request(
        "data-loading time per step",
        "a sustained slowdown is a data loader that cannot keep up, memory pressure, or a slow device; the time spent waiting for batches tells them apart",
        "log the time between the end of one step and the arrival of the next batch (traindx.watch records it)",
    )
    return make(
        ctx,
        "dataloader_bottleneck",
        tier=conf.HYPOTHESIS,
        explains=["throughput_drop"],
        evidence=list(t.evidence),
        basis="steps got slower and stayed slower; the data loader is the most common reason, but data-wait time is not logged",
        confirm="data-wait time per step: confirmed if it grows with the slowdown",
    )
