"""Confidence tiers (DESIGN.md): a number that says how strong the evidence is.

- direct (0.90-0.97): the cause's own signal is in the artifacts and lines up
  with the symptom (the LR peak at the divergence onset, an OOM traceback);
- circumstantial (0.70-0.89): a known pattern fits but the cause's own signal
  is not logged;
- hypothesis (0.40-0.69): possible; the diagnosis says what would confirm it.

Within a tier, each independent supporting fact adds a little and each fact
that speaks against the cause takes more away; a cause never leaves its tier
upwards, so a confidence above 0.9 always means direct evidence.
"""

from __future__ import annotations

DIRECT = "direct"
CIRCUMSTANTIAL = "circumstantial"
HYPOTHESIS = "hypothesis"

TIERS: dict[str, tuple[float, float]] = {
    DIRECT: (0.90, 0.97),
    CIRCUMSTANTIAL: (0.70, 0.89),
    HYPOTHESIS: (0.40, 0.69),
}
BASE: dict[str, float] = {DIRECT: 0.91, CIRCUMSTANTIAL: 0.78, HYPOTHESIS: 0.55}
SUPPORT_STEP = 0.02
AGAINST_STEP = 0.08

# With no cause at this confidence or above, the status is needs_more_data.
COMPLETE_AT = 0.8


def score(tier: str, *, support: int = 0, against: int = 0) -> float:
    lo, hi = TIERS[tier]
    c = BASE[tier] + SUPPORT_STEP * support - AGAINST_STEP * against
    return round(max(0.3, min(hi, c)), 2)


def tier_of(confidence: float) -> str:
    if confidence >= TIERS[DIRECT][0]:
        return DIRECT
    if confidence >= TIERS[CIRCUMSTANTIAL][0]:
        return CIRCUMSTANTIAL
    return HYPOTHESIS
