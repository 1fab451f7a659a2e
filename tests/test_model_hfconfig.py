"""Parameter counts from an HF config.json alone, against the models transformers builds from the same
configs (tests/data/models/hf_configs.json, written by make_hf_configs.py) and published totals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from traindx.model import load as mload
from traindx.model.build import build_tensors
from traindx.model.hfconfig import Unsupported, tensors_from_config
from traindx.model.summary import ModelSummary

DATA = Path(__file__).resolve().parent / "data" / "models" / "hf_configs.json"
CASES = json.loads(DATA.read_text())


def summarize(cfg: dict) -> ModelSummary:
    raw, facts = tensors_from_config(cfg)
    return ModelSummary("config.json", "hf-config", build_tensors(raw), arch=facts)


@pytest.mark.parametrize("case", sorted(CASES))
def test_counts_match_the_models_transformers_builds(case: str) -> None:
    c = CASES[case]
    s = summarize(c["config"])
    assert s.total == c["total"]
    assert s.groups == c["groups"]


def test_gpt2_small_is_124m_with_a_tied_head() -> None:
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "vocab_size": 50257}
    s = summarize(cfg)
    assert s.total == 124_439_808  # the published GPT-2 small count
    assert s.head_tied is True and s.generative is True
    assert s.group_share("embedding") == pytest.approx((50257 + 1024) * 768 / 124_439_808)


def test_llama2_7b_total() -> None:
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000, "tie_word_embeddings": False,
    }
    s = summarize(cfg)
    assert s.total == 6_738_415_616  # Llama-2-7b
    assert s.head_tied is False
    assert s.n_layers == 32


def test_unknown_family_is_a_clear_refusal(tmp_path: Path) -> None:
    with pytest.raises(Unsupported, match="model_type 't5'"):
        tensors_from_config({"model_type": "t5", "d_model": 512, "vocab_size": 100})
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"model_type": "t5", "d_model": 512, "vocab_size": 100}))
    with pytest.raises(mload.LoadError, match="not one whose parameters"):
        mload.load(p)


def test_torch_dtype_sets_the_bytes(tmp_path: Path) -> None:
    cfg = dict(CASES["llama"]["config"], torch_dtype="bfloat16")
    p = tmp_path / "config.json"
    p.write_text(json.dumps(cfg))
    s = mload.load(p)
    assert s.dtypes == {"BF16": 2 * s.total}
