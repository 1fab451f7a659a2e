"""Parameter counts computed from an HF ``config.json`` alone: the tensors its architecture creates.

For each supported family the tensors (names and shapes, as the HF classes name
them) are generated from the config's sizes, so that the same grouping and
per-layer counts apply as for a real checkpoint. Families: GPT-2; the
Llama family (Llama, Mistral, Mixtral, Qwen2/Qwen3, Gemma/Gemma2/Gemma3 text,
OLMo/OLMo2, Granite, Phi-3); GPT-NeoX; OPT; BERT and RoBERTa. The generated
counts are compared, family by family, with the models transformers builds
from the same configs (tests/data/models/hf_configs.json).

The output head follows ``architectures[0]``: ``*ForCausalLM``/``*LMHeadModel``
add a vocabulary head (tied to the input embedding when
``tie_word_embeddings``, HF's default for GPT-2, OPT, Gemma and BERT-style
masked LMs), ``*ForSequenceClassification`` a classifier, a bare ``*Model`` none.
"""

from __future__ import annotations

from typing import Any, Callable

from .build import RawTensor

LLAMA_FAMILY = frozenset({"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2", "granite", "phi3", "qwen2_moe", "qwen3_moe", "cohere", "starcoder2"})
GENERATIVE_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
DROPOUT_KEYS = ("resid_pdrop", "attn_pdrop", "embd_pdrop", "hidden_dropout_prob", "attention_probs_dropout_prob", "attention_dropout", "hidden_dropout", "dropout")
NON_GENERATIVE_SUFFIXES = ("ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering", "ForMaskedLM", "ForPreTraining", "ForMultipleChoice", "Model")
TIED_BY_DEFAULT = {"gpt2": True, "opt": True, "gemma": True, "gemma2": True, "gemma3_text": True, "bert": True, "roberta": True, "gpt_neox": False}


class Unsupported(ValueError):
    """The config's architecture is not one this module can count."""


def is_model_config(obj: Any) -> bool:
    """An HF model config: a dict with ``model_type`` or ``architectures`` and a size key."""
    if not isinstance(obj, dict):
        return False
    if not ("model_type" in obj or "architectures" in obj):
        return False
    return any(k in obj for k in ("hidden_size", "n_embd", "d_model", "vocab_size"))


def arch_facts(cfg: dict[str, Any]) -> dict[str, Any]:
    """What the config says about the architecture (for the checks), whatever the family."""
    archs = cfg.get("architectures") or []
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else ""
    mt = str(cfg.get("model_type") or "")
    generative: bool | None = None
    if arch.endswith(GENERATIVE_SUFFIXES):
        generative = True
    elif arch.endswith(NON_GENERATIVE_SUFFIXES):
        generative = False
    elif mt in LLAMA_FAMILY or mt in ("gpt2", "gpt_neox", "opt"):
        generative = True  # a decoder-only family under a custom class name
    tie = cfg.get("tie_word_embeddings")
    if tie is None:
        tie = TIED_BY_DEFAULT.get(mt, mt not in LLAMA_FAMILY)
    return {
        "model_type": mt,
        "architecture": arch,
        "generative": generative,
        "vocab_size": _int(cfg, "vocab_size"),
        "hidden_size": _int(cfg, "hidden_size", "n_embd", "d_model"),
        "num_layers": _int(cfg, "num_hidden_layers", "n_layer", "num_layers"),
        "tie_word_embeddings": bool(tie),
        "torch_dtype": cfg.get("torch_dtype") or cfg.get("dtype"),
        "num_attention_heads": _int(cfg, "num_attention_heads", "n_head"),
        "num_key_value_heads": _int(cfg, "num_key_value_heads"),
        "head_dim": _int(cfg, "head_dim"),
        "intermediate_size": _int(cfg, "intermediate_size", "n_inner", "ffn_dim"),
        "hidden_act": cfg.get("hidden_act") or cfg.get("activation_function") or cfg.get("hidden_activation"),
        "rms_norm": mt in LLAMA_FAMILY,
        "dropout": any(isinstance(cfg.get(k), (int, float)) and cfg.get(k) > 0 for k in DROPOUT_KEYS),
    }


def _int(cfg: dict[str, Any], *keys: str, default: int | None = None) -> int | None:
    for k in keys:
        v = cfg.get(k)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return default


def _need(cfg: dict[str, Any], *keys: str) -> int:
    v = _int(cfg, *keys)
    if v is None or v <= 0:
        raise Unsupported(f"config lacks {keys[0]}")
    return v


