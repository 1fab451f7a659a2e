"""TDX810 code_no_zero_grad: the training loop never clears the gradients (no zero_grad)."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX810", emits="code_no_zero_grad")
def code_no_zero_grad(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """The training loop never clears the gradients (no zero_grad).

    ## Symptom
    A loop that runs a backward pass and an optimizer step (calls to functions of the
    same file followed) and never clears gradients: no ``zero_grad()`` on the
    optimizer or the model, no ``p.grad = None``. Found by parsing the code (``ast``),
    never by running it; each place is quoted with its ``file:line`` (the first
    ``max_evidence``, 3).

    ## Why it matters
    ``backward()`` adds to ``.grad``; without clearing, every step applies the sum
    of all gradients so far: the effective step grows with the step count, the
    gradient norm grows steadily and training oscillates or diverges (TrainCheck's
    silent bugs include exactly this one, invisible in the code's output).

    ## Evidence
    The loop's ``file:line``, its backward and step lines, and a ``zero_grad`` called
    once outside the loop when there is one.

    ## Likely causes
    A ``zero_grad()`` deleted or moved out of the loop in a refactor; a custom loop
    written from a framework example that cleared gradients for the user.

    ## Fix
    Call ``optimizer.zero_grad(set_to_none=True)`` once per optimizer step (before the
    backward pass, or right after ``optimizer.step()``).

    ## Known false positives
    A loop that clears gradients through a call this file does not define is not
    judged (its name suggesting a step or a clear holds the rule back); gradient
    accumulation that clears every N steps is recognised. Frameworks that own the
    loop (HF ``Trainer``, Lightning's automatic optimization, DeepSpeed's
    ``engine.step()``) clear gradients themselves and are not reported.
    """
    found = facts(run, "no_zero_grad")
    if not found:
        return []
    return code_symptom("code_no_zero_grad", "TDX810", "high", f"the training loop never calls zero_grad(): gradients add up across steps ({where_list(found)})", found, max_evidence)
