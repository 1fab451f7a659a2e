"""Measure the memory of training steps of a factory-built model (imports torch).

On CUDA: two optimizer steps on a random batch; the peak of the second step
(``torch.cuda.max_memory_allocated`` after a reset, so that the optimizer
states created by the first step are in place) and the memory the weights,
gradients and optimizer states hold, counted from the tensors themselves.

Without CUDA the peak cannot be read from an allocator, so the parts are
counted directly: weights, gradients and optimizer states from the tensors
after a step, and the activations as the bytes of every tensor autograd saves
for the backward pass during one forward (``torch.autograd.graph.saved_tensors_hooks``,
each storage counted once). That is the quantity the activation estimate
predicts, so the estimate can be checked on a CPU.
"""

from __future__ import annotations

from typing import Any

from .memory import Setup

LM_INPUT_NAMES = ("input_ids",)


def _optimizer(model: Any, setup: Setup) -> Any:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    kind = setup.optimizer_kind
    if kind == "sgd":
        return torch.optim.SGD(params, lr=1e-3)
    if kind == "sgd_momentum":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if kind == "adam":
        return torch.optim.Adam(params, lr=1e-4)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=1e-4)
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=1e-4)
    return torch.optim.AdamW(params, lr=1e-4)


def make_batch(model: Any, setup: Setup, device: str, input_shape: tuple[int, ...] | None) -> dict[str, Any] | Any:
    """A random batch: token ids (and labels) for a model with a vocabulary, else a float tensor of ``input_shape``."""
    import torch

    cfg = getattr(model, "config", None)
    vocab = getattr(cfg, "vocab_size", None) if cfg is not None else None
    b = setup.batch_size
    if vocab and input_shape is None:
        s = setup.seq_len or 128
        ids = torch.randint(0, int(vocab), (b, s), device=device)
        return {"input_ids": ids, "labels": ids.clone()}
    if input_shape is None:
        raise ValueError("give the model's input shape without the batch dimension (--input-shape 3,224,224), or a model with config.vocab_size")
    return torch.randn(b, *input_shape, device=device)


def _loss(out: Any) -> Any:
    loss = getattr(out, "loss", None)
    if loss is not None:
        return loss
    if isinstance(out, dict):
        out = out.get("loss", out.get("logits", next(iter(out.values()))))
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.float().pow(2).mean()


def _forward(model: Any, batch: Any, setup: Setup, device: str) -> Any:
    import torch

    ctx = torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16 if setup.dtype == "amp-bf16" else torch.float16) if setup.amp else _null()
    with ctx:
        out = model(**batch) if isinstance(batch, dict) else model(batch)
    return _loss(out)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: Any) -> None:
        return None


def _prepare(model: Any, setup: Setup, device: str) -> Any:
    import torch

    if setup.dtype in ("bf16", "fp16"):
        model = model.to(torch.bfloat16 if setup.dtype == "bf16" else torch.float16)
    if setup.grad_checkpointing and hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable()
    return model.to(device).train()


def _state_bytes(opt: Any) -> int:
    import torch

    tot = 0
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, torch.Tensor):
                tot += v.numel() * v.element_size()
    return tot


def measure(model: Any, setup: Setup, *, input_shape: tuple[int, ...] | None = None, device: str | None = None) -> dict[str, Any]:
    """Measured bytes of one training step: weights, gradients, optimizer states, activations, and the peak (CUDA only)."""
    import torch

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = _prepare(model, setup, dev)
    opt = _optimizer(model, setup)
    batch = make_batch(model, setup, dev, input_shape)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    out: dict[str, Any] = {"device": dev, "weights": weights}
    # step 1 creates the optimizer states
    loss = _forward(model, batch, setup, dev)
    loss.backward()
    out["gradients"] = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    opt.step()
    opt.zero_grad(set_to_none=True)
    out["optimizer"] = _state_bytes(opt)
    out["activations"] = saved_activation_bytes(model, batch, setup, dev)
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        loss = _forward(model, batch, setup, dev)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        out["peak_allocated"] = torch.cuda.max_memory_allocated()
        out["before_step"] = base
        out["device_name"] = torch.cuda.get_device_name()
        out["device_capacity"] = torch.cuda.get_device_properties(0).total_memory
    return out


def saved_activation_bytes(model: Any, batch: Any, setup: Setup, device: str) -> int:
    """Bytes of the tensors autograd saves for backward in one forward pass, each storage once.

    Parameters saved by the layers that use them (a linear layer keeps its
    weight) are weights, not activations, and are left out.
    """
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            st = t.untyped_storage()
            ptr = st.data_ptr()
            if ptr not in params and ptr not in seen:
                seen[ptr] = st.nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (sparse, meta)
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = _forward(model, batch, setup, device)
    loss.backward()
    model.zero_grad(set_to_none=True)
    return sum(seen.values())
