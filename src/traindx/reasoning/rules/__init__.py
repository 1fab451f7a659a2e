"""Root-cause rules: one function per root-cause id, from symptoms and facts to a hypothesis.

A rule reads the symptoms and the run's facts (the LR it logged or configured,
the gradient norm, precision settings, events), and returns a
:class:`~traindx.findings.Hypothesis` that names the symptoms it explains,
quotes its evidence, lists what speaks against it, and gets its confidence
from the tier of that evidence (``confidence.py``). A rule that has nothing to
say returns None. Rules are grouped by family, one module each.
"""

from __future__ import annotations

from . import generalization, gradients, learning, lr, outputs, resources  # noqa: F401 - registers the rules
from . import model  # noqa: F401,E402 - extends rules registered above with model and code facts
from . import probe  # noqa: F401,E402 - last: extends rules registered above with what the live probe saw
from .base import RULES, Context

__all__ = ["RULES", "Context"]
