"""The one metric-name table: the names real tools write, mapped to canonical names.

Canonical names are ``<quantity>/<split>`` for metrics that have a split
(``loss/train``, ``loss/val``, ``accuracy/val``, ``perplexity/train``) and bare
names for the rest (``grad_norm``, ``lr``, ``loss_scale``, ``step_time``,
``throughput``, ``memory/allocated``). A name this table does not know is kept
verbatim, so nothing a run logged is lost.

The mapping works in two passes: an exact table for names that cannot be split
into parts (``lm loss``, ``gnorm``, ``trl``), then a token pass that pulls the
split (``train``/``val``/``test``) and the Lightning ``_step``/``_epoch``
suffixes out of the name and maps what is left through a quantity table.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Names that map as a whole (lower-cased, separators kept as written).
EXACT: dict[str, str] = {
    # training loss under trainer-specific names
    "lm loss": "loss/train",
    "lm_loss": "loss/train",
    "trl": "loss/train",  # llm.c / modded-nanogpt ``s:N trl:X``
    "tel": "loss/val",  # llm.c / modded-nanogpt ``s:N tel:X``
    "lm loss value": "loss/val",  # Megatron "validation loss at iteration N | lm loss value: X"
    "lm loss ppl": "perplexity/val",
    "nll_loss": "nll_loss/train",
    "avg_loss": "loss/train",
    "train_loss_avg": "loss/train",
    "total_loss": "loss/train",
    # gradients
    "grad_norm": "grad_norm",
    "grad norm": "grad_norm",
    "gradnorm": "grad_norm",
    "gnorm": "grad_norm",
    "norm": "grad_norm",  # llm.c, modded-nanogpt
    "grad_norm_pre_clip": "grad_norm/pre_clip",
    "grad_norm_post_clip": "grad_norm/post_clip",
    "total_norm": "grad_norm",
    "global_grad_norm": "grad_norm",
    "train/grad_norm": "grad_norm",
    "params norm": "param_norm",
    "num zeros": "grad_zeros",
    # learning rate
    "lr": "lr",
    "learning_rate": "lr",
    "learning rate": "lr",
    "learning-rate": "lr",
    "train/learning_rate": "lr",
    "train/lr": "lr",
    "lr-adam": "lr",
    "lr-adamw": "lr",
    "lr-sgd": "lr",
    "event_lr": "lr",  # skorch's LRScheduler
    # precision
    "loss_scale": "loss_scale",
    "loss scale": "loss_scale",
    "loss-scale": "loss_scale",
    "scale": "loss_scale",
    "grad_scale": "loss_scale",
    "attempted loss scale": "loss_scale/attempted",
    "number of skipped iterations": "skipped_steps",
    "skipped": "skipped_steps",
    "number of nan iterations": "nan_steps",
    # time and throughput
    "elapsed time per iteration (ms)": "step_time_ms",
    "time": "step_time_ms",
    "ms": "step_time_ms",
    "step_time": "step_time",
    "iter_time": "step_time",
    "batch_time": "step_time",
    "sec_per_batch": "step_time",
    "dur": "epoch_time",  # skorch: seconds per epoch
    "train_wall": "wall_time",
    "wall": "wall_time",
    "tok/s": "throughput",
    "tokens/s": "throughput",
    "tokens_per_second": "throughput",
    "tps": "throughput",
    "wps": "throughput",
    "it/s": "iters_per_sec",
    "train_samples_per_second": "samples_per_sec",
    "samples_per_second": "samples_per_sec",
    "throughput per gpu (tflop/s/gpu)": "tflops_per_gpu",
    "mfu": "mfu",
    "bf16 mfu": "mfu",
    "tflops": "tflops_per_gpu",
    "samples per second": "samples_per_sec",
    "elapsed time per iteration (s)": "step_time",
    "consumed tokens": "consumed_tokens",
    "update": "epoch_progress",  # fairseq: fractional epoch
    # memory
    "memory": "memory/allocated",
    "mem": "memory/allocated",
    "memory_allocated": "memory/allocated",
    "mem_allocated": "memory/allocated",
    "memory_reserved": "memory/reserved",
    "max_memory_allocated": "memory/peak",
    "peak_memory": "memory/peak",
    "gpu_mem": "memory/allocated",
    "memory allocated (mb)": "memory/allocated_mb",
    "memory max allocated (mb)": "memory/peak_mb",
    "memory reserved (mb)": "memory/reserved_mb",
    "memory max reserved (mb)": "memory/peak_reserved_mb",
    # counters and positions
    "epoch": "epoch",
    "train/epoch": "epoch",
    "global batch size": "batch_size",
    "consumed samples": "consumed_samples",
    "consumed_samples": "consumed_samples",
    "ups": "updates_per_sec",
    # schedule quantities: what the run is fed at each step (a curriculum), not how it does
    "seq_len": "seq_len",
    "seqlen": "seq_len",
    "seq_length": "seq_len",
    "sequence_length": "seq_len",
    "max_seq_len": "seq_len",
    "max_seq_length": "seq_len",
    "context_length": "seq_len",
    "context_len": "seq_len",
    "ctx_len": "seq_len",
    "block_size": "seq_len",  # nanoGPT's name for the context length
    "batch_size": "batch_size",
    "batch size": "batch_size",
    "global_batch_size": "batch_size",
    "train_batch_size": "batch_size",
    "curriculum_stage": "curriculum_stage",
    "curriculum_level": "curriculum_stage",
    "curriculum_phase": "curriculum_stage",
    "curriculum_difficulty": "curriculum_stage",
    "stage": "curriculum_stage",
    "phase": "curriculum_stage",
    "difficulty": "curriculum_stage",
}

# Canonical names of schedule series: values a config or a curriculum sets and switches
# (sequence length, batch size, curriculum stage), logged beside the metrics.
SCHEDULE: frozenset[str] = frozenset({"seq_len", "batch_size", "curriculum_stage"})
# Prefixes of data-mixture weights (one series per source: ``mixture/web``, ``domain_weight/code``).
SCHEDULE_PREFIXES: tuple[str, ...] = ("mixture/", "mix/", "mixture_weight/", "data_weight/", "domain_weight/", "sampling_weight/")

SPLIT_TOKENS: dict[str, str] = {
    "train": "train",
    "training": "train",
    "trn": "train",
    "tr": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "eval": "val",
    "evaluation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}

QUANTITY: dict[str, str] = {
    "loss": "loss",
    "losses": "loss",
    "ce": "loss",
    "xent": "loss",
    "nll": "nll_loss",
    "acc": "accuracy",
    "accuracy": "accuracy",
    "top1": "accuracy",
    "err": "error",
    "error": "error",
    "ppl": "perplexity",
    "perplexity": "perplexity",
    "bpc": "bpc",
    "f1": "f1",
    "wer": "wer",
    "cer": "cer",
    "bleu": "bleu",
    "auc": "auc",
    "map": "map",
    "precision": "precision",
    "recall": "recall",
    "reward": "reward",
    "rewards": "reward",
}

# Quantities that only exist for a split; a bare one defaults to training.
DEFAULT_TRAIN = {"loss", "accuracy", "perplexity", "error", "nll_loss", "bpc"}
# Position words inside a name that describe aggregation, not the quantity.
AGGREGATE_TOKENS = {"step", "epoch", "mean", "avg", "average", "inner", "epoch_avg"}

_SPLIT_RE = re.compile(r"[/_.\- ]+")


def _normalize(name: str) -> str:
    return name.strip().lower()


# Lightning's ``grad_norm`` utility logs ``grad_2.0_norm/<parameter>`` and ``grad_2.0_norm_total``
_LIGHTNING_GRAD = re.compile(r"^grad_(?:[\d.]+|inf)_norm(?:/(.+)|_total)$")


@lru_cache(maxsize=4096)
def canonical(name: str, split_hint: str | None = None) -> str:
    """The canonical name of a metric as a tool wrote it.

    ``split_hint`` is the split a reader knows from context (a TensorBoard
    ``validation/`` folder, a fairseq ``valid`` line) and applies when the name
    itself carries none.
    """
    low = _normalize(name)
    if not low:
        return name
    lg = _LIGHTNING_GRAD.match(name.strip())
    if lg:
        return f"grad_norm/{lg.group(1)}" if lg.group(1) else "grad_norm"
    if low in EXACT:
        mapped = EXACT[low]
        if split_hint and mapped.endswith("/train") and split_hint != "train":
            return mapped.rsplit("/", 1)[0] + "/" + split_hint
        return mapped
    tokens = [t for t in _SPLIT_RE.split(low) if t]
    split: str | None = None
    rest: list[str] = []
    for t in tokens:
        if t in SPLIT_TOKENS and split is None:
            split = SPLIT_TOKENS[t]
        elif t in AGGREGATE_TOKENS:
            continue
        else:
            rest.append(t)
    if split is None:
        split = split_hint
    if not rest:
        return name
    if len(rest) == 1 and rest[0] in QUANTITY:
        q = QUANTITY[rest[0]]
    elif len(rest) == 2 and rest[1] in QUANTITY and rest[0] in ("nll", "lm", "epoch", "batch", "total"):
        q = QUANTITY[rest[1]] if rest[0] != "nll" else "nll_loss"
    else:
        return name
    if split is None:
        if q in DEFAULT_TRAIN:
            split = "train"
        else:
            return q
    return f"{q}/{split}"


def is_loss(canonical_name: str) -> bool:
    return canonical_name.startswith("loss/")


def is_schedule(canonical_name: str) -> bool:
    """A series a schedule sets rather than a metric the run measures (``seq_len``,
    ``batch_size``, ``curriculum_stage``, data-mixture weights such as ``mixture/web``)."""
    low = canonical_name.lower()
    return low in SCHEDULE or low.startswith(SCHEDULE_PREFIXES)


def held_out_names() -> tuple[str, ...]:
    """Canonical held-out loss names, the preferred one first."""
    return ("loss/val", "loss/test")
