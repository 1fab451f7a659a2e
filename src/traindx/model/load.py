"""One entry point: a path (file or folder) or a factory -> a :class:`ModelSummary`, with the
weight health and spectra when the values can be read.

Sources, best first in a folder: a sharded safetensors index, a ``.safetensors``
file, a torch checkpoint (``pytorch_model.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``),
an HF ``config.json`` alone. A ``config.json`` beside the weights gives the
architecture facts (generative or not, tied head). No code from any file is run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import health as health_mod
from . import hfconfig, safetensors_file, spectral, torchzip
from .build import RawTensor, build_tensors
from .summary import ModelSummary
from .unpickle import NeedsTrust

TORCH_EXT = (".pt", ".pth", ".bin", ".ckpt")
INDEX_NAMES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


class LoadError(ValueError):
    """The path holds no model this module can read; the message is one line."""


def trust_message(name: str) -> str:
    return (
        f"needs trust: the pickle refers to {name}, which is not a tensor or plain data; "
        "traindx never runs code from a checkpoint (save a state_dict or safetensors, or name a --factory)"
    )


def sibling_config(path: Path) -> dict[str, Any] | None:
    """The HF ``config.json`` in the folder of ``path`` (or ``path`` itself when a folder), if it is a model config."""
    folder = path if path.is_dir() else path.parent
    cfg = folder / "config.json"
    if not cfg.is_file() or cfg.stat().st_size > 2_000_000:
        return None
    try:
        obj = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return obj if hfconfig.is_model_config(obj) else None


def _arch(cfg: dict[str, Any] | None, tensors: list[Any]) -> dict[str, Any]:
    if cfg is None:
        return {}
    arch = hfconfig.arch_facts(cfg)
    has_head = any(t.group == "head" and len(t.shape) == 2 for t in tensors if t.counted)
    if arch.get("tie_word_embeddings") and arch.get("generative") and not has_head:
        emb = [t for t in tensors if t.group == "embedding" and len(t.shape) == 2 and t.counted]
        if emb:
            arch["head_tied_by_config"] = max(emb, key=lambda t: t.numel).name
    return arch


def _finish(summary: ModelSummary, values: Callable[[str], np.ndarray | None] | None, *, read_values: bool, spectra: bool, max_bytes: int) -> ModelSummary:
    if values is None or not read_values:
        return summary
    h, notes = health_mod.analyze(summary.tensors, values, max_bytes=max_bytes)
    summary.health = h
    summary.notes.extend(notes)
    if spectra:
        s, snotes = spectral.analyze(summary.tensors, values)
        summary.spectra = s
        summary.notes.extend(snotes)
    return summary


def from_safetensors(path: Path, display: str, **kw: Any) -> ModelSummary:
    try:
        f = safetensors_file.read_header(path)
    except safetensors_file.FormatError as e:
        raise LoadError(str(e)) from None
    tensors = build_tensors(f.raw_tensors())
    s = ModelSummary(display, "safetensors", tensors, arch=_arch(sibling_config(path), tensors), notes=list(f.problems[:5]))
    return _finish(s, f.values, **kw)


def from_index(path: Path, display: str, **kw: Any) -> ModelSummary:
    try:
        wm = safetensors_file.read_index(path)
    except safetensors_file.FormatError as e:
        raise LoadError(str(e)) from None
    if path.name.startswith("pytorch_model"):
        return _from_torch_shards(path, display, wm, **kw)
    files: dict[str, safetensors_file.SafetensorsFile] = {}
    raw: list[RawTensor] = []
    owner: dict[str, safetensors_file.SafetensorsFile] = {}
    missing: list[str] = []
    for shard in sorted(set(wm.values())):
        p = path.parent / shard
        if not p.is_file():
            missing.append(shard)
            continue
        try:
            files[shard] = f = safetensors_file.read_header(p)
        except safetensors_file.FormatError as e:
            raise LoadError(f"shard {shard}: {e}") from None
        for r in f.raw_tensors():
            raw.append(r)
            owner[r.name] = f
    if not raw:
        raise LoadError("none of the shards named in the index is present" + (f" ({missing[0]}...)" if missing else ""))
    tensors = build_tensors(raw)
    notes = [f"{len(missing)} shard(s) named in the index are missing (e.g. {missing[0]}): their tensors are not counted"] if missing else []
    s = ModelSummary(display, "safetensors-sharded", tensors, arch=_arch(sibling_config(path), tensors), notes=notes)
    return _finish(s, lambda n: owner[n].values(n), **kw)


def _from_torch_shards(path: Path, display: str, wm: dict[str, str], **kw: Any) -> ModelSummary:
    raw: list[RawTensor] = []
    owner: dict[str, torchzip.TorchCheckpoint] = {}
    for shard in sorted(set(wm.values())):
        p = path.parent / shard
        if not p.is_file():
            continue
        ck = _torch_zip(p)
        for r in ck.raw_tensors():
            raw.append(RawTensor(r.name, r.shape, r.dtype, (shard, r.storage), r.trainable))
            owner[r.name] = ck
    if not raw:
        raise LoadError("none of the shards named in the index is present")
    tensors = build_tensors(raw)
    s = ModelSummary(display, "torch", tensors, arch=_arch(sibling_config(path), tensors))
    return _finish(s, lambda n: owner[n].values(n), **kw)


def _torch_zip(path: Path) -> torchzip.TorchCheckpoint:
    try:
        return torchzip.read(path)
    except NeedsTrust as e:
        raise LoadError(trust_message(e.name)) from None
    except torchzip.NotWeights as e:
        raise LoadError(f"holds no model weights: {e}") from None
    except torchzip.FormatError as e:
        raise LoadError(str(e)) from None


def from_torch(path: Path, display: str, **kw: Any) -> ModelSummary:
    with open(path, "rb") as fh:
        head = fh.read(64)
    if torchzip.is_torch_zip(head):
        ck = _torch_zip(path)
        tensors = build_tensors(ck.raw_tensors())
        notes = [f"weights found under '{ck.container}' in the checkpoint"] if ck.container else []
        s = ModelSummary(display, "torch", tensors, arch=_arch(sibling_config(path), tensors), notes=notes)
        step = ck.extra.get("global_step", ck.extra.get("step"))
        if isinstance(step, int):
            s.step = step
        return _finish(s, ck.values, **kw)
    if head.startswith(torchzip.PICKLE_PROTO):
        return _from_legacy(path, display, **kw)
    raise LoadError("not a torch checkpoint (neither a torch zip archive nor a pickle)")


def _from_legacy(path: Path, display: str, **kw: Any) -> ModelSummary:
    """A pickle that is not a zip: a pre-1.6 torch.save file (torch.load, weights only) or a plain pickle."""
    from . import torchload

    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)
        magic = _first_pickle(data)  # the restricted unpickler: a malicious pickle is refused here
    except NeedsTrust as e:
        raise LoadError(trust_message(e.name)) from None
    if magic != torchzip.LEGACY_MAGIC:
        raise LoadError("a plain pickle, not a torch checkpoint")
    try:
        obj = torchload.load(path)
    except NeedsTrust as e:
        raise LoadError(trust_message(e.name)) from None
    except torchload.TorchMissing as e:
        raise LoadError(str(e)) from None
    except ValueError as e:
        raise LoadError(str(e)) from None
    tensors_t = torchload.tensors_of(obj)
    if not tensors_t:
        raise LoadError("holds no model weights (no dict of floating-point tensors)")
    from .factory import raw_values

    tensors = build_tensors(torchload.raw_tensors(tensors_t))
    s = ModelSummary(display, "torch", tensors, arch=_arch(sibling_config(path), tensors), notes=["pre-1.6 torch format, loaded with torch.load(weights_only=True)"])
    return _finish(s, lambda n: raw_values(tensors_t[n]), **kw)


def _first_pickle(data: bytes) -> Any:
    """The first object of a pickle stream, rebuilt with the restricted unpickler (the legacy magic number)."""
    import io

    from .unpickle import RestrictedUnpickler

    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except NeedsTrust:
        raise
    except Exception as e:  # noqa: BLE001
        raise LoadError(f"not a readable pickle ({type(e).__name__})") from None


def from_config(path: Path, display: str, cfg: dict[str, Any] | None = None) -> ModelSummary:
    if cfg is None:
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise LoadError(f"not a JSON config ({type(e).__name__})") from None
    if not hfconfig.is_model_config(cfg):
        raise LoadError("not an HF model config (no model_type/architectures and sizes)")
    try:
        raw, facts = hfconfig.tensors_from_config(cfg)
    except hfconfig.Unsupported as e:
        raise LoadError(str(e)) from None
    facts.pop("head_tied_to", None)
    dt = facts.get("torch_dtype")
    from .dtypes import normalize

    dtype = normalize(dt) if isinstance(dt, str) else None
    if dtype:
        raw = [RawTensor(r.name, r.shape, dtype, r.storage, r.trainable) for r in raw]
    s = ModelSummary(display, "hf-config", build_tensors(raw), arch=facts, notes=["computed from the architecture in the config; no weights read"])
    return s


def pick_source(folder: Path) -> Path | None:
    """The best model source in a folder (see the module docstring), or None."""
    for n in INDEX_NAMES:
        if (folder / n).is_file():
            return folder / n
    st = sorted(folder.glob("*.safetensors"), key=lambda p: (p.name != "model.safetensors", -p.stat().st_size, p.name))
    if st:
        return st[0]
    tch = sorted((p for p in folder.iterdir() if p.suffix.lower() in TORCH_EXT and p.is_file() and p.name not in ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt")), key=lambda p: (p.name != "pytorch_model.bin", -p.stat().st_size, p.name))
    if tch:
        return tch[0]
    if sibling_config(folder) is not None:
        return folder / "config.json"
    return None


def load(path: Path, *, display: str | None = None, read_values: bool = True, spectra: bool = True, max_bytes: int = health_mod.MAX_BYTES) -> ModelSummary:
    """The model at ``path`` (a file or a folder). Raises :class:`LoadError` with a one-line reason."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"{path} does not exist")
    if path.is_dir():
        src = pick_source(path)
        if src is None:
            raise LoadError(f"no model in {path}: no .safetensors, torch checkpoint or HF config.json")
        path = src
    display = display or path.name
    kw = {"read_values": read_values, "spectra": spectra, "max_bytes": max_bytes}
    name = path.name.lower()
    if name.endswith(".index.json"):
        return from_index(path, display, **kw)
    if name.endswith(".safetensors"):
        return from_safetensors(path, display, **kw)
    if name.endswith(".json"):
        return from_config(path, display)
    if path.suffix.lower() in TORCH_EXT:
        return from_torch(path, display, **kw)
    with open(path, "rb") as fh:
        head = fh.read(64)
    if safetensors_file.sniff_bytes(head):
        return from_safetensors(path, display, **kw)
    if torchzip.is_torch_zip(head) or head.startswith(torchzip.PICKLE_PROTO):
        return from_torch(path, display, **kw)
    raise LoadError(f"{path.name}: not a model file traindx reads (.safetensors, torch checkpoint, HF config.json)")
