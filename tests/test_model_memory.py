"""The training-memory estimate: the published per-layer formula, exact weight/gradient/optimizer
bytes, the batch that fits a device an OOM message names, the CLI, and the CPU measurement path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traindx.cli.app import app
from traindx.model import load as mload
from traindx.model.memory import GiB, Arch, Setup, estimate, layer_activation_bytes

GPT2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "vocab_size": 50257, "activation_function": "gelu", "resid_pdrop": 0.0, "attn_pdrop": 0.0, "embd_pdrop": 0.0}
OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 3.07 GiB. GPU 0 has a total capacity of 23.57 GiB of which 1.91 GiB is free. "
    "Including non-PyTorch memory, this process has 21.65 GiB memory in use. Of the allocated memory 19.80 GiB is allocated by PyTorch, "
    "and 1.40 GiB is reserved by PyTorch but unallocated.\n"
)


def test_layer_formula_reproduces_korthikanti() -> None:
    # 16-bit activations, dropout, eager attention, GELU MLP of 4h: 34 sbh + 5 a s^2 b bytes per layer
    a = Arch(hidden=1024, layers=1, heads=16, kv_heads=16, head_dim=64, intermediate=4096, vocab=1, gated=False)
    s, b = 512, 4
    got = layer_activation_bytes(a, s, b, Setup(dtype="bf16", attention="eager", dropout=True))
    assert got == 34 * s * b * 1024 + 5 * 16 * s * s * b


def test_weights_gradients_optimizer_of_gpt2_small() -> None:
    m = mload.from_config(Path("config.json"), "config.json", GPT2)
    p = 124_439_808
    e = estimate(m, Setup(batch_size=8, seq_len=1024, dtype="amp-bf16", optimizer="adamw"))
    assert (e.weights, e.gradients, e.optimizer, e.amp_cast) == (4 * p, 4 * p, 8 * p, 2 * p)
    pure = estimate(m, Setup(batch_size=8, seq_len=1024, dtype="bf16", optimizer="sgd"))
    assert (pure.weights, pure.gradients, pure.optimizer) == (2 * p, 2 * p, 0)
    assert pure.activations is not None and pure.activations == 8 * estimate(m, Setup(batch_size=1, seq_len=1024, dtype="bf16")).activations
    assert e.peak_low < e.peak_high
    assert estimate(m, Setup(batch_size=8, seq_len=1024, grad_checkpointing=True)).activations < estimate(m, Setup(batch_size=8, seq_len=1024)).activations


def test_batch_that_fits() -> None:
    m = mload.from_config(Path("config.json"), "config.json", GPT2)
    e = estimate(m, Setup(batch_size=32, seq_len=1024, dtype="amp-bf16"))
    cap = 23.57 * GiB
    n = e.batch_that_fits(cap)
    assert n is not None and 0 < n < 32
    assert e.fixed + n * e.activations_per_sample <= 0.9 * cap < e.fixed + (n + 1) * e.activations_per_sample


def test_memory_command_reads_the_run(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(GPT2, indent=2))
    (tmp_path / "training_args.json").write_text(json.dumps({"per_device_train_batch_size": 32, "bf16": True, "optim": "adamw_torch", "max_seq_length": 1024}, indent=2))
    (tmp_path / "train.log").write_text(OOM)
    res = CliRunner().invoke(app, ["memory", str(tmp_path), "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    st = d["estimate"]["setup"]
    assert (st["batch_size"], st["seq_len"], st["dtype"], st["optimizer"]) == (32, 1024, "amp-bf16", "adamw_torch")
    assert st["sources"]["batch_size"] == "per_device_train_batch_size (training_args.json:2)"
    assert d["capacity"]["source"] == "train.log:1" and d["capacity"]["bytes"] == pytest.approx(23.57 * GiB)
    assert d["estimate"]["peak_low"] > d["capacity"]["bytes"]
    assert 0 < d["capacity"]["batch_that_fits"] < 32
    text = CliRunner().invoke(app, ["memory", str(tmp_path)]).output
    assert "does not fit" in text and f"batch size up to {d['capacity']['batch_that_fits']}" in text


def test_memory_command_needs_a_model(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["memory", str(tmp_path)])
    assert res.exit_code == 2
    res = CliRunner().invoke(app, ["memory", str(tmp_path), "--measure"])
    assert res.exit_code == 2 and "--factory" in res.output


def test_measure_on_cpu_counts_the_parts(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from traindx.model.measure import measure

    (tmp_path / "mlp_factory.py").write_text(
        "import torch\n\ndef build():\n    torch.manual_seed(0)\n    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))\n"
    )
    from traindx.model.factory import build

    m = build("mlp_factory.py:build", cwd=tmp_path)
    n = sum(p.numel() for p in m.parameters())
    got = measure(m, Setup(batch_size=16, optimizer="adamw"), input_shape=(32,), device="cpu")
    assert got["weights"] == got["gradients"] == 4 * n
    assert got["optimizer"] == 8 * n + 4 * 4  # exp_avg, exp_avg_sq, and a step counter per parameter tensor
    # saved for backward: the first linear's input, the ReLU output (the second linear's input) and the
    # outputs the stand-in loss squares; the weights the linears keep are not activations
    assert got["activations"] == 4 * 16 * (32 + 64 + 10)
    assert "peak_allocated" not in got
    _ = torch


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_estimate_matches_saved_activations_of_hf_models(family: str, dtype: str) -> None:
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from traindx.model.factory import summarize
    from traindx.model.measure import measure

    torch.manual_seed(0)
    if family == "gpt2":
        cfg = transformers.GPT2Config(n_embd=256, n_layer=4, n_head=4, vocab_size=5000, n_positions=512, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    else:
        cfg = transformers.LlamaConfig(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=8, vocab_size=5000, max_position_embeddings=512)  # no GQA: fp32 GQA falls back to the math kernel on CUDA only
    cfg._attn_implementation = "sdpa"
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    setup = Setup(batch_size=4, seq_len=256, dtype=dtype)
    est = estimate(summarize(model, "factory")[0], setup)
    got = measure(model, setup, device="cpu")
    assert est.weights == got["weights"] and est.gradients == got["gradients"]
    assert est.activations == pytest.approx(got["activations"], rel=0.1)


def test_a_factory_model_is_measured_by_default_where_cuda_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from traindx.cli import memory as memory_cli

    (tmp_path / "tiny_factory_mod.py").write_text(
        "import torch\n\ndef build():\n    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["memory", "--factory", "tiny_factory_mod:build", "--input-shape", "16", "-b", "8", "--format", "json"]
    monkeypatch.setattr(memory_cli, "_cuda_available", lambda: False)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "measured" not in json.loads(res.output)  # a CPU machine estimates unless --measure is given
    monkeypatch.setattr(memory_cli, "_cuda_available", lambda: True)
    d = json.loads(CliRunner().invoke(app, args).output)
    assert d["measured"]["weights"] == d["estimate"]["weights"]  # measured without being asked (on this machine: the CPU path)
    assert "measured" not in json.loads(CliRunner().invoke(app, [*args, "--no-measure"]).output)
