"""Run configuration files: YAML, TOML and INI/``.cfg``, flattened to dotted keys.

- YAML (``hparams.yaml``, ``config.yaml``...) is parsed with ``yaml.safe_load``.
  Lightning sometimes writes ``!!python/...`` tags into ``hparams.yaml``; such a
  file is read again with a loader that turns every unknown tag into plain
  data (nothing is imported or called) and the file gets an issue saying so.
- W&B ``config.yaml`` wraps each entry as ``{desc, value}``: the value is
  unwrapped; ``wandb_version`` and ``_wandb`` are skipped.
- An MLflow experiment's ``meta.yaml`` gives only ``mlflow.experiment.*``.
- TOML uses ``tomllib`` (Python 3.11+) or ``tomli``; INI uses ``configparser``
  without interpolation.

Nested keys join with dots (``optimizer.lr``); lists stay whole values. Each
key keeps the line where it is set.
"""

from __future__ import annotations

import configparser
import importlib
import re
from pathlib import Path
from typing import Any

import yaml

from .part import Part, ReadError, Source
from .textio import is_binary, read_head, read_text

NAME = "config"
RANK = 60

YAML_EXT = (".yaml", ".yml")
TOML_EXT = (".toml",)
INI_EXT = (".ini", ".cfg")
WANDB_SKIP = frozenset({"wandb_version", "_wandb"})
MLFLOW_EXPERIMENT_KEYS = frozenset({"artifact_location", "experiment_id", "lifecycle_stage"})

_TOML_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_TOML_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'))*)\s*=""")
_INI_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_INI_KEY = re.compile(r"^([^\s=:#;\[][^=:]*?)\s*[=:]")


def sniff(path: Path, head: bytes) -> float:
    if is_binary(head):
        return 0.0
    ext = path.suffix.lower()
    if ext in YAML_EXT:
        return 0.7 if path.stem.lower() in ("hparams", "config", "args", "params") else 0.6
    if ext in TOML_EXT:
        return 0.6
    if ext in INI_EXT:
        return 0.5
    return 0.0


def read(src: Source) -> Part:
    head = read_head(src.path)
    if is_binary(head):
        raise ReadError("binary content where a config file was expected")
    part = Part(src, NAME)
    text = read_text(src.path, part)
    if not text.strip():
        raise ReadError("empty file")
    ext = src.path.suffix.lower()
    if ext in TOML_EXT:
        _read_toml(part, text)
    elif ext in INI_EXT:
        _read_ini(part, text)
    else:
        _read_yaml(part, text)
    return part


# -- flattening ------------------------------------------------------------


def flatten(data: dict[Any, Any], lines: dict[tuple[str, ...], int], prefix: tuple[str, ...] = ()) -> list[tuple[str, Any, int | None]]:
    """(dotted key, value, line) for every leaf of a nested dict; lists stay whole."""
    out: list[tuple[str, Any, int | None]] = []
    for k, v in data.items():
        path = prefix + (str(k),)
        if isinstance(v, dict) and v:
            out.extend(flatten(v, lines, path))
        else:
            line = lines.get(path)
            if line is None:  # a key spelled differently in the text (``on`` for True): the parent's line
                for n in range(len(path) - 1, 0, -1):
                    line = lines.get(path[:n])
                    if line is not None:
                        break
            out.append((".".join(path), v, line))
    return out


def _store(part: Part, items: list[tuple[str, Any, int | None]]) -> None:
    for key, value, line in items:
        part.set_config(key, value, line)


# -- YAML ------------------------------------------------------------------


class _PlainDataLoader(yaml.SafeLoader):
    """A safe loader that reads any unknown tag as the plain mapping, list or string under it."""


