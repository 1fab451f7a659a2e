"""TDX823 code_no_grad_clip: a recurrent or transformer model is trained from scratch without gradient clipping."""

from __future__ import annotations

from ...findings import Symptom
from ...run import Run
from ..registry import check
from .common import code_symptom, facts, where_list


@check(code="TDX823", emits="code_no_grad_clip")
def code_no_grad_clip(run: Run, *, max_evidence: int = 3) -> list[Symptom]:
    """A recurrent or transformer model is trained from scratch without gradient clipping.

    ## Symptom
    A file that builds a recurrent or attention model from scratch (``nn.LSTM``,
    ``nn.GRU``, ``nn.TransformerEncoder``, a local ``GPT``/``Transformer`` class, an HF
    model ``from_config``) and trains it in its own loop or with a Lightning
    ``Trainer``, with no clipping anywhere (``clip_grad_norm_``, ``gradient_clip_val``,
    ``max_grad_norm``...). The first ``max_evidence`` (3) are quoted with ``file:line``.

    ## Why it matters
    Recurrent networks and transformers trained from scratch see occasional
    gradient spikes (long sequences, attention logits); without clipping one spike
    can move the weights far enough to diverge. Clipping at norm 1.0 is the
    default of most LLM and RNN recipes (HF Trainer clips at 1.0).

    ## Evidence
    The model's construction and where it is trained.

    ## Likely causes
    A custom loop without the clipping that framework trainers add by default.

    ## Fix
    Clip after ``backward`` and before ``step``: ``torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)`` (unscale first under AMP).

    ## Known false positives
    Fine-tuning a pretrained model (``from_pretrained``) is not reported; small or
    short runs may never need clipping. This is a risk, not an observed failure.
    """
    found = facts(run, "no_grad_clip")
    if not found:
        return []
    return code_symptom("code_no_grad_clip", "TDX823", "low", f"a recurrent/transformer model is trained without gradient clipping ({where_list(found)})", found, max_evidence)
