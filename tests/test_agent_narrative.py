"""The --explain narrative: evidence ids, the prompt, and the validator on recorded Messages API responses
(good sentences kept, uncited or unfounded ones dropped). Nothing here touches the network."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import traindx
from traindx.agent import narrative
from traindx.agent.evidence_ids import cited, evidence_index
from traindx.cli.app import app

CASE = Path(__file__).resolve().parent / "zoo" / "curriculum_divergence_epoch7" / "run"
runner = CliRunner()


def _message(text: str) -> dict[str, Any]:
    """A response as the Messages API returns it (recorded JSON)."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1873, "output_tokens": 164},
    }


# A faithful reply: every sentence cites items the diagnosis has, every number is in it.
GOOD = _message(
    "The training loss diverged at step 301: it rose from its best of 0.02939 at step 280 to 2.941 at step 304 "
    "and stayed up [S1, S1.1, S1.3]. At step 304 the gradient norm was 140, 79x its median over the points before [C1.1]. "
    "The most likely cause is exploding gradients, with confidence 0.91 on direct evidence [C1]. "
    "Clip the global gradient norm (max_norm=1.0) and restart from before step 301 [C1]. "
    "Your statement that the loss diverged at epoch 7 is confirmed [U1.2]."
)

# A reply that strays: a claim with no id, an id the diagnosis lacks, a number it never states.
MIXED = _message(
    "- The loss diverged at step 301 [S1.2].\n"
    "- This is the classic failure of recurrent networks on long sequences.\n"
    "- The learning rate was 0.01 at the onset [C2.1].\n"
    "- Halving the learning rate to 0.005 will fix it [C2].\n"
    "- The recurrent matrix reached a spectral radius of 8.6 [S9.1].\n"
    "The peak loss came three steps after the onset.\n[S1.3]"
)


@pytest.fixture(scope="module")
def diagnosis() -> dict[str, Any]:
    return traindx.diagnose([CASE], symptoms=["Loss diverged at epoch 7"]).to_dict()


def test_evidence_ids_follow_the_positions_in_the_contract(diagnosis: dict[str, Any]) -> None:
    idx = evidence_index(diagnosis)
    assert idx["S1"]["id"] == diagnosis["symptoms"][0]["id"]
    assert idx["S1.2"]["source"] == diagnosis["symptoms"][0]["evidence"][1]["source"]
    assert idx["C1"]["id"] == "exploding_gradients" and idx["C1.1"]["text"] == diagnosis["root_causes"][0]["evidence"][0]["text"]
    assert idx["U1.2"]["source"] == diagnosis["user_symptoms"][0]["evidence"][1]["source"]
    assert list(idx) == list(evidence_index(traindx.diagnose([CASE], symptoms=["Loss diverged at epoch 7"]).to_dict()))  # stable
    assert cited("grad norm 140 [C1.1, S3.2] and [R1]; not S1 outside brackets") == ["C1.1", "S3.2", "R1"]


def test_the_prompt_lists_every_citable_item_and_the_rules(diagnosis: dict[str, Any]) -> None:
    system, user = narrative.build_prompt(diagnosis)
    assert "square brackets" in system and "deleted" in system and "Copy every number exactly" in system
    for i, item in evidence_index(diagnosis).items():
        assert f"\n{i}: " in user
        if item.get("source"):
            assert f"[{item['source']}" in user
    assert "C1 fix: " + diagnosis["root_causes"][0]["fix"] in user
    assert 'User symptom 1: "Loss diverged at epoch 7": confirmed' in user
    assert user.startswith("Status: diagnosis_complete\nSummary: Exploding gradients (confidence 0.91).")


def test_a_faithful_recorded_reply_is_kept_whole(diagnosis: dict[str, Any]) -> None:
    nar = narrative.validate(narrative.response_text(GOOD), diagnosis)
    assert nar.dropped == []
    assert len(nar.sentences) == 5 and nar.sentences[0].startswith("The training loss diverged at step 301")


def test_uncited_and_unfounded_sentences_are_dropped(diagnosis: dict[str, Any]) -> None:
    nar = narrative.validate(narrative.response_text(MIXED), diagnosis)
    assert nar.sentences == [
        "The loss diverged at step 301 [S1.2].",
        "The learning rate was 0.01 at the onset [C2.1].",
        "The peak loss came three steps after the onset. [S1.3]",  # a citation on the next line joins its sentence
    ]
    reasons = {d.sentence[:30]: d.reason for d in nar.dropped}
    assert reasons["This is the classic failure of"] == "cites no evidence id"
    assert reasons["Halving the learning rate to 0"] == "states 0.005, found nowhere in the diagnosis"
    assert reasons["The recurrent matrix reached a"] == "cites S9.1, which the diagnosis does not have"


def test_a_reply_with_nothing_cited_leaves_nothing(diagnosis: dict[str, Any]) -> None:
    nar = narrative.validate("Your run looks broken. Try a smaller learning rate.", diagnosis)
    assert nar.sentences == [] and len(nar.dropped) == 2
    assert "no sentence of the reply cited evidence" in narrative.render(nar)


class _FakeMessages:
    def __init__(self, reply: Any) -> None:
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    def create(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


class _FakeClient:
    def __init__(self, reply: Any) -> None:
        self.messages = _FakeMessages(reply)


def test_explain_sends_the_prompt_and_validates_the_reply(diagnosis: dict[str, Any]) -> None:
    client = _FakeClient(MIXED)
    nar = narrative.explain(diagnosis, client=client, model="claude-test")
    (call,) = client.messages.calls
    system, user = narrative.build_prompt(diagnosis)
    assert call["model"] == "claude-test" and call["system"] == system and call["messages"] == [{"role": "user", "content": user}]
    assert call["temperature"] == 0 and call["max_tokens"] == narrative.MAX_TOKENS
    assert nar.model == "claude-test" and len(nar.sentences) == 3 and len(nar.dropped) == 3
    text = narrative.render(nar)
    assert "3 sentence(s) dropped for lack of evidence" in text


def test_explain_without_a_key_or_sdk_says_so(diagnosis: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(narrative.NarrativeUnavailable, match="ANTHROPIC_API_KEY is not set"):
        narrative.explain(diagnosis)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(narrative.NarrativeUnavailable, match=r"pip install 'traindx\[agent\]'"):
        narrative.explain(diagnosis)
    with pytest.raises(narrative.NarrativeUnavailable, match="could not be written .*ConnectionError: offline"):
        narrative.explain(diagnosis, client=_FakeClient(ConnectionError("offline")))


def test_cli_explain_without_a_key_keeps_the_report_and_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    r = runner.invoke(app, ["diagnose", str(CASE), "--format", "json", "--explain"])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["root_causes"][0]["id"] == "exploding_gradients"
    assert "--explain: ANTHROPIC_API_KEY is not set, so no explanation was written" in r.stderr


def test_cli_explain_prints_the_validated_narrative(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("anthropic")
    fake.Anthropic = lambda api_key: _FakeClient(GOOD)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "anthropic", fake)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("TRAINDX_EXPLAIN_MODEL", "claude-test")
    r = runner.invoke(app, ["diagnose", str(CASE), "-s", "Loss diverged at epoch 7", "--format", "md", "--explain", "-q"])
    assert r.exit_code == 0, r.output
    assert "## Explanation (written by claude-test;" in r.stdout
    assert "The most likely cause is exploding gradients, with confidence 0.91 on direct evidence [C1]." in r.stdout
    assert "dropped" not in r.stdout.split("## Explanation")[1]
