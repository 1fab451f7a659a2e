"""Checkpoint readers on files written by the real writers: safetensors (header only), torch zip
state dicts through the restricted unpickler, tied weights, nested checkpoints, the pre-1.6
format through torch.load(weights_only=True), sharded folders, and corrupt files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from traindx.model import load as mload  # noqa: E402
from traindx.model.safetensors_file import read_header  # noqa: E402


class TinyGPT(torch.nn.Module):
    """GPT-2-like names: wte, wpe, h.N.attn.c_attn, h.N.mlp.c_fc, ln_f, lm_head tied to wte."""

    def __init__(self, vocab: int = 50, d: int = 16, ctx: int = 8, layers: int = 2) -> None:
        super().__init__()
        self.transformer = torch.nn.ModuleDict(
            {
                "wte": torch.nn.Embedding(vocab, d),
                "wpe": torch.nn.Embedding(ctx, d),
                "h": torch.nn.ModuleList(
                    torch.nn.ModuleDict(
                        {
                            "ln_1": torch.nn.LayerNorm(d),
                            "attn": torch.nn.ModuleDict({"c_attn": torch.nn.Linear(d, 3 * d), "c_proj": torch.nn.Linear(d, d)}),
                            "ln_2": torch.nn.LayerNorm(d),
                            "mlp": torch.nn.ModuleDict({"c_fc": torch.nn.Linear(d, 4 * d), "c_proj": torch.nn.Linear(4 * d, d)}),
                        }
                    )
                    for _ in range(layers)
                ),
                "ln_f": torch.nn.LayerNorm(d),
            }
        )
        self.lm_head = torch.nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.transformer["wte"].weight


def expected_groups(m: torch.nn.Module) -> tuple[int, dict[str, int]]:
    from traindx.model.groups import group_of

    groups: dict[str, int] = {}
    for n, p in m.named_parameters():  # named_parameters lists a shared parameter once
        g = group_of(n)
        groups[g] = groups.get(g, 0) + p.numel()
    return sum(p.numel() for p in m.parameters()), groups


def test_torch_state_dict_counts_tied_weights_once(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = TinyGPT()
    p = tmp_path / "pytorch_model.bin"
    torch.save(m.state_dict(), p)
    s = mload.load(p)
    total, groups = expected_groups(m)
    assert s.total == total  # 50*16 counted once although the state dict lists it twice
    assert s.groups == groups
    assert ("lm_head.weight", "transformer.wte.weight") in s.tied
    assert s.head_tied is True
    assert s.kind == "torch" and s.health is not None and len(s.health) == len(s.params)
    assert s.n_layers == 2
    assert s.layers["transformer.h.0"] == s.layers["transformer.h.1"]


def test_safetensors_header_and_values(tmp_path: Path) -> None:
    torch.manual_seed(0)
    m = TinyGPT()
    sd = {k: v.contiguous() for k, v in m.state_dict().items() if k != "lm_head.weight"}
    sd["extra.bf16"] = torch.randn(4, 4).to(torch.bfloat16)
    p = tmp_path / "model.safetensors"
    safetensors_torch.save_file(sd, p, metadata={"format": "pt"})
    f = read_header(p)
    assert f.metadata == {"format": "pt"}
    assert f.entries["transformer.wte.weight"]["shape"] == [50, 16]
    assert np.array_equal(np.asarray(f.values("transformer.wpe.weight")), sd["transformer.wpe.weight"].numpy())
    bf = np.asarray(f.values("extra.bf16"))
    from traindx.model.dtypes import to_float32

    assert np.array_equal(to_float32(bf, "BF16"), sd["extra.bf16"].float().numpy())
    s = mload.load(p)
    assert s.total == sum(v.numel() for v in sd.values())
    assert s.dtypes == {"F32": sum(v.numel() * 4 for k, v in sd.items() if k != "extra.bf16"), "BF16": 32}


def test_safetensors_header_needs_no_torch(tmp_path: Path) -> None:
    p = tmp_path / "model.safetensors"
    safetensors_torch.save_file({"a.weight": torch.zeros(3, 5), "b.bias": torch.ones(5)}, p)
    code = (
        "import sys; from pathlib import Path; from traindx.model.load import load\n"
        f"s = load(Path({str(p)!r}))\n"
        "assert s.total == 20, s.total\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_lightning_style_checkpoint_finds_the_state_dict(tmp_path: Path) -> None:
    import argparse

    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(m.parameters())
    m(torch.randn(3, 4)).sum().backward()
    opt.step()
    ck = {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.6.6",
        "state_dict": {f"model.{k}": v for k, v in m.state_dict().items()},
        "optimizer_states": [opt.state_dict()],
        "hyper_parameters": argparse.Namespace(lr=0.1, hidden=8),
        "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.5), "dirpath": "ckpts"}},
        "numpy_scalar": np.float64(1.5),
    }
    p = tmp_path / "epoch=3-step=120.ckpt"
    torch.save(ck, p)
    s = mload.load(p)
    assert s.total == sum(p.numel() for p in m.parameters())
    assert all(t.name.startswith("model.") for t in s.tensors)
    assert s.step == 120
    assert any("state_dict" in n for n in s.notes)


def test_optimizer_state_is_not_a_model(tmp_path: Path) -> None:
    m = torch.nn.Linear(3, 3)
    opt = torch.optim.Adam(m.parameters())
    m(torch.randn(2, 3)).sum().backward()
    opt.step()
    p = tmp_path / "optim.pt"
    torch.save(opt.state_dict(), p)
    with pytest.raises(mload.LoadError, match="optimizer state"):
        mload.load(p)


def test_parameters_keep_requires_grad(tmp_path: Path) -> None:
    m = torch.nn.Linear(4, 4)
    m.bias.requires_grad_(False)
    p = tmp_path / "params.pt"
    torch.save({"weight": m.weight, "bias": m.bias}, p)
    s = mload.load(p)
    assert s.trainable == 16 and s.frozen == 4


def test_pre_16_format_goes_through_weights_only_load(tmp_path: Path) -> None:
    m = torch.nn.Linear(6, 3)
    p = tmp_path / "legacy.pth"
    torch.save(m.state_dict(), p, _use_new_zipfile_serialization=False)
    s = mload.load(p)
    assert s.total == 21
    assert any("weights_only=True" in n for n in s.notes)
    h = {x.name: x for x in s.health or []}
    assert h["weight"].max_abs == pytest.approx(float(m.weight.detach().abs().max()))


def test_sharded_safetensors_folder(tmp_path: Path) -> None:
    torch.manual_seed(1)
    a = {"model.embed_tokens.weight": torch.randn(40, 8), "model.layers.0.self_attn.q_proj.weight": torch.randn(8, 8)}
    b = {"model.layers.0.mlp.up_proj.weight": torch.randn(16, 8), "lm_head.weight": torch.randn(40, 8)}
    safetensors_torch.save_file(a, tmp_path / "model-00001-of-00002.safetensors")
    safetensors_torch.save_file(b, tmp_path / "model-00002-of-00002.safetensors")
    wm = {k: "model-00001-of-00002.safetensors" for k in a} | {k: "model-00002-of-00002.safetensors" for k in b}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": wm}))
    s = mload.load(tmp_path)
    assert s.kind == "safetensors-sharded"
    assert s.total == 320 + 64 + 128 + 320
    assert s.groups == {"embedding": 320, "attention": 64, "mlp": 128, "head": 320}
    assert s.head_tied is False
    # a shard read on its own by discover is counted through the index, not twice
    import traindx

    run = traindx.load_run(tmp_path)
    assert run.model is not None and run.model.total == s.total
    reasons = {sk.path: sk.reason for sk in run.skipped}
    assert "model-00001-of-00002.safetensors" in reasons and not any(sk.error for sk in run.skipped)


@pytest.mark.parametrize(
    "content, why",
    [
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ", "not valid JSON"),
        (b"\xff\xff\xff\xff\x00\x00\x00\x00{}", "does not fit the file"),
        (b"\x02\x00", "too short"),
    ],
)
def test_broken_safetensors_is_a_one_line_reason(tmp_path: Path, content: bytes, why: str) -> None:
    p = tmp_path / "model.safetensors"
    p.write_bytes(content)
    with pytest.raises(mload.LoadError, match=why):
        mload.load(p)


def test_truncated_safetensors_reports_the_tensor(tmp_path: Path) -> None:
    p = tmp_path / "model.safetensors"
    safetensors_torch.save_file({"w": torch.zeros(100, 100), "v": torch.zeros(10)}, p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 1000])
    s = mload.load(p)  # the intact tensor is still counted
    assert s.total == 10
    assert any("outside the data section" in n for n in s.notes)


def test_discover_reads_checkpoint_and_hf_config_beside_it(tmp_path: Path) -> None:
    import traindx

    m = TinyGPT(vocab=300, d=8)
    sd = {k: v.contiguous() for k, v in m.state_dict().items() if k != "lm_head.weight"}
    safetensors_torch.save_file(sd, tmp_path / "model.safetensors")
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_embd": 8, "n_layer": 2, "n_head": 2, "n_positions": 8, "vocab_size": 300, "tie_word_embeddings": True}
    (tmp_path / "config.json").write_text(json.dumps(cfg, indent=2))
    run = traindx.load_run(tmp_path)
    assert run.model is not None and run.model.kind == "safetensors"  # the weights win over the config arithmetic
    assert run.model.head_tied is True and run.model.generative is True
    assert run.config["model.vocab_size"].value == 300 and run.config["model.vocab_size"].line == 10  # config.json still read as a config
    readers = {s.path: s.reader for s in run.sources}
    assert readers == {"config.json": "checkpoint", "model.safetensors": "checkpoint"}
    assert run.summary["model.parameters"].value == run.model.total
