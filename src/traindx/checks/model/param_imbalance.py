"""TDX801 param_imbalance: the embeddings (and an untied output head) hold most of the model's parameters."""

from __future__ import annotations

from ...findings import Evidence, Symptom
from ...run import Run
from ..registry import check
from .common import count


@check(code="TDX801", emits="param_imbalance")
def param_imbalance(
    run: Run,
    *,
    max_embedding_share: float = 0.5,
    high_embedding_share: float = 0.75,
    max_vocab_share: float = 0.6,
    max_embedding_share_other: float = 0.8,
) -> list[Symptom]:
    """The embeddings hold most of the parameters: the body of the model is too small to learn the task.

    ## Symptom
    In a model that generates tokens, the input embeddings hold more than
    ``max_embedding_share`` (50%) of the parameters, or the embeddings plus an
    untied output head (both vocabulary-sized) more than ``max_vocab_share``
    (60%); severity is high from ``high_embedding_share`` (75%). In a model that
    does not generate (a classifier, an encoder) only above
    ``max_embedding_share_other`` (80%), at low severity.

    ## Why it matters
    A small language model whose parameters sit in a large vocabulary has little
    capacity left to model context: it learns token frequencies and then emits
    the most frequent tokens (the seed case of this tool: a model that only
    outputs "::::" with 79% of its parameters in the embedding). The loss
    plateaus near the unigram entropy.

    ## Evidence
    The parameter count per group (from the checkpoint's tensors or computed
    from an HF ``config.json``), the embedding matrix with its shape located as
    ``file#tensor``, whether the output head is tied to it, and the config line
    of ``vocab_size`` when a config gives it.

    ## Likely causes
    A vocabulary far larger than the model (a 50k-token tokenizer on a
    few-million-parameter model), an embedding dimension set equal to a large
    hidden size with few layers, an untied output head doubling the vocabulary cost.

    ## Fix
    Use a smaller vocabulary (train a tokenizer of 4-16k tokens for a small
    model), tie the input and output embeddings, or add layers so that the
    transformer blocks hold most of the parameters.

    ## Known false positives
    Small models designed around a large vocabulary (Gemma 3 270M puts about
    63% of its parameters in embeddings) and distilled tiny encoders. The
    share measures where the capacity is, not whether the model trained well.
    """
    m = run.model
    if m is None or not m.total:
        return []
    groups = m.groups
    total = m.total
    emb = groups.get("embedding", 0)
    emb_share = emb / total
    head_tied = m.head_tied
    head = groups.get("head", 0) if head_tied is False else 0
    vocab_share = (emb + head) / total
    generative = m.generative
    if generative:
        fire = emb_share > max_embedding_share or vocab_share > max_vocab_share
        severity = "high" if max(emb_share, vocab_share) >= high_embedding_share else "medium"
    else:
        fire = emb_share > max_embedding_share_other
        severity = "low"
    if not fire:
        return []
    embs = sorted((t for t in m.params if t.group == "embedding"), key=lambda t: -t.numel)
    body = total - emb - groups.get("head", 0)
    kind = "a generative model" if generative else ("a model" if generative is None else "a non-generative model")
    lead = f"embeddings hold {emb_share:.0%} of the {count(total)} parameters of {kind}"
    if head and generative:
        lead += f" (with the untied output head, {vocab_share:.0%} sit in vocabulary-sized matrices)"
    summary = f"{lead}; the rest of the model holds {body / total:.0%} ({count(body)})"
    ev = []
    for t in embs[:2]:
        ev.append(Evidence(f"{t.name} {'x'.join(str(d) for d in t.shape)} = {count(t.numel)} parameters ({t.numel / total:.0%})", m.where(t.name)))
    if head_tied:
        ev.append(Evidence("the output head is tied to the input embedding (counted once)", m.where()))
    elif head_tied is False:
        heads = sorted((t for t in m.params if t.group == "head"), key=lambda t: -t.numel)
        if heads:
            t = heads[0]
            ev.append(Evidence(f"untied output head {t.name} {'x'.join(str(d) for d in t.shape)} = {count(t.numel)} parameters ({t.numel / total:.0%})", m.where(t.name)))
    vocab = run.config_value("model.vocab_size", "vocab_size")
    if vocab is not None:
        ev.append(Evidence(f"{vocab.key} = {vocab.value}", vocab.where))
    return [
        Symptom(
            id="param_imbalance",
            code="TDX801",
            severity=severity,
            summary=summary,
            metric="parameters",
            evidence=ev,
            data={"embedding_share": round(emb_share, 4), "vocab_share": round(vocab_share, 4), "total": total, "generative": generative, "head_tied": head_tied, "groups": dict(groups)},
        )
    ]
