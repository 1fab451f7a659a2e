"""What one line reported, as the line rules hand it to the reading state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Rec:
    """What one line reported: values, and what it said about steps and epochs."""

    pairs: list[tuple[str, float, int]] = field(default_factory=list)  # raw name, value, start in text
    step: float | None = None
    step_span: int = -1
    step_src: str = ""  # key | fraction | bar | container
    total: float | None = None
    epoch: float | None = None
    epoch_span: int = -1
    split: str | None = None
    unit: str = "step"
    rule: str = "generic"
    container: bool = False  # a dict/json line: its step may be deferred
    ordinal: bool = False  # counts in the ordinal when no step is known (a train dict)
    summary: bool = False  # final "train_runtime" dict: goes to part.summary
    within: bool = False  # the step restarts every epoch (bar position, "Step N" next to "Epoch E")
    bar: bool = False  # a progress bar line: its step locates nearby dicts
    header_epoch: float | None = None  # "Epoch 3/10" header: the epoch of following lines
    keep: bool = True  # False: context only (no series from this line)
    canon: dict[str, str] | None = None  # raw name -> canonical when the rule knows the split
    rank: int | None = None
    drop_if: Callable[[str, float], bool] | None = None

    def copy(self) -> Rec:
        """A copy whose lists and dicts can be changed without touching this one."""
        c = object.__new__(Rec)
        c.__dict__.update(self.__dict__)
        c.pairs = list(self.pairs)
        if self.canon is not None:
            c.canon = dict(self.canon)
        return c
