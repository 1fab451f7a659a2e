"""Chance-level losses: a cross-entropy equal to ln(k) means uniform predictions over k classes."""

from __future__ import annotations

import math

from ..run import Run, to_float

# Class counts and vocabulary sizes that real runs use: 2-20 classes, ImageNet-1k
# and -21k, CIFAR-100, and the vocabularies of common tokenizers
# (LLaMA 32000, GPT-2 50257 and its padded 50304, Llama 3 128256, Qwen 151936, Gemma 256000).
COMMON_K: tuple[int, ...] = tuple(range(2, 21)) + (
    100,
    1000,
    21841,
    32000,
    32768,
    50257,
    50304,
    65536,
    128256,
    151936,
    256000,
)

CLASS_KEYS = ("num_labels", "num_classes", "n_classes", "nclasses", "num_class", "vocab_size", "padded_vocab_size", "n_vocab")


def candidate_ks(run: Run) -> list[tuple[int, str]]:
    """(k, where it comes from): class counts from the config first, then the common ones."""
    out: list[tuple[int, str]] = []
    for key in CLASS_KEYS:
        cv = run.config_value(key)
        if cv is not None:
            v = to_float(cv.value)
            if v is not None and v >= 2 and v == int(v):
                out.append((int(v), f"{cv.key} = {int(v)} ({cv.where})"))
    out.extend((k, "common class count") for k in COMMON_K)
    return out


def match_chance(level: float, run: Run, *, tolerance: float) -> tuple[int, str, float] | None:
    """The k whose ln(k) is within ``tolerance`` (relative) of ``level``, config values first."""
    if not (level > 0.5 and math.isfinite(level)):
        return None
    best: tuple[int, str, float] | None = None
    for k, why in candidate_ks(run):
        lk = math.log(k)
        rel = abs(level - lk) / lk
        if rel <= tolerance and (best is None or rel < best[2] - 1e-12):
            best = (k, why, rel)
    return best
