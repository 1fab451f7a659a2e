"""Build a model by calling a user-named ``module:callable`` (an explicit opt-in to run user code).

This is the one place where traindx runs the user's code, and only when the
user names the callable (``traindx model --factory mypkg.models:build``,
``traindx memory --factory train.py:make_model``). The module is imported
from the current folder (or from the file named), the callable is called
without arguments, and the first ``torch.nn.Module`` it returns is summarized
from ``named_parameters()``: trainable and frozen counts come from
``requires_grad``, tied weights from shared storage.

Groups come from the modules themselves where their class says (an
``nn.Embedding`` is an embedding, an ``nn.LayerNorm`` a norm, whatever their
names; see :func:`traindx.model.groups.by_module`), and from the parameter names
otherwise. The output head is the last ``Linear`` outside the numbered blocks
whose width is an embedding's vocabulary, else the model's last layer when it is
such a ``Linear`` (an ``nn.Sequential`` that ends in one).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .build import RawTensor, build_tensors
from .dtypes import TORCH_DTYPES
from .groups import LINEAR_CLASSES, by_module, group_of_class, in_repeated_block
from .summary import ModelSummary


class FactoryError(ValueError):
    """The factory could not be imported, called, or did not return a model; one-line message."""


def _import(module: str, cwd: Path) -> Any:
    if module.endswith(".py") or "/" in module or "\\" in module:
        path = (cwd / module).resolve() if not Path(module).is_absolute() else Path(module)
        if not path.is_file():
            raise FactoryError(f"factory file {module} does not exist")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise FactoryError(f"cannot import {module}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = mod
        spec.loader.exec_module(mod)
        return mod
    if str(cwd) not in sys.path:
        sys.path.insert(0, str(cwd))
    return importlib.import_module(module)


def build(spec: str, *, cwd: Path | None = None) -> Any:
    """Import ``module:callable`` (``module`` a dotted name or a ``.py`` path) and call it."""
    if ":" not in spec:
        raise FactoryError(f"factory {spec!r} is not of the form module:callable (e.g. mypkg.models:build_model)")
    module, _, attr = spec.rpartition(":")
    try:
        import torch  # noqa: F401 - a factory model needs torch; fail with a clear message first
    except ImportError:
        raise FactoryError("a factory-built model needs torch: pip install 'traindx[torch]'") from None
    try:
        mod = _import(module, cwd or Path.cwd())
    except FactoryError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's module failed to import
        raise FactoryError(f"importing {module} failed: {type(e).__name__}: {e}") from None
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise FactoryError(f"{module} has no attribute {attr}")
        obj = getattr(obj, part)
    try:
        result = obj() if callable(obj) and not _is_module(obj) else obj
    except Exception as e:  # noqa: BLE001 - the user's factory raised
        raise FactoryError(f"calling {spec} failed: {type(e).__name__}: {e}") from None
    model = _first_module(result)
    if model is None:
        raise FactoryError(f"{spec} returned {type(result).__name__}, not a torch.nn.Module")
    return model


def _is_module(obj: Any) -> bool:
    import torch

    return isinstance(obj, torch.nn.Module)


def _first_module(result: Any) -> Any:
    if _is_module(result):
        return result
    if isinstance(result, (tuple, list)):
        for r in result:
            if _is_module(r):
                return r
    if isinstance(result, dict):
        for r in result.values():
            if _is_module(r):
                return r
    return None


def raw_values(t: Any) -> np.ndarray | None:
    """A tensor's values as stored (bf16 as its raw uint16 bits), detached, on the CPU."""
    import torch

    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().view(np.uint16)
    if t.dtype in (torch.float32, torch.float16, torch.float64):
        return t.numpy()
    return None


def torch_class(module: Any) -> str | None:
    """The ``torch.nn`` layer class a module is (or derives from), or None for containers and user classes."""
    for cls in type(module).__mro__:
        mod = getattr(cls, "__module__", "") or ""
        if mod.startswith("torch.nn.") and cls.__name__ not in ("Module", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"):
            return cls.__name__
    return None


def class_groups(model: Any) -> dict[str, str | None]:
    """Parameter name -> the group its layer's class implies (None where the class does not say);
    the output head found by the layers' shapes (see the module docstring) is ``head``."""
    modules = dict(model.named_modules(remove_duplicate=False))
    out: dict[str, str | None] = {}
    holders: list[tuple[str, Any, str | None, list[str]]] = []  # (path, module, class, its direct parameter names), in registration order
    for path, m in modules.items():
        own = [n for n, _ in m.named_parameters(recurse=False, remove_duplicate=False)]
        if not own:
            continue
        cls = torch_class(m)
        parent = torch_class(modules[path.rsplit(".", 1)[0]]) if "." in path else (torch_class(model) if path else None)
        group = group_of_class(cls, parent)
        names = [f"{path}.{n}" if path else n for n in own]
        for n in names:
            out[n] = group
        holders.append((path, m, cls if group is None else None, names))
    vocab = {int(m.num_embeddings) for m in modules.values() if torch_class(m) in ("Embedding", "EmbeddingBag")}
    linears = [(path, m, names) for path, m, cls, names in holders if cls in LINEAR_CLASSES and path and not in_repeated_block(path)]
    head = next((h for h in reversed(linears) if int(getattr(h[1], "out_features", -1)) in vocab), None)
    if head is None and holders and linears and holders[-1][0] == linears[-1][0]:
        head = linears[-1]
    if head is not None:
        for n in head[2]:
            out[n] = "head"
    return out


def summarize(model: Any, source: str) -> tuple[ModelSummary, dict[str, Any]]:
    """The summary of a built module, and its parameters by name (for the value checks)."""
    raw: list[RawTensor] = []
    tensors: dict[str, Any] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        dtype = TORCH_DTYPES.get(str(p.dtype).removeprefix("torch."), "F32")
        raw.append(RawTensor(name, tuple(p.shape), dtype, storage=(p.data_ptr(), p.storage_offset()), trainable=bool(p.requires_grad)))
        tensors[name] = p
    for name, b in model.named_buffers():
        dtype = TORCH_DTYPES.get(str(b.dtype).removeprefix("torch."), "F32")
        raw.append(RawTensor(name, tuple(b.shape), dtype, storage=None))
    built = build_tensors(raw)
    buffer_names = {n for n, _ in model.named_buffers()}
    built = [t if t.name not in buffer_names else replace(t, buffer=True) for t in built]
    by_class = class_groups(model)
    built = [t if t.buffer or t.name not in by_class else replace(t, group=by_module(by_class[t.name], t.group)) for t in built]
    arch: dict[str, Any] = {"class": type(model).__name__}
    cfg = getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "to_dict"):
        from .hfconfig import arch_facts

        arch.update(arch_facts(cfg.to_dict() | {"architectures": [type(model).__name__]}))
    return ModelSummary(source=source, kind="factory", tensors=built, arch=arch), tensors
