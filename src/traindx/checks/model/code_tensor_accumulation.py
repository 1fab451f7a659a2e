"""TDX813 code_tensor_accumulation: losses are accumulated as tensors across steps (total += loss): each keeps its autograd graph."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX813", emits="code_tensor_accumulation")
def code_tensor_accumulation(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """Losses are accumulated as tensors across steps (total += loss): each keeps its autograd graph.

    ## Symptom
    In a loop that runs a backward pass, ``total += loss``, ``total = total + loss``
    or ``losses.append(loss)`` where ``loss`` is the tensor backpropagated (not
    ``loss.item()``, ``loss.detach()``, ``float(loss)``); in a Lightning
    ``training_step``, the returned loss appended to an attribute. The first
    ``max_evidence`` (3) places are quoted with ``file:line``.

    ## Why it matters
    Each accumulated tensor keeps its whole computation graph alive (PyTorch FAQ:
    "don't accumulate history across your training loop"): memory grows linearly
    with the steps until the run is killed out of memory.

    ## Evidence
    The accumulating statement and the loss tensor it keeps.

    ## Likely causes
    Summing losses for logging without ``.item()``; collecting step outputs in a list.

    ## Fix
    Accumulate ``loss.item()`` (or ``loss.detach()``), and append detached values.

    ## Known false positives
    An accumulator that is itself backpropagated (summing losses on purpose
    before one backward) and accumulation under ``torch.no_grad()`` are not reported.
    """
    found = facts(run, "tensor_accumulation")
    if not found:
        return []
    return code_symptom("code_tensor_accumulation", "TDX813", "medium", f"the loss tensor is accumulated across steps with its autograd graph: memory grows every step ({where_list(found)})", found, max_evidence)
