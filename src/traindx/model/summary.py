"""What traindx knows about a model: its tensors, grouped and counted, and what their values say.

Plain dataclasses; no I/O. A :class:`ModelSummary` comes from a checkpoint's
headers, a state dict, an HF ``config.json`` (computed tensors) or a
factory-built module, and is what ``traindx model`` prints and what the model
checks read from ``run.model``.

Counting rules: buffers (BatchNorm statistics, masks) are listed but not
counted; a tensor that is a second name for another one's storage (tied input
and output embeddings in a ``torch.save`` state dict) is counted once, under
the first name, and remembers the other in ``tied_to``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .dtypes import itemsize
from .groups import GROUPS, layer_index

# how much a source tells, for choosing one summary among several files of a run
KIND_RANK: dict[str, int] = {"hf-config": 1, "safetensors": 2, "safetensors-sharded": 2, "torch": 2, "factory": 3}
_STEP_IN_PATH = re.compile(r"(?:checkpoint|ckpt|step|iter|epoch)[-_=]?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ParamTensor:
    """One named tensor of a checkpoint (or of a model computed from its config)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    group: str
    layer: str
    buffer: bool = False
    tied_to: str | None = None  # the tensor whose storage this one shares (counted there)
    trainable: bool | None = None

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= int(d)
        return n

    @property
    def nbytes(self) -> int:
        return int(self.numel * itemsize(self.dtype))

    @property
    def counted(self) -> bool:
        return not self.buffer and self.tied_to is None


@dataclass(frozen=True)
class TensorHealth:
    """What one tensor's values say (``rows`` statistics only for matrices)."""

    name: str
    numel: int
    nan: int = 0
    inf: int = 0
    all_zero: bool = False
    constant: bool = False  # every value equal (and not all zero)
    value: float | None = None  # the value of a constant tensor
    rms: float = 0.0
    max_abs: float = 0.0
    rows: int = 0
    zero_rows: int = 0
    duplicate_rows: int = 0  # rows equal to an earlier row
    sampled: str = ""  # how the values were sampled, when they were


@dataclass(frozen=True)
class LayerSpectrum:
    """The power-law fit of one weight matrix's eigenvalue spectrum (WeightWatcher's alpha)."""

    name: str
    shape: tuple[int, ...]
    n_evals: int
    alpha: float
    xmin: float
    n_tail: int
    ks: float  # Kolmogorov-Smirnov distance of the fit
    lambda_max: float
    sampled: str = ""  # "2048 of 8192 rows", when the matrix was sampled