class _T:
    """Collects tensors as (name, shape)."""

    def __init__(self) -> None:
        self.items: list[RawTensor] = []

    def add(self, name: str, *shape: int) -> None:
        self.items.append(RawTensor(name, tuple(int(s) for s in shape), "F32", storage=None))

    def linear(self, name: str, out: int, inp: int, bias: bool) -> None:
        self.add(f"{name}.weight", out, inp)
        if bias:
            self.add(f"{name}.bias", out)

    def norm(self, name: str, h: int, bias: bool) -> None:
        self.add(f"{name}.weight", h)
        if bias:
            self.add(f"{name}.bias", h)


def _num_labels(cfg: dict[str, Any]) -> int:
    labels = cfg.get("id2label")
    if isinstance(labels, dict) and labels:
        return len(labels)
    return _int(cfg, "num_labels", default=2) or 2


def _gpt2(cfg: dict[str, Any], head: str, t: _T) -> str:
    h, n, v, p = _need(cfg, "n_embd", "hidden_size"), _need(cfg, "n_layer", "num_hidden_layers"), _need(cfg, "vocab_size"), _need(cfg, "n_positions", "max_position_embeddings")
    inner = _int(cfg, "n_inner") or 4 * h
    pre = "transformer." if head != "base" else ""
    t.add(f"{pre}wte.weight", v, h)
    t.add(f"{pre}wpe.weight", p, h)
    for i in range(n):
        b = f"{pre}h.{i}"
        t.norm(f"{b}.ln_1", h, True)
        t.add(f"{b}.attn.c_attn.weight", h, 3 * h)
        t.add(f"{b}.attn.c_attn.bias", 3 * h)
        t.add(f"{b}.attn.c_proj.weight", h, h)
        t.add(f"{b}.attn.c_proj.bias", h)
        t.norm(f"{b}.ln_2", h, True)
        t.add(f"{b}.mlp.c_fc.weight", h, inner)
        t.add(f"{b}.mlp.c_fc.bias", inner)
        t.add(f"{b}.mlp.c_proj.weight", inner, h)
        t.add(f"{b}.mlp.c_proj.bias", h)
    t.norm(f"{pre}ln_f", h, True)
    if head == "lm":
        t.linear("lm_head", v, h, False)
    elif head == "cls":
        t.linear("score", _num_labels(cfg), h, False)
    return f"{pre}wte.weight"


def _llama(cfg: dict[str, Any], head: str, t: _T) -> str:
    mt = str(cfg.get("model_type"))
    h, n, v = _need(cfg, "hidden_size"), _need(cfg, "num_hidden_layers"), _need(cfg, "vocab_size")
    a = _need(cfg, "num_attention_heads")
    kv = _int(cfg, "num_key_value_heads") or a
    d = _int(cfg, "head_dim") or h // a
    inter = _need(cfg, "intermediate_size")
    qkv_bias = bool(cfg.get("attention_bias", False)) or mt in ("qwen2", "qwen2_moe")
    o_bias = bool(cfg.get("attention_bias", False)) and mt not in ("qwen2", "qwen2_moe")
    mlp_bias = bool(cfg.get("mlp_bias", False))
    pre = "model." if head != "base" else ""
    t.add(f"{pre}embed_tokens.weight", v, h)
    experts = _int(cfg, "num_local_experts", "num_experts") or 0
    moe_inter = _int(cfg, "moe_intermediate_size") or inter
    for i in range(n):
        b = f"{pre}layers.{i}"
        if mt != "olmo2":
            if mt != "olmo":
                t.norm(f"{b}.input_layernorm", h, False)
        if mt == "phi3":
            t.linear(f"{b}.self_attn.qkv_proj", a * d + 2 * kv * d, h, False)
        else:
            t.linear(f"{b}.self_attn.q_proj", a * d, h, qkv_bias)
            t.linear(f"{b}.self_attn.k_proj", kv * d, h, qkv_bias)
            t.linear(f"{b}.self_attn.v_proj", kv * d, h, qkv_bias)
        t.linear(f"{b}.self_attn.o_proj", h, a * d, o_bias)
        if mt in ("qwen3", "qwen3_moe", "gemma3_text"):
            t.norm(f"{b}.self_attn.q_norm", d, False)
            t.norm(f"{b}.self_attn.k_norm", d, False)
        if mt == "olmo2":
            t.norm(f"{b}.self_attn.q_norm", a * d, False)
            t.norm(f"{b}.self_attn.k_norm", kv * d, False)
        if mt != "olmo":
            t.norm(f"{b}.post_attention_layernorm", h, False)
        if mt in ("gemma2", "gemma3_text"):
            t.norm(f"{b}.pre_feedforward_layernorm", h, False)
        if mt in ("gemma2", "gemma3_text", "olmo2"):
            t.norm(f"{b}.post_feedforward_layernorm", h, False)
        if experts:
            t.linear(f"{b}.mlp.gate", experts, h, False)
            for e in range(experts):
                t.linear(f"{b}.mlp.experts.{e}.gate_proj", moe_inter, h, False)
                t.linear(f"{b}.mlp.experts.{e}.up_proj", moe_inter, h, False)
                t.linear(f"{b}.mlp.experts.{e}.down_proj", h, moe_inter, False)
        elif mt == "phi3":
            t.linear(f"{b}.mlp.gate_up_proj", 2 * inter, h, False)
            t.linear(f"{b}.mlp.down_proj", h, inter, False)
        else:
            t.linear(f"{b}.mlp.gate_proj", inter, h, mlp_bias)
            t.linear(f"{b}.mlp.up_proj", inter, h, mlp_bias)
            t.linear(f"{b}.mlp.down_proj", h, inter, mlp_bias)
    if mt != "olmo":
        t.norm(f"{pre}norm", h, False)
    if head == "lm":
        t.linear("lm_head", v, h, False)
    elif head == "cls":
        t.linear("score", _num_labels(cfg), h, False)
    return f"{pre}embed_tokens.weight"


