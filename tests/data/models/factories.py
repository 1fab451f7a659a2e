"""Model factories for ``traindx model --factory`` / ``traindx memory --factory`` (built from configs, nothing downloaded).

``TRAINDX_ATTN`` (``sdpa`` or ``eager``) picks the attention implementation of the HF models.
GPU check of the memory estimate (see the report of this change)::

    PYTHONPATH=src python3 -m traindx memory --factory tests/data/models/factories.py:gpt2_small \\
        --batch-size 8 --seq-len 1024 --dtype bf16 --measure
"""

from __future__ import annotations

import os


def _attn(cfg):  # type: ignore[no-untyped-def]
    cfg._attn_implementation = os.environ.get("TRAINDX_ATTN", "sdpa")
    return cfg


def gpt2_small():  # type: ignore[no-untyped-def]
    """GPT-2 small (124M), dropout off."""
    import transformers

    cfg = transformers.GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    return transformers.GPT2LMHeadModel(_attn(cfg))


def llama_160m():  # type: ignore[no-untyped-def]
    """A Llama-style model: width 768, 12 layers, grouped-query attention 12/4, SwiGLU 2048, vocabulary 32000."""
    import transformers

    cfg = transformers.LlamaConfig(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048)
    return transformers.LlamaForCausalLM(_attn(cfg))


def tiny_mlp():  # type: ignore[no-untyped-def]
    """A 3-layer MLP on 32 inputs (use --input-shape 32)."""
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
