"""The generated reference page is current, and every cause the rules can name is documented."""

from __future__ import annotations

from pathlib import Path

from traindx.docsgen import render_checks_page
from traindx.reasoning.catalog import catalog
from traindx.reasoning.rules import RULES

DOCS = Path(__file__).resolve().parent.parent / "docs" / "checks.md"
DESIGN_CAUSES = {
    "lr_too_high", "lr_too_low", "lr_schedule", "exploding_gradients", "vanishing_gradients", "dead_relu",
    "poor_initialization", "overfitting", "underfitting", "data_pipeline_bug", "data_leakage", "class_imbalance",
    "distribution_shift", "mode_collapse", "architecture_imbalance", "mixed_precision_overflow", "out_of_memory",
    "memory_leak", "dataloader_bottleneck", "catastrophic_forgetting", "missing_zero_grad", "numerical_instability",
    "act_variance_collapse", "insufficient_data",
}


def test_checks_page_is_current() -> None:
    assert DOCS.read_text() == render_checks_page(), "docs/checks.md is stale: run python -m traindx.docsgen > docs/checks.md"


def test_every_cause_has_a_catalog_entry() -> None:
    cat = catalog()
    assert DESIGN_CAUSES <= set(cat)
    assert set(RULES) <= set(cat)
    for e in cat.values():
        for field in (e.title, e.summary, e.quick_fix, e.fix, e.expected_impact, e.verify, e.if_not):
            assert field and field.strip()
