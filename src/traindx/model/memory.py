"""Training-memory estimate: weights, gradients, optimizer states and activations, and the batch that fits.

Weights, gradients and optimizer states follow from the parameter count and
dtypes (Adam keeps two states per trainable parameter, SGD with momentum one;
PyTorch keeps them in the parameter's dtype). Activations are estimated for
transformer blocks by counting the tensors each block saves for its backward
pass, following Korthikanti et al. 2022 ("Reducing Activation Recomputation in
Large Transformer Models", §4.1: 34·s·b·h + 5·a·s²·b bytes per layer with 16-bit
activations, dropout and eager attention), generalized here to grouped-query
attention, gated (SwiGLU) MLPs, no dropout, fp32 activations, fused attention
(SDPA/flash keeps no s×s matrix) and the output logits in fp32 for the loss.

Peak memory during a step is bracketed: the lower bound is weights + optimizer
states + activations (the peak when gradients are freed by
``zero_grad(set_to_none=True)`` and built while activations are released); the
upper bound adds the full gradients. CUDA's context (0.3-1 GiB) is not in
``torch.cuda.max_memory_allocated`` and is left to the safety margin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .summary import ModelSummary

GiB = 1024**3
OPTIMIZER_STATES: dict[str, float] = {"adamw": 2, "adam": 2, "lion": 1, "sgd_momentum": 1, "sgd": 0, "rmsprop": 1, "adagrad": 1}
OPTIMIZER_ALIASES = {
    "adamw_torch": "adamw", "adamw_torch_fused": "adamw", "adamw_hf": "adamw", "adamw_apex_fused": "adamw", "adam": "adam", "adamw": "adamw",
    "sgd": "sgd", "momentum": "sgd_momentum", "sgd_momentum": "sgd_momentum", "adafactor": "adafactor", "adamw_bnb_8bit": "adam8bit",
    "adamw_8bit": "adam8bit", "paged_adamw_8bit": "adam8bit", "adam8bit": "adam8bit", "lion": "lion", "lion_32bit": "lion", "rmsprop": "rmsprop", "adagrad": "adagrad",
}


@dataclass
class Setup:
    """How the model is trained, as far as memory is concerned."""

    batch_size: int = 1
    seq_len: int | None = None
    dtype: str = "fp32"  # fp32 | bf16 | fp16 (pure half) | amp-bf16 | amp-fp16 (fp32 weights, 16-bit activations)
    optimizer: str = "adamw"
    attention: str = "sdpa"  # sdpa (fused, no s x s matrix) | eager
    dropout: bool = False
    grad_checkpointing: bool = False
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where it came from

    @property
    def amp(self) -> bool:
        return self.dtype.startswith("amp")

    @property
    def param_bytes(self) -> float:
        return 4.0 if self.amp or self.dtype == "fp32" else 2.0

    @property
    def act_bytes(self) -> float:
        return 4.0 if self.dtype == "fp32" else 2.0

    @property
    def optimizer_kind(self) -> str:
        o = self.optimizer.lower().replace("-", "_")
        return OPTIMIZER_ALIASES.get(o, o if o in OPTIMIZER_STATES else "adamw")


@dataclass
class Arch:
    """The transformer sizes the activation estimate needs."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    gated: bool
    rms_norm: bool = False  # HF's RMSNorm saves its input upcast to fp32 (Llama family)
    dropout: bool = False  # the config sets a dropout probability above 0
    act_saves: int = 1  # tensors of the MLP width its activation saves (4 for GPT-2's python "gelu_new")


