"""TDX203 dead_units: a large share of a layer's ReLU units never activate."""

from __future__ import annotations

import numpy as np

from ...findings import Evidence, Symptom
from ...run import Run, Series, fmt_num
from ..evidence import at
from ..registry import check

PREFIXES = ("dead_frac", "dead_fraction", "frac_dead", "dead_units", "zero_frac", "frac_zero", "fraction_zero", "act_zero_frac", "sparsity")


def dead_series(run: Run) -> list[Series]:
    out = []
    for name, s in sorted(run.series.items()):
        head = name.split("/")[0].lower()
        if head in PREFIXES and len(s):
            out.append(s)
    return out


@check(code="TDX203", emits="dead_units")
def dead_units(run: Run, *, dead_share: float = 0.7, tail_fraction: float = 0.25) -> list[Symptom]:
    """A large share of a layer's units output zero for every input (dead ReLUs).

    ## Symptom
    Activation statistics logged per layer as a fraction of units that are
    zero for the whole batch (series named ``dead_frac/<layer>``,
    ``frac_zero/<layer>``, ``sparsity/<layer>``..., as fractions or
    percentages) reach ``dead_share`` (70%, the AUTOTRAINER and DeepDiagnosis
    threshold) on average over the last ``tail_fraction`` (25%) of their points.

    ## Why it matters
    A dead unit has zero gradient and never recovers: the network loses
    capacity, and when most units are dead the loss stalls.

    ## Evidence
    The layers over the threshold with their share at the end, the step where
    they crossed it, and ``file:line``.

    ## Likely causes
    A learning rate too high early on (one big update pushes biases
    negative), a large negative bias initialization, poor weight
    initialization.

    ## Fix
    Lower the LR (and warm up), use LeakyReLU/GELU, re-initialize with He
    initialization and zero biases.

    ## Known false positives
    Intentionally sparse activations (top-k, heavy dropout counted as zeros)
    read as dead; check what the statistic counts.
    """
    found = []
    for s in dead_series(run):
        fin = s.finite_part()
        if not len(fin):
            continue
        v = fin.values / 100.0 if float(np.nanmax(fin.values)) > 1.0 else fin.values
        k = max(1, int(len(v) * tail_fraction))
        share = float(np.mean(v[-k:]))
        if share >= dead_share:
            cross = np.flatnonzero(v >= dead_share)
            i = int(cross[0]) if cross.size else len(v) - 1
            found.append((share, fin, i))
    if not found:
        return []
    found.sort(key=lambda t: -t[0])
    share, fin, i = found[0]
    ev = [
        Evidence(f"{f.source_name} {fmt_num(float(f.values[-1]))} at {at(f, len(f) - 1)} (above {dead_share:.0%} from {at(f, j)})", f.where(len(f) - 1), float(f.steps[-1]))
        for sh, f, j in found[:3]
    ]
    return [
        Symptom(
            id="dead_units",
            code="TDX203",
            severity="high",
            summary=f"{len(found)} layer{'s' if len(found) != 1 else ''} with at least {dead_share:.0%} dead units; {fin.source_name} at {share:.0%} over the last quarter",
            metric=fin.name,
            step=float(fin.steps[i]),
            step_unit=fin.step_unit,
            evidence=ev,
            data={"layers": [f.name for _, f, _ in found], "share": share, "onset_step": float(fin.steps[i])},
        )
    ]
