"""The model inside ``traindx diagnose``: the contract's ``model`` block (valid against the schema,
absent without a model), the same numbers as ``traindx model``, the balance verdict from the
parameter-balance check, and the model in the terminal text, report.md and report.html."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console
from typer.testing import CliRunner

import traindx
from traindx.cli.app import app
from traindx.diagnosis import Diagnosis
from traindx.model.groups import GROUPS
from traindx.render.html import render_html
from traindx.render.markdown import to_markdown
from traindx.render.text import render_text
from traindx.schema import diagnosis_schema

HERE = Path(__file__).resolve().parent
EMBEDDING_HEAVY = HERE / "zoo" / "embedding_heavy_colons" / "run"
NO_MODEL = HERE.parent / "examples" / "lr_schedule_divergence"


def text_of(d: Diagnosis, width: int) -> str:
    buf = io.StringIO()
    render_text(d, Console(file=buf, width=width, no_color=True, force_terminal=False, highlight=False))
    return buf.getvalue()


@pytest.fixture(scope="module")
def heavy() -> Diagnosis:
    return traindx.diagnose([EMBEDDING_HEAVY])


@pytest.fixture(scope="module")
def balanced(tmp_path_factory: pytest.TempPathFactory) -> Diagnosis:
    """A small causal LM whose blocks hold most of the parameters, with an untied head, and its log."""
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    run = tmp_path_factory.mktemp("balanced_run")
    torch.manual_seed(0)
    vocab, d = 64, 32
    sd = {"model.embed_tokens.weight": torch.randn(vocab, d) * 0.02, "lm_head.weight": torch.randn(vocab, d) * 0.02, "model.norm.weight": torch.ones(d)}
    for i in range(4):
        sd[f"model.layers.{i}.self_attn.q_proj.weight"] = torch.randn(d, d) * 0.02
        sd[f"model.layers.{i}.self_attn.o_proj.weight"] = torch.randn(d, d) * 0.02
        sd[f"model.layers.{i}.mlp.up_proj.weight"] = torch.randn(4 * d, d) * 0.02
        sd[f"model.layers.{i}.mlp.down_proj.weight"] = torch.randn(d, 4 * d) * 0.02
    st.save_file(sd, run / "model.safetensors")
    lines = [f"step {s} | loss {4.2 - 2.0 * s / 400:.4f}" for s in range(0, 401, 10)]
    (run / "train.log").write_text("\n".join(lines) + "\n")
    return traindx.diagnose([run])


def test_block_is_in_the_contract_and_valid(heavy: Diagnosis) -> None:
    d = heavy.to_dict()
    jsonschema.validate(d, diagnosis_schema())
    m = d["model"]
    summary = heavy.run.model
    assert m["source"] == "model.safetensors" and m["kind"] == "safetensors"
    assert m["parameters"] == summary.total == sum(g["parameters"] for g in m["groups"].values())
    assert m["bytes"] == summary.nbytes and m["dtypes"] == {"F16": summary.nbytes}
    assert list(m["groups"]) == [g for g in GROUPS if g in m["groups"]]
    assert m["groups"]["embedding"]["share"] > 0.9
    assert m["balance"]["verdict"] == "embedding-dominated"
    assert m["balance"]["embedding_share"] == m["groups"]["embedding"]["share"]
    assert m["head_tied"] is True and m["generative"] is True
    assert "layers" not in m and "tensors" not in m  # the per-layer table stays with `traindx model`


def test_block_has_the_numbers_traindx_model_prints(heavy: Diagnosis) -> None:
    res = CliRunner().invoke(app, ["model", str(EMBEDDING_HEAVY / "model.safetensors"), "--format", "json", "--no-values"])
    assert res.exit_code == 0, res.output
    full = json.loads(res.output)
    m = heavy.to_dict()["model"]
    for key in ("parameters", "bytes", "trainable", "frozen", "dtypes", "groups", "head_tied", "generative"):
        assert m[key] == full[key], key


def test_balanced_model_says_so_and_unchecked_when_the_check_did_not_run(balanced: Diagnosis) -> None:
    d = balanced.to_dict()
    jsonschema.validate(d, diagnosis_schema())
    m = d["model"]
    assert m["balance"]["verdict"] == "balanced"
    assert m["head_tied"] is False
    assert m["balance"]["vocabulary_share"] == pytest.approx(m["groups"]["embedding"]["share"] + m["groups"]["head"]["share"], abs=2e-4)
    assert m["balance"]["body_share"] > 0.8
    assert "param_imbalance" not in {s["id"] for s in d["symptoms"]}
    skipped = dataclasses.replace(balanced, checks_run=[c for c in balanced.checks_run if c != "TDX801"])
    assert skipped.to_dict()["model"]["balance"]["verdict"] == "unchecked"


def test_no_model_no_block_and_old_outputs_stay_valid() -> None:
    d = traindx.diagnose([NO_MODEL]).to_dict()
    assert "model" not in d
    jsonschema.validate(d, diagnosis_schema())


def test_schema_rejects_a_malformed_block(heavy: Diagnosis) -> None:
    d = heavy.to_dict()
    bad = json.loads(json.dumps(d))
    bad["model"]["groups"]["embeddings"] = bad["model"]["groups"].pop("embedding")  # not a group name
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, diagnosis_schema())
    bad = json.loads(json.dumps(d))
    bad["model"]["balance"]["verdict"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, diagnosis_schema())
    schema_groups = diagnosis_schema()["properties"]["model"]["properties"]["groups"]["propertyNames"]["enum"]
    assert schema_groups == list(GROUPS)


@pytest.mark.parametrize("width", [100, 80])
def test_terminal_shows_the_model_in_two_lines(heavy: Diagnosis, width: int) -> None:
    text = text_of(heavy, width)
    lines = text.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("model: "))
    assert lines[first] == "model: model.safetensors · 69.4k parameters, 138.7 KB F16 · head tied"
    assert " ".join(lines[first + 1].split()) == "embedding 95%, mlp 3.1%, attention 1.6%, norm 0.1% · embedding-dominated"
    assert not lines[first + 2].startswith("       ")  # two lines, nothing more
    assert all(len(ln) <= width for ln in lines)


def test_terminal_without_a_model_has_no_model_line() -> None:
    assert "model: " not in text_of(traindx.diagnose([NO_MODEL]), 100)


def test_terminal_names_trainable_frozen_and_untied_head(balanced: Diagnosis) -> None:
    text = text_of(balanced, 100)
    line = next(ln for ln in text.splitlines() if ln.startswith("model: "))
    assert "head untied" in line and "trainable" not in line  # a safetensors file does not say what is frozen
    assert "· balanced" in text


def test_markdown_has_a_model_section(heavy: Diagnosis, balanced: Diagnosis) -> None:
    md = to_markdown(heavy)
    sec = md[md.index("## Model") :]
    sec = sec[: sec.index("\n## ", 1)]
    assert "| embedding | 66,048 | 95.2% |" in sec
    assert "Balance: **embedding-dominated**" in sec
    assert md.index("## Symptoms") < md.index("## Model") < md.index("## Files")
    assert "**balanced**" in to_markdown(balanced)
    assert "## Model" not in to_markdown(traindx.diagnose([NO_MODEL]))


def test_html_has_a_model_section(heavy: Diagnosis) -> None:
    page = render_html(heavy)
    assert '<section id="model"><h2>Model</h2>' in page and '<a href="#model">Model</a>' in page
    assert "<td>embedding</td><td class=\"num\">66,048</td>" in page
    assert 'class="verdict b-embedding-dominated">embedding-dominated</b>' in page
    plain = render_html(traindx.diagnose([NO_MODEL]))
    assert 'id="model"' not in plain and "#model" not in plain
