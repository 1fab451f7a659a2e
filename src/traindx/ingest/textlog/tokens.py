"""The vocabulary of printed logs: what a number, a key and a value look like, and the key sets.

Every other module of the text-log reader builds its patterns from these
pieces, so that "a number" means the same thing to the line rules, the generic
extractor and the fast path.
"""

from __future__ import annotations

import math
import re

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# nan/inf count as values only where nothing can continue a phrase after them:
# ``loss nan,`` and ``loss nan BPC,`` are values, ``number of nan iterations`` is not.
NANINF = r"[-+]?(?i:nan|inf(?:inity)?)(?=\s*(?:$|[,;|}\])'\"%(])|\s+[A-Za-z/%]{1,6}\s*(?:$|[,;|]))"
VAL = rf"(?:{NANINF}|{NUM})"
KEY = r"[A-Za-z_][\w./\-]*(?:[ ][A-Za-z_(][\w./\-()]*){0,4}?"
# after "=" or ":" a nan/inf is a value unless a word continues it ("loss=inf lr=1e-4");
# after a bare space it must also not start a phrase ("number of nan iterations")
NANINF_EQ = r"[-+]?(?i:nan|inf(?:inity)?)(?![\w(])"

# a number standing alone: what the fast path's templates count as one column
NUMBER_TOKEN = re.compile(rf"(?<![\w.]){VAL}")

STEP_KEYS = {"global_step", "trainer/global_step", "_step", "step", "num_updates", "iteration", "iter", "it", "global step", "updates"}
EPOCH_KEYS = {"epoch", "ep"}
IGNORE_KEYS = {"eta", "v_num", "time left", "remaining", "it/s", "s/it", "rank", "local_rank", "pid", "line", "seed"}
STOP_WORDS = {
    "a", "an", "and", "are", "at", "be", "by", "for", "from", "got", "had", "has", "have", "in", "is", "of", "on",
    "or", "the", "to", "was", "were", "with", "current", "new", "now", "total", "around", "about", "than", "then",
    "after", "before", "i", "it's", "we", "our", "my",
}  # fmt: skip
SPLIT_WORDS = {"val": "val", "valid": "val", "validation": "val", "eval": "val", "evaluation": "val", "test": "test", "dev": "val"}


def to_float(text: str) -> float:
    """A printed value as a float; ``nan``/``inf`` in any spelling; ValueError otherwise."""
    try:
        return float(text)
    except ValueError:
        t = text.strip().lower().lstrip("+")
        if "nan" in t:
            return math.nan
        if "inf" in t:
            return -math.inf if t.startswith("-") else math.inf
        raise
