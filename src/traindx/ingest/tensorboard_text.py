"""TensorBoard text summaries and hparams as settings: what a run said about its configuration.

Text summaries (plugin ``text``: a string tensor) often carry the run's
settings: HF Trainer writes ``args`` and ``model_config`` as JSON, scripts
write ``str(args)`` (``Namespace(...)``), a Markdown table or ``key: value``
lines. :func:`text_config` turns those into flat config keys; anything else
is left to the caller (samples or plain text). The hparams plugin
(``add_hparams``, the Keras hparams callback) keeps its values in
``SummaryMetadata.plugin_data.content``: ``HParamsPluginData{session_start_info=3
{hparams=1 map<string, google.protobuf.Value{number_value=2, string_value=3,
bool_value=4}>}}``. Nothing here evaluates text: ``Namespace(...)`` is parsed
with :mod:`ast` and only literals are kept.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from .protowire import F64, Span, fields, text

TEXT_SUFFIX = "/text_summary"  # torch and tensorboardX append it to add_text tags
CONFIG_TAGS = frozenset({"args", "hparams", "hyperparameters", "config", "params", "arguments", "flags", "cfg"})
MAX_TEXT = 2000
_KV_LINE = re.compile(r"^\s*[-*]?\s*`?([A-Za-z_][\w.\-/]*)`?\s*(?::|=)\s*(.*?)\s*$")


def text_tag(tag: str) -> str:
    return tag.removesuffix(TEXT_SUFFIX)


def text_config(tag: str, body: str) -> dict[str, Any] | None:
    """Config keys from a text summary (JSON, ``Namespace(...)``, a key/value table or lines), else None.

    Keys are unprefixed for ``args``/``hparams``/``config``-like tags and
    ``<tag>.<key>`` otherwise.
    """
    found = _parse_text(body.strip())
    if not found:
        return None
    prefix = "" if tag.lower().rsplit("/", 1)[-1] in CONFIG_TAGS else f"{tag}."
    out: dict[str, Any] = {}
    _flatten(found, prefix, out)
    return out


def _parse_text(body: str) -> dict[str, Any] | None:
    if body.startswith("```") and body.endswith("```"):
        body = body.strip("`").strip()
        if "\n" in body and not body.lstrip().startswith(("{", "Namespace(")):
            body = body.split("\n", 1)[1]  # a language word after the fence
    if body.startswith("{"):
        try:
            got = json.loads(body)
        except (ValueError, RecursionError):
            got = None
        if isinstance(got, dict) and got:
            return got
    if re.match(r"^(Namespace|dict|Config|TrainingArguments)\(", body):
        got = _call_kwargs(body)
        if got:
            return got
    lines = [ln for ln in body.splitlines() if ln.strip()]
    if len(lines) < 2:
        return None
    if all(ln.lstrip().startswith("|") for ln in lines):
        table: dict[str, Any] = {}
        for ln in lines:
            cells = [c.strip() for c in ln.strip().strip("|").split("|")]
            if len(cells) != 2 or set(cells[0]) <= set("-: ") or cells[1].lower() in ("value", "values"):
                continue
            table[cells[0].strip("`")] = _scalar_text(cells[1].strip("`"))
        return table or None
    pairs: dict[str, Any] = {}
    for ln in lines:
        m = _KV_LINE.match(ln)
        if m:
            pairs[m.group(1)] = _scalar_text(m.group(2))
    if len(pairs) >= 2 and len(pairs) >= 0.8 * len(lines):
        return pairs
    return None


def _call_kwargs(body: str) -> dict[str, Any] | None:
    """The keyword arguments of ``Namespace(a=1, b='x')`` as literals (parsed, never evaluated)."""
    try:
        node = ast.parse(body, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # the parser runs out of memory on some nested input
        return None
    if not isinstance(node, ast.Call):
        return None
    out: dict[str, Any] = {}
    for kw in node.keywords:
        if kw.arg is None:
            continue
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError, RecursionError):
            out[kw.arg] = ast.unparse(kw.value)[:MAX_TEXT]
    return out


def _scalar_text(v: str) -> Any:
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null", "~"):
        return None
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v[:MAX_TEXT]


def _flatten(d: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            _flatten(v, key + ".", out)
        else:
            out[key] = v[:MAX_TEXT] if isinstance(v, str) else v


def hparams(buf: bytes, content: Span) -> dict[str, Any]:
    """The hyperparameters of an hparams ``session_start_info`` (``add_hparams``, Keras ``hp.KerasCallback``)."""
    out: dict[str, Any] = {}
    for fn, wt, v in fields(buf, content[0], content[1]):
        if fn != 3 or wt != 2:
            continue
        for fn2, wt2, v2 in fields(buf, v[0], v[1]):
            if fn2 != 1 or wt2 != 2:
                continue
            key, value = "", None
            for fn3, wt3, v3 in fields(buf, v2[0], v2[1]):
                if fn3 == 1 and wt3 == 2:
                    key = text(buf, v3)
                elif fn3 == 2 and wt3 == 2:
                    value = _proto_value(buf, v3)
            if key:
                out[key] = value
    return out


def _proto_value(buf: bytes, span: Span) -> Any:
    """A ``google.protobuf.Value`` holding a number, a string or a bool."""
    value: Any = None
    for fn, wt, v in fields(buf, span[0], span[1]):
        if fn == 2 and wt == 1:
            value = F64.unpack_from(buf, v)[0]
            if value.is_integer() and abs(value) < 2**53:
                value = int(value)
        elif fn == 3 and wt == 2:
            value = text(buf, v)[:MAX_TEXT]
        elif fn == 4 and wt == 0:
            value = bool(v)
    return value
