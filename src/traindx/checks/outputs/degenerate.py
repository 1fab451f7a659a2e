"""TDX701 degenerate_outputs: generated samples collapse to one character, token or phrase."""

from __future__ import annotations

import math
from collections import Counter

from ...findings import Evidence, Symptom
from ...run import Run, Sample
from ..registry import check


def sample_stats(text: str) -> dict[str, float]:
    """Share of the most common non-space character, distinct-2 over words, character entropy, longest repeat."""
    chars = [c for c in text if not c.isspace()]
    words = text.split()
    stats: dict[str, float] = {"chars": float(len(chars)), "words": float(len(words))}
    if chars:
        counts = Counter(chars)
        top = counts.most_common(1)[0][1]
        stats["top_char_share"] = top / len(chars)
        stats["entropy"] = -sum(c / len(chars) * math.log2(c / len(chars)) for c in counts.values())
    if len(words) >= 3:
        bigrams = list(zip(words, words[1:]))
        stats["distinct2"] = len(set(bigrams)) / len(bigrams)
        wc = Counter(words)
        stats["top_word_share"] = wc.most_common(1)[0][1] / len(words)
    return stats


def is_degenerate(st: dict[str, float], *, char_share: float, distinct2: float, word_share: float) -> str | None:
    if st.get("chars", 0) >= 8 and st.get("top_char_share", 0) >= char_share:
        return f"one character is {st['top_char_share']:.0%} of it"
    if st.get("words", 0) >= 6 and st.get("distinct2", 1) <= distinct2:
        return f"only {st['distinct2']:.0%} of its word pairs are distinct"
    if st.get("words", 0) >= 6 and st.get("top_word_share", 0) >= word_share:
        return f"one word is {st['top_word_share']:.0%} of it"
    return None


@check(code="TDX701", emits="degenerate_outputs")
def degenerate_outputs(
    run: Run,
    *,
    char_share: float = 0.6,
    distinct2: float = 0.25,
    word_share: float = 0.5,
    min_share: float = 0.5,
) -> list[Symptom]:
    """Generated samples are degenerate: one character, word or phrase repeated.

    ## Symptom
    Among the latest generated samples (those at the last step that has
    samples, or all of them when no step is known), at least ``min_share``
    (50%) are degenerate: one non-space character is at least ``char_share``
    (60%) of the text (the "::::" or "!!!!" case), or at most ``distinct2``
    (25%) of the word bigrams are distinct (loops), or one word is at least
    ``word_share`` (50%) of the words ("Hi Hi Hi Hi").

    ## Why it matters
    A model whose outputs collapse is broken whatever its loss says: in the
    corpus, collapsed LMs and RL policies all had normal-looking losses.

    ## Evidence
    The degenerate samples, quoted (shortened) with their ``file:line``, and
    what makes each degenerate.

    ## Likely causes
    Mode collapse (RL reward hacking, GAN collapse), a learning rate too high
    for preference optimization, an embedding-dominated tiny model, a
    decoding bug (greedy decoding with no repetition penalty).

    ## Fix
    Lower the LR, add KL/entropy regularization, check the reward; for LMs
    check the architecture balance and the decoding settings.

    Without sample files, generated text quoted in the logs counts: a line
    with one character 30 or more times in a row ("!!!!", "::::") or one word
    8 or more times in a row ("It It It ...").

    ## Known false positives
    Samples that legitimately repeat (lists, tables, code indentation) can
    trip the word-share rule; a few such samples stay under the 50% share.
    Separators, progress bars, hashes and printed tensors are not counted as
    generated text in logs.
    """
    if not run.samples:
        return _from_log_lines(run)
    with_step = [s for s in run.samples if s.step is not None]
    if with_step:
        last = max(s.step for s in with_step if s.step is not None)
        latest: list[Sample] = [s for s in with_step if s.step == last]
    else:
        latest = list(run.samples)
    bad = []
    for s in latest:
        why = is_degenerate(sample_stats(s.text), char_share=char_share, distinct2=distinct2, word_share=word_share)
        if why:
            bad.append((s, why))
    if not latest or len(bad) < min_share * len(latest):
        return []
    ev = []
    for s, why in bad[:3]:
        quoted = s.text.strip().replace("\n", " ")
        quoted = quoted[:80] + ("..." if len(quoted) > 80 else "")
        ev.append(Evidence(f'sample "{quoted}": {why}', f"{s.source}:{s.line}" if s.line else s.source, s.step))
    first_bad_step = next((s.step for s, _ in bad if s.step is not None), None)
    return [
        Symptom(
            id="degenerate_outputs",
            code="TDX701",
            severity="high",
            summary=f"{len(bad)} of the {len(latest)} latest samples are degenerate ({bad[0][1]})",
            metric=None,
            step=first_bad_step,
            evidence=ev,
            data={"bad": len(bad), "samples": len(latest), "onset_step": first_bad_step},
        )
    ]



def _from_log_lines(run: Run) -> list[Symptom]:
    evs = run.events_of("degenerate_text")
    if not evs:
        return []
    ev = []
    for e in evs[:3]:
        quoted = e.text.strip()
        quoted = quoted[:100] + ("..." if len(quoted) > 100 else "")
        ev.append(Evidence(f'"{quoted}": "{e.get("token")}" repeated {e.get("repeats")} times', e.where, e.step))
    return [
        Symptom(
            id="degenerate_outputs",
            code="TDX701",
            severity="high",
            summary=f"{len(evs)} log line{'s' if len(evs) != 1 else ''} quote degenerate generated text (\"{evs[0].get('token')}\" repeated {evs[0].get('repeats')} times)",
            metric=None,
            step=evs[0].step,
            evidence=ev,
            data={"bad": len(evs), "samples": len(evs), "onset_step": evs[0].step, "from_logs": True},
        )
    ]
