"""Which part of the model a parameter belongs to, and which layer, from its name (and shape).

Groups: ``embedding``, ``attention``, ``mlp`` (feed-forward), ``convolution``,
``recurrent``, ``norm``, ``head`` (the output layer), ``other``. The name is split at dots and read from the parameter's own
module upwards: the first component that names a group decides (``ln_1`` is a
norm wherever it sits). Some components are ambiguous on their own: GPT-2's
``c_proj`` is the output projection of both attention and MLP, T5's ``wo`` too,
BERT's ``output.dense`` is attention's or the feed-forward's depending on its
parent; such a component defers to the ones above it and falls back on a default.
Patterns follow the measured table in FORMATS.md §8.

Buffers that state dicts carry beside the parameters (BatchNorm running
statistics, causal-mask tensors, rotary ``inv_freq``, BERT ``position_ids``) are
recognised so that they are not counted as parameters.

When the live module is at hand (a factory-built model), the class of the
``torch.nn`` layer that holds a parameter says what kind of layer it is
(:func:`group_of_class`) and :func:`by_module` weighs it against the name: a
norm, a recurrent layer or ``MultiheadAttention`` is that whatever its name; an
``Embedding`` is an embedding unless its name puts it inside attention (T5's
relative position bias); a convolution is a convolution unless its name says it
is a patch embedding or the output head. Classes are matched by name, so this
module needs no torch.
"""

from __future__ import annotations

import re

GROUPS: tuple[str, ...] = ("embedding", "attention", "mlp", "convolution", "recurrent", "norm", "head", "other")

_NORM = re.compile(r"norm|^ln(?:_?\d+|_?f)?$|^bn\d*$|^gn\d*$|^rms", re.IGNORECASE)
_HEAD = re.compile(r"^(?:lm_head|classifier|score|pooler|cls|embed_out|output_layer|logits|qa_outputs|head|heads)$", re.IGNORECASE)
_EMBED = re.compile(r"embed|^(?:wte|wpe|tok_emb|pos_emb|shared|cls_token|mask_token)$", re.IGNORECASE)
_ATTN = re.compile(r"attn|attention|^[qkvo]_proj$|^(?:query|key|value|qkv|query_key_value|wq|wk|wv|q|k|v|in_proj)$", re.IGNORECASE)
_MLP = re.compile(r"mlp|ffn|feed_?forward|^fc\d+$|^c_fc$|^(?:gate_proj|up_proj|down_proj|gate_up_proj|intermediate|w1|w2|w3|dense_h_to_4h|dense_4h_to_h)$|^wi(?:_\d)?$|expert|densereludense|moe", re.IGNORECASE)
_RNN = re.compile(r"lstm|gru|rnn|^(?:weight|bias)_[ih]h_l\d+", re.IGNORECASE)
_CONV = re.compile(r"conv|^downsample$|^shortcut$", re.IGNORECASE)
# ambiguous components -> their default group when nothing above decides
_AMBIGUOUS: dict[str, str] = {"c_proj": "mlp", "wo": "mlp", "o": "attention", "output": "mlp", "dense": "other", "proj": "other", "out_proj": "attention"}
# a top-level module with one of these names, holding its parameters directly, is the output head
_TOP_HEAD = re.compile(r"^(?:fc|out|output|decoder|linear|last_linear|fc_out|proj_out|predictor|final)$", re.IGNORECASE)
_PARAM_LEAF = frozenset({"weight", "bias", "weight_g", "weight_v", "scale", "gamma", "beta", "kernel", "g", "b"})

BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked", "inv_freq", "masked_bias", "position_ids", "_float_tensor", "rotary_emb.inv_freq")


def is_buffer(name: str, shape: tuple[int, ...] = ()) -> bool:
    """A tensor a state dict carries that is not a trained parameter."""
    last = name.rsplit(".", 1)[-1]
    if last in BUFFER_SUFFIXES or name.endswith(BUFFER_SUFFIXES):
        return True
    # GPT-2's causal mask, saved as ``attn.bias`` of shape (1, 1, n, n)
    if last == "bias" and len(shape) == 4 and shape[0] == 1 and shape[1] == 1 and shape[2] == shape[3]:
        return True
    return False


def _components(name: str) -> list[str]:
    parts = [p for p in name.split(".") if p]
    if len(parts) > 1 and parts[-1] in _PARAM_LEAF:
        parts = parts[:-1]
    return parts


