"""Which trainer wrote a log: format fingerprints over the head of the file, and the sniff score."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from pathlib import Path

from ..textio import is_binary
from .normalize import normalize

TEXT_EXT = {".log", ".txt", ".out", ".err", ".stdout", ".stderr", ".md", ".markdown", ".text", ""}
STRUCTURED_EXT = {".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".xml", ".html", ".htm"}
MARKDOWN_EXT = {".md", ".markdown"}

# format fingerprints, scored on the first HEAD_LINES normalised lines
FINGERPRINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("nanogpt", re.compile(r"^iter \d+: loss")),
    ("llmc", re.compile(r"^step\s+\d+/\d+ \| (?:train )?loss")),
    ("llmc", re.compile(r"^s:\d+ t[re]l:")),
    ("hf_trainer", re.compile(r"^\{'(?:loss|eval_loss|train_runtime|grad_norm|learning_rate)'")),
    ("keras", re.compile(r"^Epoch \d+/\d+$|^\s*\d+/\d+ .*- (?:loss|accuracy): ")),
    ("lightning", re.compile(r"^Epoch \d+:\s+\d+%\||^Epoch \d+/\d+\s+━")),
    ("fairseq", re.compile(r"(?:^|\| )(?:train_inner|train|valid) \| \{|^epoch \d+ \| (?:loss|valid on)|^epoch \d+:\s+\d+ / \d+ ")),
    ("megatron", re.compile(r"iteration\s+\d+/\s*\d+ \| consumed samples:|(?:validation|valid) loss at iteration \d+")),
    ("deepspeed", re.compile(r"\[deepspeed\]|\[Rank \d+\] step=")),
    ("caffe", re.compile(r"^Iteration \d+.*, (?:loss|lr) = |net output #\d+:")),
    ("mmdet", re.compile(r"^Epoch\s*(?:\((?:train|val)\))?\s*\[\d+\]\[\s*\d+/\d+\]|^Iter\((?:train|val)\)")),
    ("yolact", re.compile(r"^\[\s*\d+\]\s+\d+ \|\| ")),
    ("gpt2simple", re.compile(r"^\[\d+ \| [\d.]+\] loss=")),
    ("tqdm", re.compile(r"\d+%\|.*\| \d+/\d+ \[[^\]]*, \w+=")),
)  # fmt: skip


def detect_text(raw: str) -> str:
    """The text fingerprints are matched on: the normalised line, after its logger tag if any."""
    ln = normalize(raw)
    return f"{ln.tag} | {ln.text}" if ln.tag else ln.text


def detect_format(lines: list[str]) -> tuple[str, dict[str, int]]:
    """The best-scoring fingerprint over normalised lines, and all scores."""
    scores: Counter[str] = Counter()
    for t in lines:
        if not t:
            continue
        for fmt, pat in FINGERPRINTS:
            if pat.search(t):
                scores[fmt] += 1
                break
    if not scores:
        return "generic", {}
    best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return best, dict(scores)


_SNIFF_HINT = re.compile(
    rb"iter \d+: loss|step\s+\d+/\d+ \||^s:\d+ t[re]l:|\{'(?:loss|eval_loss|train_runtime)'|Epoch \d+/\d+|\d+%\|.*\| \d+/\d+ \[|"
    rb"iteration\s+\d+/\s*\d+ \||train_inner \||Iteration \d+|Traceback \(most recent call last\)|[Ll]oss[ =:]+\d",
    re.M,
)
_ROTATED_EXT = re.compile(r"\.(?:log|out|err|txt)\.\d+|\.\d+")


def sniff(path: Path, head: bytes) -> float:
    """Low scores on purpose: a structured reader claims its format first."""
    try:
        if not head:
            return 0.0
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return 0.2
        if is_binary(head):
            return 0.0
        ext = path.suffix.lower()
        if ext in STRUCTURED_EXT:
            return 0.05
        hint = _SNIFF_HINT.search(head) is not None
        if ext in MARKDOWN_EXT:
            return 0.15
        if ext in TEXT_EXT or _ROTATED_EXT.fullmatch(ext):
            return 0.3 if hint else 0.2
        return 0.15 if hint else 0.1
    except Exception:  # a sniff must never raise
        return 0.0
