"""Training code (``.py``): a static lint, parsed with ``ast`` and never imported or run.

Each finding of :func:`traindx.model.lint.lint` becomes a code fact
(``part.code_fact(kind, text, line)``) located at its line; a file that trains
also gets one ``training_code`` fact saying how (HF Trainer, Lightning,
accelerate, a plain loop). A file with no training code and no model (a
utility module, ``setup.py``) gives an empty part and is listed as skipped. A
file that does not parse is read as an issue at the line of the syntax error.
"""

from __future__ import annotations

from pathlib import Path

from .part import Part, ReadError, Source
from .textio import is_binary, read_text

NAME = "code"
RANK = 40
MAX_BYTES = 2_000_000  # a bigger .py is generated code or data, not a training script

STYLE_TEXT = {
    "hf-trainer": "trains with an HF Trainer (the Trainer owns the loop: zero_grad, clipping, seeding)",
    "lightning": "trains with PyTorch Lightning (Lightning owns the loop)",
    "accelerate": "trains in an explicit loop with accelerate",
    "plain-loop": "trains in an explicit PyTorch loop",
    "model": "defines a model (no training loop)",
}


def sniff(path: Path, head: bytes) -> float:
    if path.suffix.lower() != ".py" or is_binary(head):
        return 0.0
    return 0.9


def read(src: Source) -> Part:
    from ..model.lint import lint

    if src.size > MAX_BYTES:
        raise ReadError(f"{src.size:,} bytes: too large for a training script (limit {MAX_BYTES:,}); not linted")
    part = Part(src, NAME)
    text = read_text(src.path, part)
    try:
        rep = lint(text)
    except SyntaxError as e:
        part.issue(f"does not parse as Python: {e.msg}", e.lineno)
        return part
    except (RecursionError, ValueError) as e:
        part.issue(f"could not be analysed: {type(e).__name__}")
        return part
    if not rep.style:
        return part
    part.format = f"Python training code ({rep.style})"
    part.code_fact("training_code", f"{src.path.name} {STYLE_TEXT[rep.style]}", rep.line or None)
    for f in rep.findings:
        part.code_fact(f.kind, f.text, f.line)
    for err in rep.errors:
        part.issue(f"lint rule failed: {err}")
    return part
