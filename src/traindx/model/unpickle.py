"""A restricted unpickler: it rebuilds plain data and tensor references, and nothing else.

A pickle can name any importable callable and have the unpickler call it (a
``torch.save(model)`` file names the model's class; a malicious one names
``os.system``). This unpickler never imports what a pickle names: every global
is looked up in a fixed table of stand-ins written here, each of which only
builds data (a dict, a tuple, a numpy array from raw bytes, a reference to a
tensor's storage). Any other global stops the load with :class:`NeedsTrust`,
naming it, before anything is called.

What the table allows (the globals ``torch.save`` writes for state dicts,
Lightning checkpoints and optimizer states): ``collections.OrderedDict``, the
``torch._utils._rebuild_tensor*`` / ``_rebuild_parameter*`` functions,
``torch._tensor._rebuild_from_type_v2``, the storage types (``torch.FloatStorage``...),
``torch.Size``, ``torch.device``, torch dtypes, the plain builtin containers and
numbers, ``argparse.Namespace`` and Lightning's ``AttributeDict`` (as dicts),
numpy scalars, dtypes and arrays (from their raw bytes), ``_codecs.encode`` (how
protocol 2 spells bytes), and paths (as strings).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .dtypes import STORAGE_DTYPES, TORCH_DTYPES


class NeedsTrust(Exception):
    """The pickle names a global outside the allowed table; loading it would run code from the file."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class StorageRef:
    """A persistent storage record of a torch zip checkpoint: ``data/<key>`` of ``numel`` elements."""

    key: str
    dtype: str
    numel: int
    location: str = "cpu"


@dataclass
class TensorRef:
    """A tensor rebuilt from its storage: which storage, at which element offset, what shape and strides."""

    storage: StorageRef | None
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    requires_grad: bool = False
    parameter: bool = False
    array: np.ndarray | None = None  # values, when the pickle itself carried them (a numpy array)

    @property
    def dtype(self) -> str:
        if self.storage is not None:
            return self.storage.dtype
        return _numpy_name(self.array.dtype) if self.array is not None else "F32"


class DictLike(dict):
    """A stand-in for dict subclasses (``OrderedDict``, ``AttributeDict``, ``Namespace``); attributes set by BUILD go to ``__dict__``."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)
        elif isinstance(state, tuple) and state and isinstance(state[0], dict):
            self.__dict__.update(state[0])


class Namespace(DictLike):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)


@dataclass
class _NumpyDType:
    name: str
    byteorder: str = "="

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = state[1]

    def to_numpy(self) -> np.dtype:
        bo = self.byteorder if self.byteorder in ("<", ">") else ""
        return np.dtype(bo + self.name) if bo else np.dtype(self.name)


@dataclass
class _NumpyArray:
    shape: tuple[int, ...] = ()
    dtype: Any = None
    data: bytes = b""
    fortran: bool = False
    ok: bool = False
    extra: list[Any] = field(default_factory=list)

    def __setstate__(self, state: Any) -> None:
        # (version, shape, dtype, is_fortran, raw bytes)
        if isinstance(state, tuple) and len(state) == 5 and isinstance(state[4], (bytes, bytearray)):
            _v, shape, dt, fortran, raw = state
            self.shape, self.dtype, self.fortran, self.data, self.ok = tuple(shape), dt, bool(fortran), bytes(raw), True

    def to_numpy(self) -> np.ndarray | None:
        if not self.ok:
            return None
        dt = self.dtype.to_numpy() if isinstance(self.dtype, _NumpyDType) else None
        if dt is None or dt.hasobject:
            return None
        arr = np.frombuffer(self.data, dtype=dt)
        n = int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1
        if arr.size != n:
            return None
        return arr.reshape(self.shape, order="F" if self.fortran else "C")


def _numpy_name(dt: np.dtype) -> str:
    return {"f8": "F64", "f4": "F32", "f2": "F16", "i8": "I64", "i4": "I32", "i2": "I16", "i1": "I8", "u1": "U8", "b1": "BOOL"}.get(f"{dt.kind}{dt.itemsize}", "F32")


# -- the stand-ins ---------------------------------------------------------------------


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *rest: Any) -> TensorRef:
    requires_grad = bool(rest[0]) if rest else False
    return TensorRef(storage if isinstance(storage, StorageRef) else None, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride), requires_grad)


def _rebuild_tensor_v3(storage: Any, offset: int, size: Any, stride: Any, requires_grad: Any = False, hooks: Any = None, dtype: Any = None, *rest: Any) -> TensorRef:
    t = _rebuild_tensor(storage, offset, size, stride, requires_grad)
    if isinstance(dtype, str) and t.storage is not None and t.storage.dtype == "U8":
        t.storage = StorageRef(t.storage.key, TORCH_DTYPES.get(dtype, "F32"), t.storage.numel, t.storage.location)
    return t


def _rebuild_parameter(data: Any, requires_grad: Any = True, *rest: Any) -> Any:
    if isinstance(data, TensorRef):
        data.parameter = True
        data.requires_grad = bool(requires_grad)
    return data


def _rebuild_from_type_v2(func: Callable[..., Any], new_type: Any, args: Any, state: Any) -> Any:
    t = func(*args)
    if isinstance(t, TensorRef) and new_type is _ParameterType:
        t.parameter = True
    return t


class _ParameterType:
    """Marker for ``torch.nn.parameter.Parameter`` (never instantiated from a pickle)."""


class _TensorType:
    """Marker for ``torch.Tensor``."""


class _StorageType:
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype


class _NdarrayType:
    """Marker for ``numpy.ndarray``."""


def _np_reconstruct(cls: Any, shape: Any = (0,), dtype: Any = b"b", *rest: Any) -> _NumpyArray:
    if cls is not _NdarrayType:
        raise NeedsTrust("numpy.core.multiarray._reconstruct of a non-ndarray type")
    return _NumpyArray()


def _np_dtype(name: Any, align: Any = False, copy: Any = True) -> _NumpyDType:
    if not isinstance(name, str) or not name.replace("<", "").replace(">", "").isalnum():
        raise NeedsTrust(f"numpy.dtype({name!r})")
    return _NumpyDType(name)


def _np_scalar(dtype: Any, data: Any = b"") -> Any:
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, (bytes, bytearray)):
        raise NeedsTrust("numpy scalar of an unknown dtype")
    dt = dtype.to_numpy()
    if dt.hasobject or len(data) != dt.itemsize:
        raise NeedsTrust("numpy scalar of an object dtype")
    return np.frombuffer(bytes(data), dtype=dt)[0].item()


def _path(*parts: Any) -> str:
    return "/".join(str(p) for p in parts)


def _reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    if isinstance(cls, type) and issubclass(cls, DictLike):
        obj = cls()
        if isinstance(state, dict):
            obj.update(state)
        return obj
    raise NeedsTrust("copyreg._reconstructor of a type outside the allowed table")


def _codecs_encode(text: Any, encoding: Any = "utf-8", *rest: Any) -> bytes:
    """``_codecs.encode``: how protocol-2 pickles spell a bytes object (``latin1`` of a str)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise NeedsTrust(f"_codecs.encode with {encoding!r}")
    return text.encode(encoding)


