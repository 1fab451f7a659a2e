"""The model checks on checkpoints written by torch and safetensors, and the causes they feed:
parameter imbalance (the seed's 79%-embedding model), non-finite, symmetric, exploding and dead
weights, spectra; architecture_imbalance, poor_initialization and overfitting in the reasoning."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

import traindx  # noqa: E402
from traindx.checks.model.degenerate_weights import degenerate_weights  # noqa: E402
from traindx.checks.model.nonfinite_weights import nonfinite_weights  # noqa: E402
from traindx.checks.model.param_imbalance import param_imbalance  # noqa: E402
from traindx.model import load as mload  # noqa: E402
from traindx.run import Run  # noqa: E402

GPT2_KEYS = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_head": 2, "tie_word_embeddings": True}


def gpt2_state(vocab: int, d: int, layers: int, ctx: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {"transformer.wte.weight": torch.randn(vocab, d, generator=g) * 0.02, "transformer.wpe.weight": torch.randn(ctx, d, generator=g) * 0.01}
    for i in range(layers):
        b = f"transformer.h.{i}"
        sd |= {
            f"{b}.ln_1.weight": torch.ones(d), f"{b}.ln_1.bias": torch.zeros(d),
            f"{b}.attn.c_attn.weight": torch.randn(d, 3 * d, generator=g) * 0.02, f"{b}.attn.c_attn.bias": torch.zeros(3 * d),
            f"{b}.attn.c_proj.weight": torch.randn(d, d, generator=g) * 0.02, f"{b}.attn.c_proj.bias": torch.zeros(d),
            f"{b}.ln_2.weight": torch.ones(d), f"{b}.ln_2.bias": torch.zeros(d),
            f"{b}.mlp.c_fc.weight": torch.randn(d, 4 * d, generator=g) * 0.02, f"{b}.mlp.c_fc.bias": torch.zeros(4 * d),
            f"{b}.mlp.c_proj.weight": torch.randn(4 * d, d, generator=g) * 0.02, f"{b}.mlp.c_proj.bias": torch.zeros(d),
        }
    sd |= {"transformer.ln_f.weight": torch.ones(d), "transformer.ln_f.bias": torch.zeros(d)}
    return sd


def write_model(folder: Path, sd: dict[str, torch.Tensor], vocab: int, d: int, layers: int, ctx: int = 64) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    safetensors_torch.save_file({k: v.contiguous() for k, v in sd.items()}, folder / "model.safetensors")
    cfg = GPT2_KEYS | {"n_embd": d, "n_layer": layers, "n_positions": ctx, "vocab_size": vocab}
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    return folder


def test_embedding_heavy_generator_is_imbalanced(tmp_path: Path) -> None:
    # vocabulary 50257 x 32 with 2 blocks of width 32: the embedding holds ~94% of the parameters
    run = traindx.load_run(write_model(tmp_path, gpt2_state(50257, 32, 2), 50257, 32, 2))
    (s,) = param_imbalance(run)
    assert s.severity == "high"
    assert s.data["embedding_share"] > 0.9 and s.data["head_tied"] is True
    assert s.evidence[0].source == "model.safetensors#transformer.wte.weight"
    assert "50257x32" in s.evidence[0].text
    assert any(e.source == "config.json:11" and e.text == "model.vocab_size = 50257" for e in s.evidence)


def test_balanced_models_are_not_flagged() -> None:
    for cfg in (
        {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "vocab_size": 50257},
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 8,
         "num_attention_heads": 16, "num_key_value_heads": 4, "vocab_size": 32000, "tie_word_embeddings": False},
    ):
        raw_run = Run(model=mload.from_config(Path("config.json"), "config.json", cfg))
        assert param_imbalance(raw_run) == []


def test_untied_head_counts_toward_the_vocabulary_share() -> None:
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
           "num_attention_heads": 4, "vocab_size": 32000, "tie_word_embeddings": False}
    (s,) = param_imbalance(Run(model=mload.from_config(Path("config.json"), "config.json", cfg)))
    assert s.data["head_tied"] is False and s.data["vocab_share"] > s.data["embedding_share"] > 0.4
    assert "untied output head" in s.summary


def test_seed_case_ranks_architecture_imbalance_first(tmp_path: Path) -> None:
    write_model(tmp_path, gpt2_state(50257, 32, 2), 50257, 32, 2)
    (tmp_path / "samples.txt").write_text("step 1000: ::::::::::::::::::::::::::\n---\nstep 2000: :::::::::::::::::::::::::::::::\n---\nstep 3000: ::::::::::::::::::::::::::::::\n")
    d = traindx.diagnose([tmp_path])
    ids = {s.id for s in d.symptoms}
    assert {"param_imbalance", "degenerate_outputs"} <= ids
    top = d.root_causes[0]
    assert top.id == "architecture_imbalance" and top.confidence >= 0.9
    assert set(top.explains) >= {"param_imbalance", "degenerate_outputs"}


def test_nan_weights_are_critical_and_located(tmp_path: Path) -> None:
    sd = gpt2_state(200, 16, 2)
    sd["transformer.h.1.mlp.c_fc.weight"][3, :5] = math.nan
    sd["transformer.h.1.mlp.c_fc.weight"][4, 0] = math.inf
    run = traindx.load_run(write_model(tmp_path, sd, 200, 16, 2))
    (s,) = nonfinite_weights(run)
    assert s.severity == "critical"
    assert s.data == {"tensors": ["transformer.h.1.mlp.c_fc.weight"], "nan": 5, "inf": 1}
    assert s.evidence[0].source == "model.safetensors#transformer.h.1.mlp.c_fc.weight"


def test_symmetric_init_is_poor_initialization(tmp_path: Path) -> None:
    sd = gpt2_state(200, 16, 2)
    sd["transformer.h.0.mlp.c_fc.weight"] = torch.full((16, 64), 0.05)  # constant init
    sd["transformer.h.1.attn.c_proj.weight"] = torch.randn(1, 16).repeat(16, 1)  # every unit a copy
    write_model(tmp_path, sd, 200, 16, 2)
    (tmp_path / "train.log").write_text("".join(f"step {i} loss {4.6 + 0.001 * ((i * 7) % 5):.4f}\n" for i in range(0, 400, 10)))
    d = traindx.diagnose([tmp_path])
    (w,) = [s for s in d.symptoms if s.id == "degenerate_weights"]
    assert w.severity == "high"
    assert {"transformer.h.0.mlp.c_fc.weight", "transformer.h.1.attn.c_proj.weight"} == set(w.data["tensors"])
    assert any("every value equals 0.05" in e.text for e in w.evidence)
    cause = next(h for h in d.root_causes if h.id == "poor_initialization")
    assert cause.confidence >= 0.9 and "degenerate_weights" in cause.explains


def test_healthy_random_init_raises_no_weight_alarm(tmp_path: Path) -> None:
    run = traindx.load_run(write_model(tmp_path, gpt2_state(200, 16, 2), 200, 16, 2))
    assert degenerate_weights(run) == [] and nonfinite_weights(run) == []
    d = traindx.diagnose([tmp_path])
    assert not [s for s in d.symptoms if s.severity in ("high", "critical")]


def test_exploding_weights_and_dead_embedding_rows(tmp_path: Path) -> None:
    sd = gpt2_state(400, 16, 2)
    sd["transformer.h.0.attn.c_attn.weight"] *= 2000.0
    sd["transformer.wte.weight"][100:300] = 0.0
    sd["transformer.wte.weight"][300:350] = sd["transformer.wte.weight"][0]
    d = traindx.diagnose([write_model(tmp_path, sd, 400, 16, 2)])
    by = {s.id: s for s in d.symptoms}
    assert by["weight_norm_explosion"].data["tensors"] == ["transformer.h.0.attn.c_attn.weight"]
    dead = by["dead_embedding_rows"]
    assert "200 of 400 rows are all zero" in dead.evidence[0].text and "50 rows repeat" in dead.evidence[0].text
    assert dead.severity == "high"


def test_spectra_feed_overfitting_only_as_a_hypothesis() -> None:
    from traindx.findings import Evidence, Symptom
    from traindx.reasoning.reason import reason

    ev = [Evidence("h.0.mlp.c_fc.weight: alpha 1.62", "model.safetensors#h.0.mlp.c_fc.weight")]
    s = Symptom("overtrained_layers", "TDX806", "medium", "6 of 8 layers have alpha below 2", evidence=ev, data={"share": 0.75, "layers": [], "min_alpha": 1.62})
    hyps, reqs, errs = reason(Run(), [s])
    (h,) = [h for h in hyps if h.id == "overfitting"]
    assert not errs and 0.4 <= h.confidence < 0.7 and h.explains == ["overtrained_layers"]
    assert any(r.need == "a held-out loss curve" for r in reqs)


def test_checkpoint_health_is_read_in_chunks_and_sampled_when_large(tmp_path: Path) -> None:
    from traindx.model.health import analyze

    sd = gpt2_state(300, 16, 1)
    sd["transformer.h.0.mlp.c_fc.weight"][7, 7] = math.nan
    write_model(tmp_path, sd, 300, 16, 1)
    s = mload.load(tmp_path / "model.safetensors", read_values=False)
    f = mload.safetensors_file.read_header(tmp_path / "model.safetensors")
    full, notes = analyze(s.tensors, f.values)
    assert notes == [] and sum(h.nan for h in full) == 1
    sampled, notes = analyze(s.tensors, f.values, max_bytes=10_000)
    assert notes and "every" in notes[0]
    assert all(h.sampled for h in sampled if h.rows)
    assert np.isclose(sum(h.numel for h in sampled), sum(h.numel for h in full) / 2, rtol=0.5)