@dataclass
class Estimate:
    weights: int
    gradients: int
    optimizer: int
    activations: int | None  # saved for backward; None when the model is not a transformer traindx can size
    activations_per_sample: int | None  # saved and transient, per sample
    amp_cast: int
    setup: Setup
    notes: list[str] = field(default_factory=list)
    transient: int = 0  # alive at the start of backward beyond the saved tensors (logits and their gradients)

    @property
    def fixed(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.amp_cast

    @property
    def peak_low(self) -> int | None:
        return None if self.activations is None else self.weights + self.optimizer + self.amp_cast + self.activations + self.transient

    @property
    def peak_high(self) -> int | None:
        return None if self.activations is None else self.fixed + self.activations + self.transient

    def batch_that_fits(self, capacity: float, *, margin: float = 0.1) -> int | None:
        """The largest batch whose upper-bound peak stays under ``(1 - margin)`` of ``capacity`` bytes (0 when none)."""
        if not self.activations_per_sample:
            return None
        room = capacity * (1 - margin) - self.fixed
        return max(0, int(room // self.activations_per_sample))

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer": self.optimizer,
            "amp_weight_copies": self.amp_cast,
            "activations": self.activations,
            "activations_per_sample": self.activations_per_sample,
            "transient": self.transient,
            "peak_low": self.peak_low,
            "peak_high": self.peak_high,
            "setup": {k: v for k, v in self.setup.__dict__.items()},
            "notes": list(self.notes),
        }


def arch_of(m: ModelSummary) -> Arch | None:
    """Transformer sizes from the config facts, else inferred from the tensors' shapes."""
    a = m.arch
    h = a.get("hidden_size")
    layers = a.get("num_layers") or m.n_layers
    emb = sorted((t for t in m.params if t.group == "embedding" and len(t.shape) == 2), key=lambda t: -t.numel)
    vocab = a.get("vocab_size") or (emb[0].shape[0] if emb else 0)
    if not h and emb:
        h = emb[0].shape[1]
    attn = [t for t in m.params if t.group == "attention" and len(t.shape) == 2]
    mlp = [t for t in m.params if t.group == "mlp" and len(t.shape) == 2]
    if not (h and layers and attn and mlp):
        return None
    layer0 = sorted({t.layer for t in attn})[0]
    mlp0 = [t for t in mlp if t.layer == layer0] or mlp
    inter = max(max(t.shape) for t in mlp0)
    gated = sum(1 for t in mlp0 if max(t.shape) == inter) >= 3 or any("gate_up" in t.name for t in mlp0)
    if any("gate_up" in t.name for t in mlp0):
        inter //= 2
    heads = int(a.get("num_attention_heads") or a.get("n_head") or max(1, h // 64))
    kv = int(a.get("num_key_value_heads") or heads)
    hd = int(a.get("head_dim") or h // heads)
    act = str(a.get("hidden_act") or "").lower()
    act_saves = 4 if act in PYTHON_GELUS else 1
    return Arch(hidden=int(h), layers=int(layers), heads=heads, kv_heads=kv, head_dim=hd, intermediate=int(inter), vocab=int(vocab), gated=gated, rms_norm=bool(a.get("rms_norm")), act_saves=act_saves, dropout=bool(a.get("dropout")))


# activations HF computes with elementwise python ops (each op saves a tensor of the MLP width)
PYTHON_GELUS = frozenset({"gelu_new", "gelu_fast", "gelu_python", "quick_gelu", "gelu_accurate"})


def layer_activation_bytes(arch: Arch, s: int, b: int, setup: Setup) -> float:
    """Bytes one transformer block saves for backward (Korthikanti et al. 2022, generalized)."""
    e = setup.act_bytes
    h, i = arch.hidden, arch.intermediate
    sbh = s * b * h
    drop = 1.0 if setup.dropout or arch.dropout else 0.0
    # each norm saves its input (upcast to fp32 by HF's RMSNorm, which also keeps the normalized copy;
    # under autocast the residual stream stays fp32, and RMSNorm keeps both in fp32)
    if setup.amp:
        norms = 2 * (8.0 if arch.rms_norm else 4.0 + e) * sbh
    else:
        norms = 2 * ((4.0 + e) if arch.rms_norm else e) * sbh  # autocast runs norms in fp32 too
    qkv_in = e * sbh
    qkv = e * s * b * (arch.heads * arch.head_dim + 2 * arch.kv_heads * arch.head_dim)
    attn_out = e * sbh
    ass = arch.heads * s * s * b
    # fp32 attention with grouped-query heads falls back to PyTorch's math kernel, which keeps the s x s matrix (measured on an H200)
    eager = setup.attention == "eager" or (e == 4 and arch.kv_heads < arch.heads)
    if eager:
        # the softmax output (computed in fp32 by HF's Llama family and by autocast, which keep a copy in the model dtype)
        scores = ass * ((4.0 + e if e < 4 else 4.0) if arch.rms_norm or setup.amp else e) + ass * (e + 1) * drop
    else:
        scores = 4.0 * arch.heads * s * b  # the log-sum-exp a fused kernel keeps (it regenerates its dropout mask)
    if arch.gated:
        mlp_width = 4 * e * s * b * i
    else:
        # autocast runs pow (in a python GELU) in fp32, and the ops after it follow
        act_e = 4.0 if setup.amp and arch.act_saves > 1 else e
        mlp_width = (arch.act_saves * act_e + e) * s * b * i
    mlp = e * sbh + mlp_width
    masks = 2 * drop * sbh
    return norms + qkv_in + qkv + attn_out + scores + mlp + masks


def activation_bytes(arch: Arch, s: int, b: int, setup: Setup) -> float:
    per_layer = layer_activation_bytes(arch, s, b, setup)
    e = setup.act_bytes
    if setup.grad_checkpointing:
        body = arch.layers * e * s * b * arch.hidden + per_layer  # each block's input, plus one block recomputed
    else:
        body = arch.layers * per_layer
    final_norm = e * s * b * arch.hidden  # the input of the final norm (the head saves the norm's output)
    head_in = e * s * b * arch.hidden
    log_probs = 4.0 * s * b * arch.vocab  # the loss's log-softmax output, in fp32
    return body + final_norm + head_in + log_probs


def transient_bytes(arch: Arch, s: int, b: int, setup: Setup) -> float:
    """Memory alive at the start of the backward pass beyond the saved tensors: the logits the
    model returns (model dtype) and the fp32 gradients of the log-probabilities and the logits."""
    return s * b * arch.vocab * (setup.act_bytes + 8.0)


def _optimizer_bytes(m: ModelSummary, trainable: int, setup: Setup) -> int:
    kind = setup.optimizer_kind
    pb = setup.param_bytes
    if kind == "adafactor":
        tot = 0.0
        for t in m.params:
            if t.trainable is False:
                continue
            tot += 4.0 * (t.shape[0] + t.shape[1]) if len(t.shape) == 2 else 4.0 * t.numel
        return int(tot)
    if kind == "adam8bit":
        return int(2 * trainable)
    return int(OPTIMIZER_STATES.get(kind, 2) * trainable * pb)


def estimate(m: ModelSummary, setup: Setup) -> Estimate:
    total = m.total
    trainable = m.trainable if m.trainable is not None else total
    pb = setup.param_bytes
    weights = int(total * pb)
    grads = int(trainable * pb)
    opt = _optimizer_bytes(m, trainable, setup)
    amp_cast = int(total * 2) if setup.amp else 0
    notes: list[str] = []
    if m.trainable is None:
        notes.append("every parameter counted as trainable (the source does not say which are frozen)")
    arch = arch_of(m)
    acts = per = None
    transient = 0
    if arch is not None and setup.seq_len:
        acts = int(activation_bytes(arch, setup.seq_len, setup.batch_size, setup))
        transient = int(transient_bytes(arch, setup.seq_len, setup.batch_size, setup))
        per = int(activation_bytes(arch, setup.seq_len, 1, setup) + transient_bytes(arch, setup.seq_len, 1, setup))
        notes.append(
            f"activations: {arch.layers} transformer blocks (hidden {arch.hidden}, {arch.heads} heads, {arch.kv_heads} kv heads, "
            f"MLP {arch.intermediate}{' gated' if arch.gated else ''}, vocabulary {arch.vocab}), sequence {setup.seq_len}, "
            f"{'fused (SDPA/flash)' if setup.attention != 'eager' else 'eager'} attention{', dropout' if setup.dropout else ''}"
            f"{', gradient checkpointing' if setup.grad_checkpointing else ''} (Korthikanti et al. 2022)"
        )
    elif arch is None:
        notes.append("activations not estimated: the model is not a transformer whose blocks traindx can size; measure one step with --measure --factory")
    else:
        notes.append("activations not estimated: no sequence length (give --seq-len)")
    return Estimate(weights=weights, gradients=grads, optimizer=opt, activations=acts, activations_per_sample=per, amp_cast=amp_cast, setup=setup, notes=notes, transient=transient)


BATCH_KEYS = ("per_device_train_batch_size", "train_micro_batch_size_per_gpu", "micro_batch_size", "train_batch_size", "batch_size")
SEQ_KEYS = ("max_seq_length", "max_seq_len", "block_size", "seq_len", "seq_length", "sequence_length", "context_length", "max_length", "model_max_length")
OPTIM_KEYS = ("optim", "optimizer", "optimizer.name", "optimizer.type", "optimizer_type")


def setup_from_run(run: Any, base: Setup) -> Setup:
    """Fill what the user did not give from the run's config (HF TrainingArguments, nanoGPT, Lightning...)."""
    s = Setup(**{k: v for k, v in base.__dict__.items() if k != "sources"}, sources=dict(base.sources))
    if "batch_size" not in s.sources:
        got = run.config_number(*BATCH_KEYS)
        if got is not None and got[0] >= 1:
            s.batch_size, s.sources["batch_size"] = int(got[0]), f"{got[1].key} ({got[1].where})"
    if "seq_len" not in s.sources:
        got = run.config_number(*SEQ_KEYS)
        if got is not None and got[0] >= 1:
            s.seq_len, s.sources["seq_len"] = int(got[0]), f"{got[1].key} ({got[1].where})"
    if "dtype" not in s.sources:
        for key, dtype in (("bf16", "amp-bf16"), ("fp16", "amp-fp16")):
            cv = run.config_value(key)
            if cv is not None and (cv.value is True or str(cv.value).lower() == "true"):
                s.dtype, s.sources["dtype"] = dtype, f"{cv.key} ({cv.where})"
                break
    if "optimizer" not in s.sources:
        for key in OPTIM_KEYS:
            cv = run.config_value(key)
            if cv is not None and isinstance(cv.value, str):
                s.optimizer, s.sources["optimizer"] = cv.value.lower(), f"{cv.key} ({cv.where})"
                break
    if "grad_checkpointing" not in s.sources:
        cv = run.config_value("gradient_checkpointing")
        if cv is not None and (cv.value is True or str(cv.value).lower() == "true"):
            s.grad_checkpointing, s.sources["grad_checkpointing"] = True, f"{cv.key} ({cv.where})"
    return s


def capacity_from_run(run: Any) -> tuple[float, str] | None:
    """The device's memory as an OOM message states it (bytes, where)."""
    for e in run.events_of("oom"):
        cap = e.get("total_capacity")
        if cap:
            return float(cap), e.where
    return None


def seq_from_model(m: ModelSummary) -> int | None:
    """The longest context a model with learned positions takes (a fallback when no config gives a length)."""
    pos = [t for t in m.params if t.group == "embedding" and len(t.shape) == 2 and ("wpe" in t.name or "position" in t.name)]
    return pos[0].shape[0] if pos else None


def gib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / GiB:.2f} GiB"