def _device(*args: Any) -> str:
    return ":".join(str(a) for a in args)


def _size(*args: Any) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        return tuple(int(a) for a in args[0])
    return tuple(int(a) for a in args)


_SAFE_BUILTINS: dict[str, Any] = {
    "set": set,
    "frozenset": frozenset,
    "list": list,
    "dict": dict,
    "tuple": tuple,
    "int": int,
    "float": float,
    "complex": complex,
    "bool": bool,
    "str": str,
    "slice": slice,
}  # no bytes/bytearray/range: called with a number they allocate whatever the file asks

ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): DictLike,
    ("collections", "defaultdict"): DictLike,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch.nn.parameter", "Parameter"): _ParameterType,
    ("torch", "Tensor"): _TensorType,
    ("torch._tensor", "Tensor"): _TensorType,
    ("torch", "Size"): _size,
    ("torch", "device"): _device,
    ("argparse", "Namespace"): Namespace,
    ("lightning.fabric.utilities.data", "AttributeDict"): DictLike,
    ("pytorch_lightning.utilities.parsing", "AttributeDict"): DictLike,
    ("lightning.pytorch.utilities.parsing", "AttributeDict"): DictLike,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("_codecs", "encode"): _codecs_encode,
    ("pathlib", "PosixPath"): _path,
    ("pathlib", "WindowsPath"): _path,
    ("pathlib", "PurePosixPath"): _path,
    ("pathlib", "PureWindowsPath"): _path,
    ("pathlib", "Path"): _path,
    ("numpy", "ndarray"): _NdarrayType,
    ("numpy", "dtype"): _np_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy.core.multiarray", "scalar"): _np_scalar,
    ("numpy._core.multiarray", "scalar"): _np_scalar,
}
for _name, _dtype in STORAGE_DTYPES.items():
    ALLOWED[("torch", _name)] = _StorageType(_dtype)
ALLOWED[("torch", "UntypedStorage")] = _StorageType("U8")
ALLOWED[("torch.storage", "UntypedStorage")] = _StorageType("U8")
for _name, _dtype in TORCH_DTYPES.items():
    ALLOWED.setdefault(("torch", _name), _name)
for _name, _obj in _SAFE_BUILTINS.items():
    ALLOWED[("builtins", _name)] = _obj
    ALLOWED[("__builtin__", _name)] = _obj


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles with :data:`ALLOWED` stand-ins only; torch storages become :class:`StorageRef`."""

    def __init__(self, file: io.BufferedIOBase, storages: dict[str, StorageRef] | None = None) -> None:
        super().__init__(file)
        self.storages = storages if storages is not None else {}

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle API
        got = ALLOWED.get((module, name))
        if got is None:
            raise NeedsTrust(f"{module}.{name}")
        return got

    def persistent_load(self, pid: Any) -> Any:  # noqa: D401 - pickle API
        # ('storage', storage_type, key, location, numel) as torch's zip format writes it
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise NeedsTrust(f"persistent id {str(pid)[:60]}")
        stype, key, location, numel = pid[1], str(pid[2]), str(pid[3]), pid[4]
        dtype = stype.dtype if isinstance(stype, _StorageType) else (TORCH_DTYPES.get(stype, "F32") if isinstance(stype, str) else "F32")
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = StorageRef(key=key, dtype=dtype, numel=int(numel), location=location)
        return ref


def restricted_load(data: bytes) -> Any:
    """The object a pickle holds, rebuilt only from allowed stand-ins (raises :class:`NeedsTrust`)."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


def numpy_array_of(obj: Any) -> np.ndarray | None:
    """The numpy array a pickled ``ndarray`` stand-in carries, or None."""
    return obj.to_numpy() if isinstance(obj, _NumpyArray) else None
