"""TDX805 dead_embedding_rows: embedding rows that are all zero or copies of each other."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Run
from ..registry import check


@check(code="TDX805", emits="dead_embedding_rows")
def dead_embedding_rows(run: Run, *, max_zero_row_share: float = 0.01, max_duplicate_row_share: float = 0.01, min_rows: int = 100, max_evidence: int = 3) -> list[Symptom]:
    """Embedding rows are all zero or identical: tokens the model cannot tell apart.

    ## Symptom
    An embedding matrix of at least ``min_rows`` (100) rows in which more than
    ``max_zero_row_share`` (1%) of the rows are all zero, or more than
    ``max_duplicate_row_share`` (1%) repeat another row exactly (and more than
    one row either way: a single padding row is normal). Medium severity; high
    when half the rows or more are affected.

    ## Why it matters
    A zero row gives its token no signal; identical rows make tokens
    indistinguishable at the input (or, for a tied head, at the output, where
    the model can never prefer one over the other). Many such rows mean the
    vocabulary is mostly unused or the embedding collapsed.

    ## Evidence
    Each affected embedding tensor (the first ``max_evidence``, 3) as
    ``file#tensor`` with its zero and duplicate row counts.

    ## Likely causes
    A vocabulary much larger than the tokens the data uses (rows never
    updated keep their init: zeros if initialized so), tokens added to the
    tokenizer and resized into the model without training, an embedding that
    collapsed under a too-high LR.

    ## Fix
    Match the vocabulary to the data (retrain or prune the tokenizer),
    initialize new token rows to the mean embedding and train them, and lower
    the LR if the rows collapsed during training.

    ## Known false positives
    Reserved special tokens kept at zero on purpose, and padding rows (more
    than one when several pad ids exist).
    """
    m = run.model
    if m is None or not m.health:
        return []
    tensors = {t.name: t for t in m.tensors}
    hits = []
    for h in m.health:
        t = tensors.get(h.name)
        if t is None or t.group != "embedding" or len(t.shape) != 2 or h.rows < min_rows or h.nan or h.inf:
            continue
        zero = h.zero_rows if h.zero_rows > 1 and h.zero_rows / h.rows > max_zero_row_share else 0
        dup = h.duplicate_rows - max(0, h.zero_rows - 1)  # zero rows also repeat each other
        dup = dup if dup > 1 and dup / h.rows > max_duplicate_row_share else 0
        if zero or dup:
            hits.append((h, zero, dup))
    if not hits:
        return []
    share = max(max(z, d) / h.rows for h, z, d in hits)

    def text(h, z, d) -> str:  # type: ignore[no-untyped-def]
        parts = []
        if z:
            parts.append(f"{z:,} of {h.rows:,} rows are all zero")
        if d:
            parts.append(f"{d:,} rows repeat another row")
        return f"{h.name}: " + ", ".join(parts)

    return [
        Symptom(
            id="dead_embedding_rows",
            code="TDX805",
            severity="high" if share >= 0.5 else "medium",
            summary=text(*hits[0]) + f" ({share:.0%} of the vocabulary)",
            metric="weights",
            evidence=[Evidence(text(h, z, d), m.where(h.name)) for h, z, d in hits[:max_evidence]],
            data={"tensors": [h.name for h, _z, _d in hits], "share": share},
        )
    ]
