"""Where the first non-finite value came from: replay the offending batch with hooks on every module.

Checking every module's output at every step costs a pass over every
activation; the probe instead keeps references to the last batch (no copy),
the random-number state and autocast settings of its forward, and the
gradient that flowed into the followed output. When a gradient turns out
non-finite, the batch is replayed once:

1. the weights and the batch are checked (a NaN already in a parameter or in
   the input is the origin);
2. the forward runs again under a ``TorchFunctionMode`` that checks each torch
   function's result: the first call that turns finite inputs into a
   non-finite output is the forward origin, named with the module it ran in;
3. otherwise the backward runs from the saved output gradient with a hook on
   every autograd node: the first node that turns finite incoming gradients
   into non-finite outgoing ones is the backward origin (``SqrtBackward0`` of
   ``torch.sqrt`` in module ``norm``).

The replay uses ``torch.autograd.grad``, so ``.grad`` is untouched, and the
module buffers (batch-norm statistics) and random state are restored, so the
training continues exactly as it would have. Nothing of this runs until the
first non-finite value.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

MAX_DEPTH = 6


@dataclass
class Capture:
    """What is needed to replay one forward: a callable re-running it, the batch, its random state and autocast settings."""

    forward: Callable[[], Any]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    step: int = 0
    cpu_rng: torch.Tensor | None = None
    cuda_rng: list[torch.Tensor] | None = None
    autocast: list[tuple[str, torch.dtype]] = field(default_factory=list)
    out_grad: torch.Tensor | None = None
    select: Callable[[Any], torch.Tensor | None] | None = None


def capture_rng(cuda: bool) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    cpu = torch.get_rng_state()
    cu = None
    if cuda and torch.cuda.is_available():
        cu = torch.cuda.get_rng_state_all()
    return cpu, cu


def capture_autocast() -> list[tuple[str, torch.dtype]]:
    """The autocast contexts active now (device type and dtype)."""
    any_on = getattr(torch._C, "_is_any_autocast_enabled", None)
    if any_on is not None and not any_on():
        return []
    out = []
    for dev in ("cuda", "cpu"):
        try:
            if torch.is_autocast_enabled(dev):
                out.append((dev, torch.get_autocast_dtype(dev)))
        except (TypeError, RuntimeError, AttributeError):
            continue
    return out


def iter_tensors(obj: Any, depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """(path, tensor) for every tensor in a nested batch (tuples, lists, dicts, mappings)."""
    if isinstance(obj, torch.Tensor):
        yield "", obj
        return
    if depth > MAX_DEPTH:
        return
    if isinstance(obj, dict) or (hasattr(obj, "items") and callable(getattr(obj, "items"))):
        try:
            items = list(obj.items())
        except Exception:  # noqa: BLE001
            return
        for k, v in items:
            for p, t in iter_tensors(v, depth + 1):
                yield f"[{k!r}]{p}", t
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            for p, t in iter_tensors(v, depth + 1):
                yield f"[{i}]{p}", t


def _nonfinite(t: torch.Tensor) -> bool:
    if not t.is_floating_point() and not t.is_complex():
        return False
    if t.is_sparse or t.numel() == 0:
        return False
    return not bool(torch.isfinite(t).all())


def _bad_count(t: torch.Tensor) -> str:
    nan = int(torch.isnan(t).sum())
    inf = int(torch.isinf(t).sum())
    parts = []
    if nan:
        parts.append(f"{nan} NaN")
    if inf:
        parts.append(f"{inf} inf")
    return " and ".join(parts) or "non-finite values"


def _fname(func: Any) -> str:
    name = getattr(func, "__name__", None) or str(func)
    mod = getattr(func, "__module__", None) or ""
    qual = getattr(func, "__qualname__", name)
    if qual.startswith("TensorBase.") or qual.startswith("Tensor."):
        return "Tensor." + name
    if mod.startswith("torch.nn.functional"):
        return "F." + name
    if name.startswith("_"):
        return name
    return "torch." + name


def _describe_inputs(args: tuple, kwargs: dict) -> str:
    """A few facts about the float inputs of the op: range, zeros, negatives."""
    bits = []
    for _, t in list(iter_tensors((args, kwargs)))[:3]:
        if not t.is_floating_point() or t.numel() == 0:
            continue
        tf = t.detach().float()
        mn, mx = float(tf.min()), float(tf.max())
        facts = [f"min {mn:.4g}", f"max {mx:.4g}"]
        if mn < 0:
            facts.append(f"{int((tf < 0).sum())} negative")
        zeros = int((tf == 0).sum())
        if zeros:
            facts.append(f"{zeros} zero")
        bits.append(f"input {tuple(t.shape)}: " + ", ".join(facts))
    return "; ".join(bits)


class _Tracer(TorchFunctionMode):
    """Checks every torch function's output during the replayed forward and maps autograd nodes to modules."""

    def __init__(self, stack: list[str]) -> None:
        super().__init__()
        self.stack = stack
        self.origin: dict[str, Any] | None = None
        self.nodes: dict[Any, tuple[str, str]] = {}

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        check = self.origin is None
        inputs_ok = True
        if check:
            inputs_ok = not any(_nonfinite(t) for _, t in iter_tensors((args, kwargs)))
            before = _describe_inputs(args, kwargs) if inputs_ok else ""
        out = func(*args, **kwargs)
        module = self.stack[-1] if self.stack else ""
        for _, t in iter_tensors(out):
            gf = t.grad_fn
            if gf is not None and gf not in self.nodes:
                self.nodes[gf] = (module, _fname(func))
        if check and inputs_ok:
            for _, t in iter_tensors(out):
                if _nonfinite(t):
                    self.origin = {
                        "phase": "forward",
                        "module": module,
                        "op": _fname(func),
                        "detail": f"{_fname(func)} returned {_bad_count(t)} from finite inputs ({before})" if before else f"{_fname(func)} returned {_bad_count(t)} from finite inputs",
                    }
                    break
        return out


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module inside DataParallel, DistributedDataParallel and torch.compile wrappers."""
    seen = 0
    m = model
    while seen < 5:
        seen += 1
        inner = getattr(m, "_orig_mod", None)
        if isinstance(inner, nn.Module):
            m = inner
            continue
        if isinstance(m, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            m = m.module
            continue
        break
    return m


def module_names(root: nn.Module) -> dict[nn.Module, str]:
    names: dict[nn.Module, str] = {}
    for name, mod in root.named_modules():
        names.setdefault(mod, name)
    return names


@contextlib.contextmanager
def _preserved(root: nn.Module) -> Iterator[None]:
    """Restore module buffers, random state and grad mode after the replay."""
    buffers = [(b, b.detach().clone()) for b in root.buffers()]
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    grad = torch.is_grad_enabled()
    try:
        yield
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        torch.set_grad_enabled(grad)


def _nonfinite_params(root: nn.Module) -> dict[str, Any] | None:
    for name, p in root.named_parameters():
        if _nonfinite(p.detach()):
            owner = name.rsplit(".", 1)[0] if "." in name else ""
            return {"phase": "weights", "module": owner, "op": "", "param": name, "detail": f"parameter {name} already holds {_bad_count(p.detach())} before the forward (an earlier update corrupted it)"}
    return None


def _nonfinite_input(cap: Capture) -> dict[str, Any] | None:
    for path, t in iter_tensors((cap.args, cap.kwargs)):
        if _nonfinite(t):
            where = path.replace("[0]", "args", 1) if path.startswith("[0]") else path.replace("[1]", "kwargs", 1)
            return {"phase": "input", "module": "", "op": "", "detail": f"the batch itself holds {_bad_count(t)} ({where}, shape {tuple(t.shape)})"}
    return None


def trace(cap: Capture, root: nn.Module, params: list[torch.Tensor]) -> dict[str, Any]:
    """Replay the captured batch and name the first operation that produced a non-finite value.

    Returns a dict with ``phase`` (``input``, ``weights``, ``forward``, ``backward``,
    ``outside`` or ``not_reproduced``), ``module``, ``op`` and ``detail``.
    """
    found = _nonfinite_params(root) or _nonfinite_input(cap)
    if found:
        return found
    names = module_names(root)
    stack: list[str] = []
    handles = []

    def pre(mod: nn.Module, _args: Any) -> None:
        stack.append(names.get(mod, type(mod).__name__))

    def post(_mod: nn.Module, _args: Any, _out: Any) -> None:
        if stack:
            stack.pop()

    with _preserved(root):
        for mod in names:
            handles.append(mod.register_forward_pre_hook(pre))
            handles.append(mod.register_forward_hook(post))
        tracer = _Tracer(stack)
        try:
            if cap.cpu_rng is not None:
                torch.set_rng_state(cap.cpu_rng)
            if cap.cuda_rng is not None:
                torch.cuda.set_rng_state_all(cap.cuda_rng)
            with contextlib.ExitStack() as es:
                for dev, dt in cap.autocast:
                    es.enter_context(torch.autocast(dev, dtype=dt))
                torch.set_grad_enabled(True)
                with tracer:
                    out = cap.forward()
        finally:
            for h in handles:
                h.remove()
        if tracer.origin is not None:
            tracer.origin["module_type"] = _module_type(root, tracer.origin["module"])
            return tracer.origin
        select = cap.select or (lambda o: o if isinstance(o, torch.Tensor) else None)
        y = select(out)
        if y is None or y.grad_fn is None:
            return {"phase": "not_reproduced", "module": "", "op": "", "detail": "the replayed forward is finite and its output has no gradient to follow"}
        g = cap.out_grad
        if g is None:
            if y.numel() != 1:
                return {"phase": "not_reproduced", "module": "", "op": "", "detail": "the replayed forward is finite; the gradient into the output was not captured"}
            g = torch.ones_like(y)
        if _nonfinite(g):
            return {
                "phase": "outside",
                "module": "",
                "op": "",
                "detail": f"the model's forward is finite but the gradient flowing into its output already holds {_bad_count(g)}: the loss computed outside the model produced it",
            }
        return _backward(y, g.to(y.device, y.dtype) if g.shape == y.shape else g, tracer.nodes, params, root)


def _backward(y: torch.Tensor, g: torch.Tensor, nodes: dict[Any, tuple[str, str]], params: list[torch.Tensor], root: nn.Module) -> dict[str, Any]:
    first: list[dict[str, Any]] = []
    handles = []

    def hook_for(node: Any) -> Callable[..., None]:
        def hook(grad_inputs: tuple, grad_outputs: tuple) -> None:
            if first:
                return
            incoming_ok = not any(t is not None and _nonfinite(t) for t in grad_outputs)
            if not incoming_ok:
                return
            bad = [t for t in grad_inputs if t is not None and _nonfinite(t)]
            if bad:
                module, fn = nodes.get(node, ("", ""))
                first.append(
                    {
                        "phase": "backward",
                        "module": module,
                        "op": fn,
                        "node": type(node).__name__,
                        "detail": f"{type(node).__name__}" + (f" (the backward of {fn})" if fn else "") + f" turned finite gradients into {_bad_count(bad[0])}",
                    }
                )

        return hook

    # every node reachable from the output, named or not
    todo, seen = [y.grad_fn], set()
    while todo:
        n = todo.pop()
        if n is None or n in seen:
            continue
        seen.add(n)
        if type(n).__name__ != "AccumulateGrad":
            handles.append(n.register_hook(hook_for(n)))
        todo.extend(nf for nf, _ in n.next_functions)
    wanted = [p for p in params if p.requires_grad]
    try:
        grads = torch.autograd.grad(y, wanted, grad_outputs=g, allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    if first:
        first[0]["module_type"] = _module_type(root, first[0]["module"])
        return first[0]
    for p, gr in zip(wanted, grads):
        if gr is not None and _nonfinite(gr):
            return {"phase": "backward", "module": "", "op": "", "detail": "a parameter's gradient is non-finite but no autograd node of the replay produced it"}
    return {"phase": "not_reproduced", "module": "", "op": "", "detail": "the replayed forward and backward are finite (a non-deterministic operation, or a loss term computed outside the model)"}


def _module_type(root: nn.Module, name: str) -> str:
    if not name:
        return type(root).__name__
    try:
        return type(root.get_submodule(name)).__name__
    except AttributeError:
        return ""


# -- saving the batch ---------------------------------------------------------------------------------


def _portable(obj: Any, depth: int = 0) -> Any:
    """The batch as tensors, lists, dicts and plain values, loadable with ``torch.load(weights_only=True)``."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    if depth > MAX_DEPTH:
        return repr(obj)[:200]
    if isinstance(obj, dict) or (hasattr(obj, "items") and callable(getattr(obj, "items"))):
        try:
            return {str(k): _portable(v, depth + 1) for k, v in obj.items()}
        except Exception:  # noqa: BLE001
            return repr(obj)[:200]
    if isinstance(obj, (list, tuple)):
        return [_portable(v, depth + 1) for v in obj]
    return repr(obj)[:200]


def save_batch(path: Path, cap: Capture, origin: dict[str, Any], rank: int) -> None:
    """Write the batch of the first non-finite value for replay (``torch.load(path, weights_only=True)``)."""
    payload = {
        "step": int(cap.step),
        "rank": int(rank),
        "args": _portable(cap.args),
        "kwargs": _portable(cap.kwargs),
        "origin": {k: str(v) for k, v in origin.items()},
    }
    if cap.cpu_rng is not None:
        payload["cpu_rng_state"] = cap.cpu_rng.clone()
    if cap.out_grad is not None:
        payload["output_grad"] = cap.out_grad.detach().to("cpu", copy=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