def _plain(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_PlainDataLoader.add_multi_constructor("", _plain)


def _load_plain(text: str) -> Any:
    """Load YAML whose tags ``safe_load`` refuses, as plain data (the SafeLoader, plus :func:`_plain`)."""
    loader = _PlainDataLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _yaml_lines(node: yaml.Node | None, prefix: tuple[str, ...] = (), out: dict[tuple[str, ...], int] | None = None) -> dict[tuple[str, ...], int]:
    """Key path -> 1-based line, from the composed (never constructed) node tree."""
    if out is None:
        out = {}
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                continue
            path = prefix + (str(knode.value),)
            out.setdefault(path, knode.start_mark.line + 1)
            _yaml_lines(vnode, path, out)
    return out


def _yaml_error(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {problem}"


def _read_yaml(part: Part, text: str) -> None:
    try:
        try:
            data = yaml.safe_load(text)
        except yaml.constructor.ConstructorError:
            data = _load_plain(text)
            part.issue("YAML has Python-specific tags; read as plain data (nothing was imported or run)")
        except yaml.composer.ComposerError as e:
            if "single document" not in str(e):
                raise
            data = next(iter(yaml.safe_load_all(text)), None)
            part.issue("YAML has several documents; only the first was read")
        try:
            node = next(iter(yaml.compose_all(text, Loader=yaml.SafeLoader)), None)
        except yaml.YAMLError:
            node = None
    except yaml.YAMLError as e:
        raise ReadError(_yaml_error(e)) from None
    except RecursionError:
        raise ReadError("invalid YAML: nested too deeply") from None
    if not isinstance(data, dict):
        if data is None:
            part.issue("YAML document is empty")
        else:
            part.issue(f"YAML document is a {type(data).__name__}, not a mapping of settings")
        return
    lines = _yaml_lines(node)
    if MLFLOW_EXPERIMENT_KEYS <= set(data) and "run_id" not in data:
        part.format = "MLflow experiment meta.yaml"
        for k in ("name", "experiment_id"):
            if k in data:
                part.set_config(f"mlflow.experiment.{'id' if k == 'experiment_id' else k}", data[k], lines.get((k,)))
        return
    if _is_wandb_config(data):
        part.format = "W&B config.yaml"
        for k, v in data.items():
            if k in WANDB_SKIP:
                continue
            key = str(k)
            if isinstance(v, dict) and "value" in v:
                inner = v["value"]
                if isinstance(inner, dict) and inner:
                    _store(part, _wandb_nested(inner, lines, key))
                else:
                    part.set_config(key, inner, lines.get((key, "value"), lines.get((key,))))
            else:
                part.set_config(key, v, lines.get((key,)))
        return
    part.format = "YAML config"
    _store(part, flatten(data, lines))


def _wandb_nested(inner: dict[Any, Any], lines: dict[tuple[str, ...], int], key: str) -> list[tuple[str, Any, int | None]]:
    """Flatten a W&B ``value:`` mapping; its lines sit under ``key.value`` in the file."""
    sub = {(key,) + p[2:]: ln for p, ln in lines.items() if p[:2] == (key, "value")}
    return flatten(inner, sub, (key,))


def _is_wandb_config(data: dict[Any, Any]) -> bool:
    if "wandb_version" in data:
        return True
    entries = [v for k, v in data.items() if k not in WANDB_SKIP]
    if not entries:
        return False
    wrapped = sum(1 for v in entries if isinstance(v, dict) and "value" in v and set(v) <= {"desc", "value"})
    return wrapped == len(entries)


# -- TOML ------------------------------------------------------------------


def _toml_module() -> Any | None:
    for mod in ("tomllib", "tomli"):
        try:
            return importlib.import_module(mod)
        except ModuleNotFoundError:
            continue
    return None


def _toml_key_parts(dotted: str) -> tuple[str, ...]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([A-Za-z0-9_\-]+)', dotted)
    return tuple(a or b or c for a, b, c in parts)


def _toml_lines(text: str) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for n, line in enumerate(text.splitlines(), 1):
        m = _TOML_TABLE.match(line)
        if m and "=" not in line.split("]", 1)[0]:
            table = _toml_key_parts(m.group(1))
            out.setdefault(table, n)
            continue
        m = _TOML_KEY.match(line)
        if m:
            out.setdefault(table + _toml_key_parts(m.group(1)), n)
    return out


def _read_toml(part: Part, text: str) -> None:
    mod = _toml_module()
    if mod is None:
        part.issue("TOML needs Python 3.11+ or the 'tomli' package; file not read")
        return
    try:
        data = mod.loads(text)
    except mod.TOMLDecodeError as e:
        raise ReadError(f"invalid TOML: {str(e).splitlines()[0]}") from None
    part.format = "TOML config"
    _store(part, flatten(data, _toml_lines(text)))


# -- INI -------------------------------------------------------------------


def _read_ini(part: Part, text: str) -> None:
    parser = configparser.RawConfigParser(default_section="\x00", strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep the key's case
    try:
        parser.read_string(text)
    except configparser.MissingSectionHeaderError:
        try:
            parser.read_string("[\x01]\n" + text)  # keys before any section
        except configparser.Error as e:
            raise ReadError(f"invalid INI: {str(e).splitlines()[0]}") from None
    except configparser.Error as e:
        raise ReadError(f"invalid INI: {str(e).splitlines()[0]}") from None
    lines: dict[tuple[str, ...], int] = {}
    section = "\x01"
    for n, line in enumerate(text.splitlines(), 1):
        m = _INI_SECTION.match(line)
        if m:
            section = m.group(1).strip()
            continue
        m = _INI_KEY.match(line)
        if m:
            lines.setdefault((section, m.group(1).strip()), n)
    part.format = "INI config"
    for sec in parser.sections():
        for key, value in parser.items(sec, raw=True):
            dotted = key if sec == "\x01" else f"{sec}.{key}"
            part.set_config(dotted, value, lines.get((sec, key)))
