"""Model checkpoints and HF model configs: the model's parameters by group, and its weight health.

- ``*.safetensors`` (the header; values memory-mapped for the health and
  spectral checks), ``model.safetensors.index.json`` (a sharded model: every
  shard's header); a shard beside its index is counted through the index.
- torch checkpoints (``.pt``, ``.pth``, ``.bin``, ``.ckpt``): the zip format through a
  restricted unpickler that runs nothing from the file; the pre-1.6 format with
  ``torch.load(weights_only=True)``. A file that needs full unpickling (a
  pickled module, ``training_args.bin``) is not read, and says why.
- an HF ``config.json`` (``model_type``/``architectures`` and sizes): read as the
  JSON config it also is, plus the parameter counts its architecture implies.

What is found goes to ``part.model`` (a :class:`~traindx.model.summary.ModelSummary`)
and the total to the run summary (``model.parameters``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .part import Part, ReadError, Source
from .textio import is_binary

NAME = "checkpoint"
RANK = 70

TORCH_EXT = (".pt", ".pth", ".bin", ".ckpt")
INDEX_SUFFIXES = (".safetensors.index.json", ".bin.index.json")
# files HF and Lightning keep beside the weights that hold no model weights
AUX_NAMES = frozenset({"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt", "optimizer.bin", "scheduler.bin"})
_SHARD = re.compile(r"-\d{5}-of-\d{5}\.(?:safetensors|bin)$")
_RNG_STATE = re.compile(r"^rng_state(?:_\d+)?\.pth$")


def sniff(path: Path, head: bytes) -> float:
    from ..model import safetensors_file, torchzip

    name = path.name.lower()
    if name.endswith(INDEX_SUFFIXES):
        return 0.9
    if name.endswith(".safetensors"):
        return 0.95 if safetensors_file.sniff_bytes(head) else 0.3
    if path.suffix.lower() in TORCH_EXT:
        if torchzip.is_torch_zip(head):
            return 0.9
        if head.startswith(torchzip.PICKLE_PROTO):
            return 0.8
        return 0.0
    if name == "config.json" and not is_binary(head) and (b'"model_type"' in head or b'"architectures"' in head):
        return 0.6  # above the generic JSON reader (0.5): read as a config too, see read()
    return 0.0


def read(src: Source) -> Part:
    from ..model import load as mload

    name = src.path.name.lower()
    if name == "config.json":
        return _read_config(src)
    part = Part(src, NAME)
    if name in AUX_NAMES or _RNG_STATE.match(name):
        return part  # empty: reported as holding no training data, quietly
    if _SHARD.search(name) and any((src.path.parent / f"{p}").is_file() for p in ("model.safetensors.index.json", "pytorch_model.bin.index.json")):
        part.issue("a shard of a sharded checkpoint: its tensors are counted through the index file beside it")
        return part
    try:
        summary = mload.load(src.path, display=src.display)
    except mload.LoadError as e:
        msg = str(e)
        if msg.startswith(("needs trust", "holds no model weights")):
            part.issue(msg)
            return part
        raise ReadError(msg) from None
    _attach(part, summary)
    return part


def _attach(part: Part, summary: object) -> None:
    from ..model.summary import ModelSummary

    assert isinstance(summary, ModelSummary)
    part.model = summary
    part.format = {
        "safetensors": "safetensors (header; values memory-mapped)",
        "safetensors-sharded": "sharded safetensors (index and shard headers)",
        "torch": "torch checkpoint (restricted unpickler)",
        "hf-config": "HF model config (parameters computed from the architecture)",
    }.get(summary.kind, summary.kind)
    part.set_summary("model.parameters", summary.total)


def _read_config(src: Source) -> Part:
    """An HF model config: the generic JSON config reading, plus the computed parameter counts."""
    from ..model import hfconfig
    from ..model import load as mload
    from . import jsonfile

    part = jsonfile.read(src)
    part.reader = NAME
    try:
        obj = json.loads(src.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return part  # the JSON reader already reported the problem
    if not hfconfig.is_model_config(obj):
        return part
    try:
        summary = mload.from_config(src.path, src.display, obj)
    except mload.LoadError as e:
        part.issue(f"parameter count not computed: {e}")
        return part
    fmt = part.format
    _attach(part, summary)
    part.format = f"{fmt}; {part.format}" if fmt else part.format
    return part
