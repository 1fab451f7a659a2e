"""An optional plain-language explanation of a diagnosis (``traindx diagnose --explain``), held to its evidence.

A language model (Anthropic's Messages API, extra ``traindx[agent]``; the key in
``ANTHROPIC_API_KEY``, the model in ``TRAINDX_EXPLAIN_MODEL``, default
``claude-sonnet-4-5``) writes a few sentences from the JSON diagnosis. The prompt
lists every citable item under its evidence id (:mod:`.evidence_ids`: ``S1.2``,
``C1``, ``R1``...) and asks for each sentence to end with the ids it rests on.
The reply is then validated sentence by sentence; a sentence is dropped when

- it cites no evidence id;
- it cites an id the diagnosis does not have;
- it states a number that appears nowhere in the diagnosis (an invented figure).

What survives is the explanation; what was dropped is reported with the reason.
The deterministic report never depends on it: without a key (or without the SDK)
nothing is sent and the caller says so. Prompt construction and validation are
pure functions, tested on recorded responses; only :func:`explain` talks to the API.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from .evidence_ids import cited, evidence_index

ENV_KEY = "ANTHROPIC_API_KEY"
ENV_MODEL = "TRAINDX_EXPLAIN_MODEL"
DEFAULT_MODEL = "claude-sonnet-4-5"
MAX_TOKENS = 800
MAX_SENTENCES = 8

SYSTEM_PROMPT = f"""You explain the diagnosis of a machine-learning training run to the engineer who ran it.
The diagnosis was computed by a deterministic tool from the run's artifacts; you only put it into plain words.

Rules:
- Write at most {MAX_SENTENCES} short sentences of plain prose (no headings, no lists, no code blocks).
- End every sentence with the evidence ids it rests on, in square brackets, e.g. [S1.1] or [C1, C1.2].
  Use only ids from the list you are given. A sentence without a valid id will be deleted.
- Say only what the cited items say. Copy every number exactly as it appears in them; do not round,
  convert or compute new numbers. Do not add causes, fixes or facts that are not in the diagnosis.
- Start with what went wrong and where (the step), then the most likely cause and how sure the tool is
  (its confidence and the basis), then the fix of the top cause and how to verify it [C1].
