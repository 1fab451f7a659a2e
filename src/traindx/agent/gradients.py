"""Per-layer gradient flow: a summary of the run's ``grad_norm/<layer>`` series for an agent.

For every layer (input side first, in natural order of the layer names) it gives
the typical norm (median of the finite values), the last and the largest value
with its step and source line, how many points are non-finite or exactly zero,
and how many spikes it has (points above ``spike_factor`` times the layer's
median). Across layers it compares the first layer's median with the last
layer's: gradients that shrink by more than ``1 / flow_ratio`` on the way to the
input are vanishing, ones that grow by more than ``flow_ratio`` are exploding
(the per-layer picture of Glorot & Bengio 2010 and of Pascanu et al. 2013). The
global ``grad_norm`` series, when logged, is summarized the same way, and the
engine's gradient checks (TDX2xx) run on the run and their symptoms come with
the summary, with their located evidence.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks.gradients.layers import GLOBAL_GRAD, per_layer
from ..run import Run, Series
from .metrics import _num


def series_summary(s: Series, *, spike_factor: float) -> dict[str, Any]:
    v = s.values
    fin = np.isfinite(v)
    out: dict[str, Any] = {
        "series": s.name,
        "source": s.source,
        "source_name": s.source_name,
        "step_unit": s.step_unit,
        "points": len(s),
        "nonfinite": int((~fin).sum()),
        "zero": int((v == 0).sum()),
    }
    if not fin.all():
        i = int(np.flatnonzero(~fin)[0])
        out["first_nonfinite"] = {"step": _num(float(s.steps[i])), "value": str(float(v[i])), "source": s.where(i)}
    if not fin.any():
        return out
    fv = v[fin]
    med = float(np.median(fv))
    idx = np.flatnonzero(fin)
    i_max = int(idx[np.argmax(fv)])
    out["median"] = _num(med)
    out["last"] = _num(float(v[-1])) if np.isfinite(v[-1]) else None
    out["max"] = {"value": _num(float(v[i_max])), "step": _num(float(s.steps[i_max])), "source": s.where(i_max)}
    if med > 0:
        spikes = idx[fv > spike_factor * med]
        out["spikes"] = int(spikes.shape[0])
        if spikes.shape[0]:
            j = int(spikes[0])
            out["first_spike"] = {"step": _num(float(s.steps[j])), "value": _num(float(v[j])), "times_median": _num(float(v[j]) / med), "source": s.where(j)}
    else:
        out["spikes"] = 0
    return out


def summarize(run: Run, *, flow_ratio: float = 1000.0, spike_factor: float = 10.0, dead_share: float = 0.9) -> dict[str, Any]:
    """The gradient flow summary of ``run`` (thresholds: see the module docstring)."""
    layers = per_layer(run, "grad_norm", GLOBAL_GRAD)
    out: dict[str, Any] = {"layers": [], "findings": [], "thresholds": {"flow_ratio": flow_ratio, "spike_factor": spike_factor, "dead_share": dead_share}}
    glob = run.first(*GLOBAL_GRAD)
    if glob is not None and len(glob):
        out["global"] = series_summary(glob, spike_factor=spike_factor)
    for s in layers:
        summ = series_summary(s, spike_factor=spike_factor)
        summ["layer"] = s.name[len("grad_norm/") :]
        flags = []
        if summ["nonfinite"]:
            flags.append("non-finite")
        if summ["points"] and summ["zero"] / summ["points"] >= dead_share:
            flags.append("zero (frozen or dead)")
        if summ.get("spikes"):
            flags.append("spikes")
        summ["flags"] = flags
        out["layers"].append(summ)
    meds = [(x["layer"], x.get("median")) for x in out["layers"]]
    usable = [(name, m) for name, m in meds if isinstance(m, (int, float)) and m > 0]
    if len(usable) >= 2:
        (first, m_first), (last, m_last) = usable[0], usable[-1]
        ratio = m_first / m_last
        flow: dict[str, Any] = {"first_layer": first, "last_layer": last, "first_over_last": _num(ratio)}
        if ratio < 1.0 / flow_ratio:
            flow["verdict"] = "vanishing"
            flow["explanation"] = f"the first layer's median gradient norm is {ratio:.2g} times the last layer's: gradients shrink on the way to the input"
        elif ratio > flow_ratio:
            flow["verdict"] = "exploding"
            flow["explanation"] = f"the first layer's median gradient norm is {ratio:.3g} times the last layer's: gradients grow on the way to the input"
        else:
            flow["verdict"] = "balanced"
            flow["explanation"] = f"the first and last layers' median gradient norms are within a factor {flow_ratio:g} ({ratio:.3g})"
        lo = min(usable, key=lambda nm: nm[1])
        hi = max(usable, key=lambda nm: nm[1])
        flow["smallest"] = {"layer": lo[0], "median": lo[1]}
        flow["largest"] = {"layer": hi[0], "median": hi[1]}
        out["flow"] = flow
    elif not layers:
        out["request"] = {
            "need": "per-layer gradient norms (grad_norm/<layer>)",
            "why": "the gradient flow through the layers shows vanishing or exploding gradients and dead layers, which the global norm hides",
            "how": "log each parameter's gradient norm every N steps (e.g. p.grad.norm() per named parameter, as the traindx probe or Lightning's log_grad_norm does)",
        }
    out["findings"] = _gradient_checks(run)
    return out


def _gradient_checks(run: Run) -> list[dict[str, Any]]:
    from ..engine import run_checks

    symptoms, _, errors, _ = run_checks(run, select=lambda spec: spec.family == "gradients")
    return [s.to_dict() for s in symptoms] + [{"error": e} for e in errors]