def _gpt_neox(cfg: dict[str, Any], head: str, t: _T) -> str:
    h, n, v, inter = _need(cfg, "hidden_size"), _need(cfg, "num_hidden_layers"), _need(cfg, "vocab_size"), _need(cfg, "intermediate_size")
    bias = bool(cfg.get("attention_bias", True))
    pre = "gpt_neox." if head != "base" else ""
    t.add(f"{pre}embed_in.weight", v, h)
    for i in range(n):
        b = f"{pre}layers.{i}"
        t.norm(f"{b}.input_layernorm", h, True)
        t.norm(f"{b}.post_attention_layernorm", h, True)
        t.linear(f"{b}.attention.query_key_value", 3 * h, h, bias)
        t.linear(f"{b}.attention.dense", h, h, bias)
        t.linear(f"{b}.mlp.dense_h_to_4h", inter, h, True)
        t.linear(f"{b}.mlp.dense_4h_to_h", h, inter, True)
    t.norm(f"{pre}final_layer_norm", h, True)
    if head == "lm":
        t.linear("embed_out", v, h, False)
    elif head == "cls":
        t.linear("score", _num_labels(cfg), h, False)
    return f"{pre}embed_in.weight"


def _opt(cfg: dict[str, Any], head: str, t: _T) -> str:
    h, n, v, ffn = _need(cfg, "hidden_size"), _need(cfg, "num_hidden_layers"), _need(cfg, "vocab_size"), _need(cfg, "ffn_dim")
    p = _need(cfg, "max_position_embeddings")
    wepd = _int(cfg, "word_embed_proj_dim") or h
    bias = bool(cfg.get("enable_bias", True))
    pre = "model.decoder." if head != "base" else "decoder."
    t.add(f"{pre}embed_tokens.weight", v, wepd)
    t.add(f"{pre}embed_positions.weight", p + 2, h)
    if wepd != h:
        t.linear(f"{pre}project_out", wepd, h, False)
        t.linear(f"{pre}project_in", h, wepd, False)
    for i in range(n):
        b = f"{pre}layers.{i}"
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            t.linear(f"{b}.self_attn.{proj}", h, h, bias)
        t.norm(f"{b}.self_attn_layer_norm", h, bool(cfg.get("layer_norm_elementwise_affine", True)))
        t.linear(f"{b}.fc1", ffn, h, bias)
        t.linear(f"{b}.fc2", h, ffn, bias)
        t.norm(f"{b}.final_layer_norm", h, bool(cfg.get("layer_norm_elementwise_affine", True)))
    if cfg.get("do_layer_norm_before", True) and not cfg.get("_remove_final_layer_norm", False):
        t.norm(f"{pre}final_layer_norm", h, bool(cfg.get("layer_norm_elementwise_affine", True)))
    if head == "lm":
        t.linear("lm_head", v, wepd, False)
    elif head == "cls":
        t.linear("score", _num_labels(cfg), wepd, False)
    return f"{pre}embed_tokens.weight"