- If the status is needs_more_data, say what is missing and why, citing the request ids (R1...).
- Refer to user-stated symptoms only through their verdicts and evidence (U ids)."""


class NarrativeUnavailable(Exception):
    """No explanation can be written (no key, no SDK, the API failed); the message says which."""


@dataclass(frozen=True)
class Dropped:
    sentence: str
    reason: str


@dataclass
class Narrative:
    sentences: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    model: str = ""

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def _line(i: str, item: dict[str, Any]) -> str:
    kind = item["kind"]
    if kind == "symptom":
        step = f", step {item['step']}" if item.get("step") is not None else ""
        return f"{i}: symptom {item['id']} ({item['severity']}{step}): {item['text']}"
    if kind == "cause":
        return f"{i}: root cause {item['id']} ({item['severity']}, confidence {item['confidence']}): {item['text']}"
    if kind == "request":
        return f"{i}: more data needed: {item['text']} (why: {item['why']}; how: {item['how']})"
    label = {"evidence": "evidence", "contradicting": "contradicting evidence", "user_symptom_evidence": "evidence on the user's symptom"}[kind]
    step = f", step {item['step']}" if item.get("step") is not None else ""
    return f"{i}: {label} [{item.get('source')}{step}]: {item['text']}"


def build_prompt(d: dict[str, Any]) -> tuple[str, str]:
    """(system prompt, user message) for the diagnosis ``d`` (a ``Diagnosis.to_dict()``)."""
    index = evidence_index(d)
    lines = [f"Status: {d.get('status')}", f"Summary: {d.get('summary', '')}", "", "Citable items (id: what it is):"]
    lines.extend(_line(i, item) for i, item in index.items())
    causes = d.get("root_causes") or []
    for n, c in enumerate(causes[:3], 1):
        lines.append("")
        lines.append(f"C{n} details: basis: {c.get('confidence_basis', '')}")
        lines.append(f"C{n} fix: {c.get('fix', '')}")
        lines.append(f"C{n} expected impact: {c.get('expected_impact', '')}")
        lines.append(f"C{n} verify: {c.get('verify', '')}")
        if c.get("to_confirm"):
            lines.append(f"C{n} to confirm: {c['to_confirm']}")
    users = d.get("user_symptoms") or []
    if users:
        lines.append("")
        for n, u in enumerate(users, 1):
            lines.append(f"User symptom {n}: \"{u.get('text')}\": {u.get('verdict')} ({u.get('explanation', '')})")
    if not index:
        lines.append("(none: the diagnosis found nothing to cite)")
    lines.append("")
    lines.append("Write the explanation now, following the rules.")
    return SYSTEM_PROMPT, "\n".join(lines)


_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\[(\"'])|(?<=\])\s+(?=[A-Z])")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_ONLY_CITES = re.compile(r"^\s*(?:\[[^\[\]]+\]\s*)+[.!?]?\s*$")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?")


def split_sentences(text: str) -> list[str]:
    """Sentences of a reply; a fragment made only of citations joins the sentence before it."""
    out: list[str] = []
    for raw in text.splitlines():
        line = _BULLET.sub("", raw).strip()
        if not line or line.startswith("#"):
            continue
        for part in _SPLIT.split(line):
            part = part.strip()
            if not part:
                continue
            if out and _ONLY_CITES.match(part):
                out[-1] = f"{out[-1]} {part}"
            else:
                out.append(part)
    return out


def _numbers(sentence: str) -> list[str]:
    body = re.sub(r"\[[^\[\]]*\]", " ", sentence)
    return [m.group(0).replace(",", "") if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+", m.group(0)) else m.group(0) for m in _NUMBER.finditer(body)]


def validate(text: str, d: dict[str, Any]) -> Narrative:
    """Keep the sentences of ``text`` that cite existing evidence ids and state only numbers found in ``d``."""
    index = evidence_index(d)
    haystack = json.dumps(d, ensure_ascii=False)
    nar = Narrative()
    for sentence in split_sentences(text):
        ids = cited(sentence)
        if not ids:
            nar.dropped.append(Dropped(sentence, "cites no evidence id"))
            continue
        unknown = [i for i in ids if i not in index]
        if unknown:
            nar.dropped.append(Dropped(sentence, f"cites {', '.join(unknown)}, which the diagnosis does not have"))
            continue
        invented = [n for n in _numbers(sentence) if n.lstrip("-") not in haystack]
        if invented:
            nar.dropped.append(Dropped(sentence, f"states {', '.join(invented)}, found nowhere in the diagnosis"))
            continue
        nar.sentences.append(sentence)
    return nar


def response_text(response: Any) -> str:
    """The text of a Messages API response: an SDK ``Message`` or its recorded JSON (a dict)."""
    content = response.get("content") if isinstance(response, dict) else getattr(response, "content", None)
    parts: list[str] = []
    for block in content or []:
        kind = block.get("type") if isinstance(block, dict) else getattr(block, "type", None)
        if kind == "text":
            parts.append(block.get("text", "") if isinstance(block, dict) else getattr(block, "text", ""))
    return "\n".join(parts)


def explain(d: dict[str, Any], *, api_key: str | None = None, model: str | None = None, client: Any = None) -> Narrative:
    """Ask the model for the explanation of ``d`` and validate it. ``client`` stands in for ``anthropic.Anthropic``."""
    model = model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
    if client is None:
        key = api_key or os.environ.get(ENV_KEY)
        if not key:
            raise NarrativeUnavailable(f"{ENV_KEY} is not set, so no explanation was written; the report above stands on its own")
        try:
            import anthropic
        except ImportError:
            raise NarrativeUnavailable("the explanation needs the Anthropic SDK: pip install 'traindx[agent]'") from None
        client = anthropic.Anthropic(api_key=key)
    system, user = build_prompt(d)
    try:
        response = client.messages.create(
            model=model,
            max_tokens=MAX_TOKENS,
            temperature=0,
            system=system,
            messages=[{"role": "user", "content": user}],
        )
    except Exception as e:  # noqa: BLE001 - any API failure leaves the deterministic report standing
        raise NarrativeUnavailable(f"the explanation could not be written ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    nar = validate(response_text(response), d)
    nar.model = model
    return nar


def render(nar: Narrative, *, markdown: bool = False) -> str:
    """The explanation as text to print after the report."""
    head = f"Explanation (written by {nar.model}; each sentence cites evidence ids: S = symptom, C = root cause, R = request, U = your symptom, e.g. C1.2 = 2nd evidence of the top cause)"
    lines = [f"## {head}" if markdown else head, ""]
    if nar.sentences:
        lines.extend(nar.sentences)
    else:
        lines.append("(no sentence of the reply cited evidence, so none is shown)")
    if nar.dropped:
        lines.append("")
        lines.append(f"{len(nar.dropped)} sentence(s) dropped for lack of evidence: " + "; ".join(f"\"{x.sentence[:80]}\" ({x.reason})" for x in nar.dropped[:5]))
    return "\n".join(lines) + "\n"
