"""Write hf_configs.json: tiny HF configs and the parameter counts transformers' own models have.

For each family traindx counts from a config, a 2-layer model is built by
transformers from the config (nothing is downloaded), and its parameters are
counted per group (traindx's name grouping applied to the real parameter
names) and in total. tests/test_model_hfconfig.py checks that the counts
traindx computes from the config alone are the same.

Run: python tests/data/models/make_hf_configs.py  (needs torch and ``pip install transformers``;
the tests themselves need neither: they read the committed JSON)
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
IDS = dict(pad_token_id=0, bos_token_id=1, eos_token_id=2)
SMALL = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, vocab_size=300, max_position_embeddings=64, **IDS)
CASES = {
    "gpt2": ("AutoModelForCausalLM", dict(model_type="gpt2", n_embd=64, n_layer=2, n_head=4, vocab_size=300, n_positions=64, bos_token_id=1, eos_token_id=2)),
    "llama": ("AutoModelForCausalLM", dict(model_type="llama", num_key_value_heads=2, **SMALL)),
    "llama_cls": ("AutoModelForSequenceClassification", dict(model_type="llama", num_key_value_heads=2, **SMALL)),
    "mistral": ("AutoModelForCausalLM", dict(model_type="mistral", num_key_value_heads=2, **SMALL)),
    "mixtral": ("AutoModelForCausalLM", dict(model_type="mixtral", num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, **SMALL)),
    "qwen2": ("AutoModelForCausalLM", dict(model_type="qwen2", num_key_value_heads=2, **SMALL)),
    "qwen3": ("AutoModelForCausalLM", dict(model_type="qwen3", num_key_value_heads=2, head_dim=16, **SMALL)),
    "gemma": ("AutoModelForCausalLM", dict(model_type="gemma", num_key_value_heads=1, head_dim=16, **SMALL)),
    "gemma2": ("AutoModelForCausalLM", dict(model_type="gemma2", num_key_value_heads=2, head_dim=16, **SMALL)),
    "gemma3_text": ("AutoModelForCausalLM", dict(model_type="gemma3_text", num_key_value_heads=2, head_dim=16, **SMALL)),
    "olmo2": ("AutoModelForCausalLM", dict(model_type="olmo2", num_key_value_heads=2, **SMALL)),
    "phi3": ("AutoModelForCausalLM", dict(model_type="phi3", num_key_value_heads=2, **SMALL)),
    "gpt_neox": ("AutoModelForCausalLM", dict(model_type="gpt_neox", **SMALL)),
    "opt": ("AutoModelForCausalLM", dict(model_type="opt", hidden_size=64, ffn_dim=96, num_hidden_layers=2, num_attention_heads=4, vocab_size=300, max_position_embeddings=64, word_embed_proj_dim=64, **IDS)),
    "bert_cls": ("AutoModelForSequenceClassification", dict(model_type="bert", **SMALL)),
    "bert_mlm": ("AutoModelForMaskedLM", dict(model_type="bert", **SMALL)),
    "roberta_cls": ("AutoModelForSequenceClassification", dict(model_type="roberta", **SMALL)),
    "roberta_mlm": ("AutoModelForMaskedLM", dict(model_type="roberta", **SMALL)),
}


def main() -> None:
    warnings.filterwarnings("ignore")
    import torch
    import transformers

    from traindx.model.groups import group_of

    torch.manual_seed(0)
    out = {}
    for key, (auto, kw) in CASES.items():
        kw = dict(kw)
        mt = kw.pop("model_type")
        cfg = transformers.AutoConfig.for_model(mt, **kw)
        model = getattr(transformers, auto).from_config(cfg)
        d = cfg.to_dict()
        d["architectures"] = [type(model).__name__]
        groups: dict[str, int] = {}
        for name, p in model.named_parameters():
            g = group_of(name, tuple(p.shape))
            groups[g] = groups.get(g, 0) + p.numel()
        out[key] = {
            "transformers": transformers.__version__,
            "config": {k: v for k, v in sorted(d.items()) if isinstance(v, (int, float, str, bool, list)) or v is None},
            "total": sum(p.numel() for p in model.parameters()),
            "groups": dict(sorted(groups.items())),
        }
    (HERE / "hf_configs.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