def _bert(cfg: dict[str, Any], head: str, t: _T) -> str:
    mt = str(cfg.get("model_type"))
    h, n, v, inter = _need(cfg, "hidden_size"), _need(cfg, "num_hidden_layers"), _need(cfg, "vocab_size"), _need(cfg, "intermediate_size")
    p = _need(cfg, "max_position_embeddings")
    types = _int(cfg, "type_vocab_size", default=2) or 0
    pre = f"{mt}." if head != "base" else ""
    e = f"{pre}embeddings"
    t.add(f"{e}.word_embeddings.weight", v, h)
    t.add(f"{e}.position_embeddings.weight", p, h)
    if types:
        t.add(f"{e}.token_type_embeddings.weight", types, h)
    t.norm(f"{e}.LayerNorm", h, True)
    for i in range(n):
        b = f"{pre}encoder.layer.{i}"
        for q in ("query", "key", "value"):
            t.linear(f"{b}.attention.self.{q}", h, h, True)
        t.linear(f"{b}.attention.output.dense", h, h, True)
        t.norm(f"{b}.attention.output.LayerNorm", h, True)
        t.linear(f"{b}.intermediate.dense", inter, h, True)
        t.linear(f"{b}.output.dense", h, inter, True)
        t.norm(f"{b}.output.LayerNorm", h, True)
    if head in ("base", "cls") and mt == "bert":
        t.linear(f"{pre}pooler.dense", h, h, True)
    if head == "cls":
        if mt == "roberta":
            t.linear("classifier.dense", h, h, True)
            t.linear("classifier.out_proj", _num_labels(cfg), h, True)
        else:
            t.linear("classifier", _num_labels(cfg), h, True)
    elif head == "mlm":
        if mt == "roberta":
            t.linear("lm_head.dense", h, h, True)
            t.norm("lm_head.layer_norm", h, True)
            t.add("lm_head.decoder.weight", v, h)
            t.add("lm_head.bias", v)
        else:
            t.linear("cls.predictions.transform.dense", h, h, True)
            t.norm("cls.predictions.transform.LayerNorm", h, True)
            t.add("cls.predictions.decoder.weight", v, h)
            t.add("cls.predictions.bias", v)
    return f"{e}.word_embeddings.weight"


FAMILIES: dict[str, Callable[[dict[str, Any], str, _T], str]] = {"gpt2": _gpt2, "gpt_neox": _gpt_neox, "opt": _opt, "bert": _bert, "roberta": _bert}
for _mt in LLAMA_FAMILY:
    FAMILIES[_mt] = _llama

HEAD_NAMES = ("lm_head.weight", "embed_out.weight", "cls.predictions.decoder.weight", "lm_head.decoder.weight")


def _head_kind(arch: str) -> str:
    if arch.endswith(GENERATIVE_SUFFIXES):
        return "lm"
    if arch.endswith("ForMaskedLM") or arch.endswith("ForPreTraining"):
        return "mlm"
    if arch.endswith("ForSequenceClassification"):
        return "cls"
    if arch.endswith("Model"):
        return "base"
    return "lm"


def tensors_from_config(cfg: dict[str, Any]) -> tuple[list[RawTensor], dict[str, Any]]:
    """The tensors the config's architecture creates, with the tied head marked, and the architecture facts.

    Raises :class:`Unsupported` for a family not listed in :data:`FAMILIES`.
    """
    facts = arch_facts(cfg)
    mt = facts["model_type"]
    fam = FAMILIES.get(mt)
    if fam is None:
        raise Unsupported(f"model_type {mt or '(none)'!r} is not one whose parameters traindx can compute from the config")
    head = _head_kind(facts["architecture"]) if facts["architecture"] else ("mlm" if mt in ("bert", "roberta") else "lm")
    t = _T()
    embed = fam(cfg, head, t)
    items = t.items
    if facts["tie_word_embeddings"] and head in ("lm", "mlm"):
        # the head is the embedding matrix itself: listed for completeness, counted once
        items = [RawTensor(r.name, r.shape, r.dtype, storage="embed" if r.name in HEAD_NAMES or r.name == embed else None) for r in items]
        facts["head_tied_to"] = embed
    return items, facts
