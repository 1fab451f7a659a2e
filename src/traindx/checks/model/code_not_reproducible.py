"""TDX822 code_not_reproducible: no random seed is set (or a used generator is never seeded, or determinism is asked for but not set)."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX822", emits="code_not_reproducible")
def code_not_reproducible(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """No random seed is set (or a used generator is never seeded, or determinism is asked for but not set).

    ## Symptom
    A file that trains and sets no seed at all (torch, numpy, random, ``set_seed``,
    ``seed_everything``); or seeds torch but draws from numpy's or Python's global
    generator without seeding it; or asks for reproducibility (a ``--deterministic``
    option, a "reproducible" string) and never sets
    ``torch.use_deterministic_algorithms(True)``/``cudnn.deterministic``. The first
    ``max_evidence`` (3) are quoted with ``file:line``.

    ## Why it matters
    Two runs of the same configuration then differ: a change cannot be told from
    noise, and a failure cannot be replayed.

    ## Evidence
    Where training starts, or the unseeded draw, with its line.

    ## Likely causes
    Seeding forgotten, or seeding only one of the generators the code uses.

    ## Fix
    Seed every generator in use (``torch.manual_seed``, ``np.random.seed``,
    ``random.seed``, or ``transformers.set_seed`` / ``lightning.seed_everything``) and
    set deterministic algorithms when exact replays are needed.

    ## Known false positives
    HF ``Trainer`` seeds itself (``TrainingArguments.seed``) and is not reported; a
    seed set in another file of the project is not seen.
    """
    found = facts(run, "no_seed", "no_deterministic")
    if not found:
        return []
    return code_symptom("code_not_reproducible", "TDX822", "low", f"the training code does not make its runs reproducible ({where_list(found)})", found, max_evidence)
