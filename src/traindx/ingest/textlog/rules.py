"""The table of dedicated line rules and the order in which each detected format tries them.

A rule takes the normalised text of a line and returns a :class:`~.record.Rec`
or None. The ``container`` rule also takes the line's logger tag and the
``bar`` rule returns the text printed after the bar, so both are called by
name; the others are in :data:`RULE_FUNCS`. The generic extractor
(:func:`~.pairs.pairs`) comes after every rule.
"""

from __future__ import annotations

from typing import Callable

from .normalize import Line
from .pairs import is_prose, pairs
from .record import Rec
from .rules_dict import rule_container
from .rules_llm import rule_llmc, rule_megatron, rule_modded, rule_nanogpt
from .rules_misc import rule_gpt2simple, rule_split_epoch
from .rules_progress import rule_bar, rule_keras
from .rules_vision import rule_caffe, rule_mmdet, rule_yolact

# which dedicated rules a format tries first
RULE_ORDER: dict[str, tuple[str, ...]] = {
    "megatron": ("megatron",),
    "nanogpt": ("nanogpt",),
    "llmc": ("llmc", "modded"),
    "hf_trainer": ("container", "bar"),
    "fairseq": ("container",),
    "keras": ("keras",),
    "lightning": ("bar",),
    "tqdm": ("bar",),
    "caffe": ("caffe",),
    "mmdet": ("mmdet",),
    "yolact": ("yolact",),
    "gpt2simple": ("gpt2simple",),
}
ALL_RULES = ("megatron", "nanogpt", "llmc", "modded", "container", "keras", "bar", "caffe", "mmdet", "yolact", "gpt2simple", "split_epoch")

RULE_FUNCS: dict[str, Callable[[str], Rec | None]] = {
    "megatron": rule_megatron,
    "nanogpt": rule_nanogpt,
    "llmc": rule_llmc,
    "modded": rule_modded,
    "keras": rule_keras,
    "caffe": rule_caffe,
    "mmdet": rule_mmdet,
    "yolact": rule_yolact,
    "gpt2simple": rule_gpt2simple,
    "split_epoch": rule_split_epoch,
}


def rule_order(fmt: str) -> tuple[str, ...]:
    """Every rule, those of the detected format first."""
    first = RULE_ORDER.get(fmt, ())
    return first + tuple(r for r in ALL_RULES if r not in first)


def apply_rules(text: str, tag: str | None, order: tuple[str, ...]) -> tuple[Rec | None, str]:
    """The first dedicated rule that reads the line, and the text after a progress bar."""
    for name in order:
        if name == "container":
            rec = rule_container(text, tag)
        elif name == "bar":
            got = rule_bar(text)
            if got is not None:
                return got
            continue
        else:
            rec = RULE_FUNCS[name](text)
        if rec is not None:
            return rec, ""
    return None, ""


def sample_rule(ln: Line, order: tuple[str, ...]) -> Rec | None:
    """What the line rules make of a head line (no context, no bars), for learning the template."""
    text = ln.text
    for name in order:
        if name == "container":
            rec = rule_container(text, ln.tag)
        elif name == "bar":
            continue
        else:
            rec = RULE_FUNCS[name](text)
        if rec is not None:
            return rec
    rec = pairs(text)
    if rec.step is not None and len(rec.pairs) >= 1 and not is_prose(text, len(rec.pairs)):
        return rec
    return None