@dataclass
class ModelSummary:
    """A model's parameters by group and layer, and the health of its weights when the values were read."""

    source: str
    kind: str  # safetensors | safetensors-sharded | torch | hf-config | factory
    tensors: list[ParamTensor]
    arch: dict[str, Any] = field(default_factory=dict)
    health: list[TensorHealth] | None = None
    spectra: list[LayerSpectrum] | None = None
    notes: list[str] = field(default_factory=list)
    step: int | None = None

    def __post_init__(self) -> None:
        if self.step is None:
            found = _STEP_IN_PATH.findall(self.source)
            if found:
                self.step = int(found[-1])

    # -- counts ---------------------------------------------------------------------
    @property
    def params(self) -> list[ParamTensor]:
        """The counted parameters: no buffers, each storage once."""
        return [t for t in self.tensors if t.counted]

    @property
    def total(self) -> int:
        return sum(t.numel for t in self.params)

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.params)

    @property
    def trainable(self) -> int | None:
        ps = self.params
        if not ps or any(t.trainable is None for t in ps):
            return None
        return sum(t.numel for t in ps if t.trainable)

    @property
    def frozen(self) -> int | None:
        tr = self.trainable
        return None if tr is None else self.total - tr

    @property
    def groups(self) -> dict[str, int]:
        """Parameter count per group, in :data:`GROUPS` order, groups with parameters only."""
        out = {g: 0 for g in GROUPS}
        for t in self.params:
            out[t.group] = out.get(t.group, 0) + t.numel
        return {g: n for g, n in out.items() if n}

    def group_share(self, group: str) -> float:
        tot = self.total
        return self.groups.get(group, 0) / tot if tot else 0.0

    @property
    def layers(self) -> dict[str, int]:
        """Parameter count per layer, in the order the checkpoint lists them."""
        out: dict[str, int] = {}
        for t in self.params:
            out[t.layer] = out.get(t.layer, 0) + t.numel
        return out

    @property
    def dtypes(self) -> dict[str, int]:
        """Bytes per dtype."""
        out: dict[str, int] = {}
        for t in self.params:
            out[t.dtype] = out.get(t.dtype, 0) + t.nbytes
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def n_layers(self) -> int:
        """Number of numbered blocks (``layers.0`` ... ``layers.N``)."""
        idx = {(t.layer.rsplit(".", 1)[0], layer_index(t.layer)) for t in self.params if layer_index(t.layer) is not None}
        stacks: dict[str, int] = {}
        for stack, _i in idx:
            stacks[stack] = stacks.get(stack, 0) + 1
        return max(stacks.values()) if stacks else 0

    @property
    def tied(self) -> list[tuple[str, str]]:
        """(name, the tensor it shares its storage with)."""
        out = [(t.name, t.tied_to) for t in self.tensors if t.tied_to is not None]
        if self.arch.get("head_tied_by_config"):
            out.append(("(output head)", str(self.arch["head_tied_by_config"])))
        return out

    @property
    def head_tied(self) -> bool | None:
        """True when the output head shares the input embedding, False when it has its own weights, None when unknown."""
        if self.arch.get("head_tied_by_config"):
            return True
        for t in self.tensors:
            if t.tied_to is not None and (t.group == "head" or _group_of_name(self, t.tied_to) == "head"):
                return True
        if any(t.group == "head" and t.counted and len(t.shape) == 2 and self._vocab_like(t) for t in self.tensors):
            return False
        return None

    def _vocab_like(self, t: ParamTensor) -> bool:
        emb = [e for e in self.params if e.group == "embedding" and len(e.shape) == 2]
        return any(e.shape[0] == t.shape[0] or e.shape[0] == t.shape[-1] for e in emb)

    @property
    def generative(self) -> bool | None:
        """Whether the model generates tokens (a causal or seq2seq LM), when the architecture says so."""
        g = self.arch.get("generative")
        if g is not None:
            return bool(g)
        names = [t.name for t in self.tensors]
        if any(n.startswith(("lm_head.", "embed_out.")) or ".lm_head." in n for n in names):
            return True
        return None

    @property
    def values_read(self) -> bool:
        return self.health is not None

    def rank(self) -> tuple[int, int, int]:
        return (KIND_RANK.get(self.kind, 0), 1 if self.health is not None else 0, self.step if self.step is not None else -1)

    def over(self, other: "ModelSummary | None") -> "ModelSummary":
        """The summary that tells more of ``self`` and ``other`` (weights over a config; the later checkpoint)."""
        if other is None:
            return self
        return self if self.rank() > other.rank() else other

    def where(self, tensor: str | None = None) -> str:
        """An evidence source: ``model.safetensors#lm_head.weight``."""
        return f"{self.source}#{tensor}" if tensor else self.source

    def health_of(self, name: str) -> TensorHealth | None:
        for h in self.health or []:
            if h.name == name:
                return h
        return None

    def tensor(self, name: str) -> ParamTensor | None:
        for t in self.tensors:
            if t.name == name:
                return t
        return None

    def group_shares(self) -> dict[str, dict[str, Any]]:
        """Parameters and share of each group, in :data:`GROUPS` order."""
        tot = self.total
        return {g: {"parameters": n, "share": round(n / tot, 4) if tot else 0.0} for g, n in self.groups.items()}

    def balance(self, imbalance: str | None, *, checked: bool = True) -> dict[str, Any]:
        """Where the parameters sit, and the verdict of the parameter-balance check (TDX801).

        ``imbalance`` is that check's finding (its summary) when it fired;
        ``checked`` False when it did not run, which makes the verdict ``unchecked``.
        """
        tot = self.total
        groups = self.groups
        emb = groups.get("embedding", 0)
        head = groups.get("head", 0) if self.head_tied is False else 0
        body = tot - emb - groups.get("head", 0)
        verdict = "embedding-dominated" if imbalance is not None else ("balanced" if checked else "unchecked")
        return {
            "verdict": verdict,
            "embedding_share": round(emb / tot, 4) if tot else 0.0,
            "vocabulary_share": round((emb + head) / tot, 4) if tot else 0.0,
            "body_share": round(body / tot, 4) if tot else 0.0,
        }

    def brief(self, imbalance: str | None = None, *, checked: bool = True) -> dict[str, Any]:
        """The compact facts a diagnosis carries: counts, dtypes, groups, balance, head tying (no per-layer table)."""
        d: dict[str, Any] = {"source": self.source, "kind": self.kind}
        if self.step is not None:
            d["step"] = self.step
        d.update(
            {
                "parameters": self.total,
                "trainable": self.trainable,
                "frozen": self.frozen,
                "bytes": self.nbytes,
                "dtypes": self.dtypes,
                "groups": self.group_shares(),
                "balance": self.balance(imbalance, checked=checked),
                "head_tied": self.head_tied,
                "generative": self.generative,
            }
        )
        return d

    def to_dict(self) -> dict[str, Any]:
        tot = self.total
        d: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "parameters": tot,
            "bytes": self.nbytes,
            "trainable": self.trainable,
            "frozen": self.frozen,
            "groups": self.group_shares(),
            "layers": self.layers,
            "dtypes": self.dtypes,
            "tied": [list(p) for p in self.tied],
            "head_tied": self.head_tied,
            "generative": self.generative,
            "arch": {k: v for k, v in sorted(self.arch.items()) if isinstance(v, (str, int, float, bool)) or v is None},
            "notes": list(self.notes),
            "tensors": [
                {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "group": t.group, "layer": t.layer, "buffer": t.buffer, "tied_to": t.tied_to, "trainable": t.trainable}
                for t in self.tensors
            ],
        }
        if self.step is not None:
            d["step"] = self.step
        if self.health is not None:
            d["health"] = [asdict(h) for h in self.health]
        if self.spectra is not None:
            d["spectra"] = [dict(asdict(s), shape=list(s.shape)) for s in self.spectra]
        return d


def _group_of_name(summary: ModelSummary, name: str) -> str | None:
    t = summary.tensor(name)
    return t.group if t is not None else None
