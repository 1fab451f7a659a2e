"""Generated samples kept beside a run, for the output checks.

- Text files named like ``samples.txt``, ``generations.txt``, ``outputs.txt``,
  ``predictions.txt``: samples are separated by blank lines or by lines of
  ``---``/``===``; a file with no separator holds one sample per line. A block
  that starts with ``step N:`` (or ``[step N]``, ``iter N``) takes that step.
- JSON Lines or JSON records with a generated-text key (``generation``,
  ``output``, ``completion``, ``response``, ``text``, ``pred``...), an optional
  prompt (``prompt``, ``input``, ``instruction``, ``question``) and step.

Each sample keeps the line where it starts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..run import to_float
from .jsonfile import JsonLocator, load_json
from .jsonl import SAMPLE_KEYS, first_object, is_sample_record
from .part import Part, ReadError, Source
from .textio import is_binary, iter_lines, read_head

NAME = "samples"
RANK = 50

NAME_WORDS = ("sample", "generation", "generated", "output", "prediction", "completion", "response")
PROMPT_KEYS = ("prompt", "input", "instruction", "question", "query", "source")
STEP_KEYS = ("step", "global_step", "iteration", "iter", "epoch")
MAX_SAMPLES = 10_000
_SEPARATOR = re.compile(r"^\s*(?:-{3,}|={3,})\s*$")
# ``[step 100]``, ``step 100:``, ``iter=100:`` at the start of a block
_STEP_HEADER = re.compile(
    r"^\s*(?:\[\s*(?:step|iter|iteration|global_step)\s*[:=#]?\s*(\d+)\s*\]\s*:?|(?:step|iter|iteration|global_step)\s*[=#]?\s*(\d+)\s*:)\s*",
    re.IGNORECASE,
)
_LIST_KEYS = ("samples", "generations", "outputs", "predictions", "completions", "responses", "data", "results")


def _name_hint(path: Path) -> bool:
    stem = path.stem.lower()
    return any(w in stem for w in NAME_WORDS)


def sniff(path: Path, head: bytes) -> float:
    if is_binary(head):
        return 0.0
    ext = path.suffix.lower()
    hint = _name_hint(path)
    if ext == ".txt":
        return 0.75 if hint else 0.0
    if ext in (".jsonl", ".ndjson"):
        obj = first_object(head)
        if obj is not None and is_sample_record(obj):
            return 0.85
        return 0.0
    if ext == ".json":
        text = head.decode("utf-8", errors="replace").lstrip()
        keyed = any(f'"{k}"' in text[:4096] for k in SAMPLE_KEYS)
        if hint and keyed:
            return 0.8
        if keyed and text.startswith("[") and text[1:].lstrip().startswith("{"):
            return 0.6
    return 0.0


def read(src: Source) -> Part:
    head = read_head(src.path)
    if is_binary(head):
        raise ReadError("binary content where generated samples were expected")
    part = Part(src, NAME)
    ext = src.path.suffix.lower()
    if ext in (".jsonl", ".ndjson"):
        _read_jsonl(part)
    elif ext == ".json":
        _read_json(part)
    else:
        _read_text(part)
    if len(part.samples) >= MAX_SAMPLES:
        part.issue(f"more than {MAX_SAMPLES:,} samples; the rest were not kept")
    return part


def _add_record(part: Part, rec: dict[str, Any], line: int, lines: dict[str, int] | None = None) -> bool:
    key = next((k for k in SAMPLE_KEYS if isinstance(rec.get(k), str)), None)
    if key is None:
        return False
    text = rec[key]
    if lines:
        line = lines.get(key, line)
    prompt = next((rec[k] for k in PROMPT_KEYS if isinstance(rec.get(k), str)), None)
    step = next((to_float(rec[k]) for k in STEP_KEYS if k in rec and to_float(rec[k]) is not None), None)
    part.sample(text, line, prompt=prompt, step=step)
    return True


def _read_jsonl(part: Part) -> None:
    part.format = "samples (JSON lines)"
    bad = 0
    for lineno, line in iter_lines(part.source.path, part):
        if len(part.samples) >= MAX_SAMPLES:
            break
        s = line.strip()
        if not s:
            continue
        try:
            rec = json.loads(s)
        except (ValueError, RecursionError):
            bad += 1
            if bad <= 20:
                part.issue("invalid JSON; line skipped", lineno)
            continue
        if isinstance(rec, dict):
            _add_record(part, rec, lineno)


def _read_json(part: Part) -> None:
    text, obj = load_json(part.source)
    part.format = "samples (JSON)"
    loc = JsonLocator(text)
    records = obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            loc.key(k)
            if k in _LIST_KEYS and isinstance(v, list):
                records = v
                break
            loc.skip(v)
        else:
            part.issue("JSON object without a list of sample records")
            return
    if not isinstance(records, list):
        part.issue(f"JSON {type(records).__name__}, not a list of sample records")
        return
    for rec in records:
        if not isinstance(rec, dict):
            loc.element(rec)
            continue
        lines = {}
        for k, v in rec.items():
            lines[k] = loc.key(k)
            loc.skip(v)
        if len(part.samples) < MAX_SAMPLES:
            _add_record(part, rec, next(iter(lines.values()), 1), lines)


def _read_text(part: Part) -> None:
    part.format = "samples (text)"
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    separated = False
    all_lines: list[tuple[int, str]] = []
    for lineno, line in iter_lines(part.source.path, part):
        all_lines.append((lineno, line))
        if not line.strip() or _SEPARATOR.match(line):
            separated = True
            if current:
                blocks.append((start, current))
                current = []
            continue
        if not current:
            start = lineno
        current.append(line)
    if current:
        blocks.append((start, current))
    if not separated:  # one sample per line
        blocks = [(n, [ln]) for n, ln in all_lines if ln.strip()]
    for first, lines in blocks[:MAX_SAMPLES]:
        step = None
        m = _STEP_HEADER.match(lines[0])
        if m:
            step = float(m.group(1) or m.group(2))
            rest = lines[0][m.end():]
            lines = ([rest] if rest.strip() else []) + lines[1:]
        part.sample("\n".join(lines), first, step=step)
