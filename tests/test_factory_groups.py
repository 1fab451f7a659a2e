"""Parameter groups of a factory-built model come from its layers' classes where they say, from the
names otherwise: an ``nn.Sequential`` of anonymous layers is no longer all "other", its embedding
is no layer for the spectra, and the output head is found by its shape or position."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from traindx.cli.app import app
from traindx.model import spectral
from traindx.model.groups import by_module, group_of_class, in_repeated_block

torch = pytest.importorskip("torch")
nn = torch.nn

from traindx.model.factory import summarize


def groups_of(model: Any) -> dict[str, str]:
    s, _ = summarize(model, "factory")
    return {t.name: t.group for t in s.tensors if not t.buffer}


def test_sequential_gets_embedding_norm_and_head() -> None:
    g = groups_of(nn.Sequential(nn.Embedding(100, 16), nn.Linear(16, 32), nn.LayerNorm(32), nn.Linear(32, 100)))
    assert g == {
        "0.weight": "embedding",
        "1.weight": "other",
        "1.bias": "other",
        "2.weight": "norm",
        "2.bias": "norm",
        "3.weight": "head",
        "3.bias": "head",
    }


def test_sequential_summary_is_imbalanced_by_its_embedding_not_all_other() -> None:
    s, _ = summarize(nn.Sequential(nn.Embedding(5000, 16), nn.Linear(16, 16), nn.LayerNorm(16), nn.Linear(16, 10)), "factory")
    assert s.group_share("embedding") > 0.9 and "other" in s.groups and s.group_share("other") < 0.01
    # the embedding is not a weight matrix whose spectrum says how trained a layer is
    assert [t.name for t in s.tensors if spectral.eligible(t, min_dim=8)] == ["1.weight", "3.weight"]


def test_torch_transformer_layers_split_into_attention_mlp_and_norm() -> None:
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 2, enable_nested_tensor=False)
    g = groups_of(enc)
    assert {n: v for n, v in g.items() if n.startswith("layers.1.")} == {
        "layers.1.self_attn.in_proj_weight": "attention",
        "layers.1.self_attn.in_proj_bias": "attention",
        "layers.1.self_attn.out_proj.weight": "attention",
        "layers.1.self_attn.out_proj.bias": "attention",
        "layers.1.linear1.weight": "mlp",
        "layers.1.linear1.bias": "mlp",
        "layers.1.linear2.weight": "mlp",
        "layers.1.linear2.bias": "mlp",
        "layers.1.norm1.weight": "norm",
        "layers.1.norm1.bias": "norm",
        "layers.1.norm2.weight": "norm",
        "layers.1.norm2.bias": "norm",
    }
    assert "head" not in g.values()  # a body without a head: its last Linear sits in a numbered block


class _ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv1d(4, 4, 1), nn.GroupNorm(2, 4))
        self.fc1 = nn.Linear(16, 8)
        self.fc2 = nn.Linear(8, 3)


class _RNNLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Embedding(50, 8)
        self.rnn = nn.GRU(8, 8)
        self.cell = nn.LSTMCell(8, 8)
        self.decoder = nn.Linear(8, 50)
        self.proj = nn.Linear(50, 4)  # registered last, but the vocabulary-sized Linear is the head


def test_convolutions_norms_and_the_final_layer() -> None:
    g = groups_of(_ConvNet())
    assert g["features.0.weight"] == g["features.3.weight"] == "convolution"
    assert g["features.1.weight"] == g["features.4.weight"] == "norm"
    assert g["fc1.weight"] == "mlp"  # by its name, as before
    assert g["fc2.weight"] == g["fc2.bias"] == "head"  # the model's final layer


def test_recurrent_layers_and_the_vocabulary_sized_head() -> None:
    g = groups_of(_RNNLM())
    assert g["encoder.weight"] == "embedding"
    assert {g[n] for n in g if n.startswith(("rnn.", "cell."))} == {"recurrent"}
    assert g["decoder.weight"] == "head"
    assert g["proj.weight"] == "other"


def test_tied_head_and_names_that_already_said_it() -> None:
    m = nn.ModuleDict({"embed": nn.Embedding(100, 8), "lm_head": nn.Linear(8, 100, bias=False), "body": nn.Linear(8, 8)})
    m["lm_head"].weight = m["embed"].weight
    s, _ = summarize(m, "factory")
    g = {t.name: t.group for t in s.tensors}
    assert g == {"embed.weight": "embedding", "lm_head.weight": "head", "body.weight": "other", "body.bias": "other"}
    assert s.head_tied is True and s.total == 800 + 72


class _Patchy(nn.Module):
    """A patch-embedding convolution and a relative-position table inside attention: names decide those roles."""

    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, 8, 4, 4)
        self.attn = nn.Module()
        self.attn.relative_attention_bias = nn.Embedding(32, 2)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 8))
        self.head = nn.Linear(8, 10)


def test_names_keep_the_roles_a_class_cannot_tell() -> None:
    g = groups_of(_Patchy())
    assert g["patch_embed.proj.weight"] == "embedding"
    assert g["attn.relative_attention_bias.weight"] == "attention"
    assert g["mlp.0.weight"] == g["mlp.2.weight"] == "mlp"
    assert g["mlp.1.weight"] == "norm"  # a LayerNorm inside the MLP is a norm, whatever its path says
    assert g["head.weight"] == "head"


def test_subclasses_of_torch_layers_count_as_those_layers() -> None:
    class MyNorm(nn.LayerNorm):
        pass

    class MyEmb(nn.Embedding):
        pass

    g = groups_of(nn.Sequential(MyEmb(10, 4), MyNorm(4), nn.Linear(4, 4)))
    assert g["0.weight"] == "embedding" and g["1.weight"] == "norm"


def test_class_rules_without_torch() -> None:
    assert group_of_class("BatchNorm2d") == group_of_class("RMSNorm") == group_of_class("SyncBatchNorm") == "norm"
    assert group_of_class("ConvTranspose2d") == group_of_class("LazyConv1d") == "convolution"
    assert group_of_class("EmbeddingBag") == "embedding" and group_of_class("LSTM") == "recurrent"
    assert group_of_class("Linear") is None and group_of_class("Conv1D") is None  # HF's GPT-2 Conv1D is a Linear
    assert group_of_class("NonDynamicallyQuantizableLinear", "MultiheadAttention") == "attention"
    assert group_of_class("Linear", "TransformerDecoderLayer") == "mlp"
    assert group_of_class("LayerNorm", "TransformerEncoderLayer") == "norm"
    assert by_module("convolution", "head") == "head" and by_module("norm", "mlp") == "norm" and by_module(None, "mlp") == "mlp"
    assert in_repeated_block("blocks.3.mlp.fc") and not in_repeated_block("net.3") and not in_repeated_block("3")


def test_model_cli_with_a_sequential_factory(tmp_path: Path) -> None:
    (tmp_path / "seq_net.py").write_text(
        "import torch\n\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Embedding(4000, 16), torch.nn.Linear(16, 32), torch.nn.LayerNorm(32), torch.nn.Linear(32, 4000))\n"
    )
    res = CliRunner().invoke(app, ["model", "--factory", f"{tmp_path / 'seq_net.py'}:build", "--no-spectra"])
    assert res.exit_code == 0, res.output
    groups = {ln.split()[0] for ln in res.output.split("groups\n", 1)[1].splitlines() if ln.startswith("  ") and "%" in ln and "." not in ln.split()[0]}
    assert {"embedding", "norm", "head", "other"} <= groups
    assert "output head untied" in res.output