def group_of(name: str, shape: tuple[int, ...] = (), norm_modules: frozenset[str] = frozenset()) -> str:
    """The group of parameter ``name``; ``norm_modules`` are module paths known to be norms
    (a module that has running statistics is a BatchNorm whatever its name)."""
    module = name.rsplit(".", 1)[0] if "." in name else ""
    if module and module in norm_modules:
        return "norm"
    comps = _components(name)
    default = None
    for c in reversed(comps):
        if c.isdigit():
            continue
        if _NORM.search(c):
            return "norm"
        key = c.lower()
        if key in _AMBIGUOUS:
            if default is None or default == "other":
                default = _AMBIGUOUS[key]
            continue
        if _HEAD.search(c):
            return "head"
        if _EMBED.search(c):
            return "embedding"
        if _ATTN.search(c):
            return "attention"
        if _MLP.search(c):
            return "mlp"
        if _RNN.search(c):
            return "recurrent"
        if _CONV.search(c):
            return "convolution"
    if len(shape) >= 3:
        return "convolution"
    if len(comps) == 1 and _TOP_HEAD.match(comps[0]):
        return "head"
    if default is not None and default != "other":
        return default
    return "other"


_STACK_NUM = re.compile(r"^\d+$")

# torch.nn layer classes (and the classes derived from them) -> group
_CLASS_NORM = re.compile(r"^(?:Lazy)?(?:BatchNorm[123]d|InstanceNorm[123]d)$|^(?:LayerNorm|GroupNorm|RMSNorm|SyncBatchNorm|LocalResponseNorm|CrossMapLRN2d)$")
_CLASS_CONV = re.compile(r"^(?:Lazy)?Conv(?:Transpose)?[123]d$")
_CLASS_GROUPS: dict[str, str] = {
    "Embedding": "embedding",
    "EmbeddingBag": "embedding",
    "MultiheadAttention": "attention",
    "RNN": "recurrent",
    "LSTM": "recurrent",
    "GRU": "recurrent",
    "RNNCell": "recurrent",
    "LSTMCell": "recurrent",
    "GRUCell": "recurrent",
}
# layers whose own Linear children have a known role: the feed-forward of a torch.nn transformer layer
_PARENT_GROUPS: dict[str, str] = {"MultiheadAttention": "attention", "TransformerEncoderLayer": "mlp", "TransformerDecoderLayer": "mlp"}
LINEAR_CLASSES = frozenset({"Linear", "LazyLinear", "NonDynamicallyQuantizableLinear"})


def group_of_class(cls: str | None, parent: str | None = None) -> str | None:
    """The group a ``torch.nn`` layer class implies for the parameters it holds directly
    (``parent``: the class of the module that contains it), or None when the class does not say."""
    if cls:
        if _CLASS_NORM.match(cls):
            return "norm"
        if _CLASS_CONV.match(cls):
            return "convolution"
        if cls in _CLASS_GROUPS:
            return _CLASS_GROUPS[cls]
    if parent and parent in _PARENT_GROUPS and (cls is None or cls in LINEAR_CLASSES):
        return _PARENT_GROUPS[parent]
    return None


def by_module(cls_group: str | None, name_group: str) -> str:
    """The group of a parameter from its layer's class (``cls_group``) and from its name."""
    if cls_group is None:
        return name_group
    if cls_group == "embedding" and name_group == "attention":
        return name_group
    if cls_group == "convolution" and name_group in ("embedding", "head"):
        return name_group
    if cls_group == "head" and name_group in ("attention", "norm", "embedding"):
        return name_group
    return cls_group


def in_repeated_block(module: str) -> bool:
    """Whether a module sits inside a numbered block (``blocks.3.mlp.fc``), not being the block itself (``net.3``)."""
    parts = module.split(".")
    return any(_STACK_NUM.match(p) for p in parts[:-1])


def layer_of(name: str) -> str:
    """The layer a parameter belongs to: its name up to the first numeric component
    (``transformer.h.3``, ``model.layers.12``, ``layer1.0``), else its module path."""
    parts = name.split(".")
    for i, p in enumerate(parts[:-1]):
        if _STACK_NUM.match(p):
            return ".".join(parts[: i + 1])
    return ".".join(parts[:-1]) if len(parts) > 1 else name


def layer_index(layer: str) -> int | None:
    """The number of a layer key (``model.layers.12`` -> 12), or None."""
    tail = layer.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else None


def norm_modules(names: list[str]) -> frozenset[str]:
    """Module paths that carry BatchNorm running statistics."""
    return frozenset(n.rsplit(".", 1)[0] for n in names if n.endswith((".running_mean", ".running_var")))
