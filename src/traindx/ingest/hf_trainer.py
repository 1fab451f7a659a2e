"""HuggingFace Trainer ``trainer_state.json`` (also the copies in ``checkpoint-N/``).

The Trainer writes the file with ``json.dumps(..., indent=2, sort_keys=True)``,
so a NaN loss appears as a bare ``NaN`` token (the standard library parser reads
it) and every key sits on its own line. ``log_history`` holds three kinds of
entry, each with ``step`` and ``epoch``:

- train: ``loss``, ``grad_norm``, ``learning_rate``... (any numeric key);
- eval: ``eval_*`` keys, or ``<prefix>_*`` for another ``metric_key_prefix``
  such as ``test_``;
- the final summary (``train_runtime``, ``train_loss``, ``total_flos``...),
  which goes to the run summary rather than into series.

Top-level run facts (``best_metric``, ``global_step``, ``max_steps``,
``logging_steps``...) become config keys under ``trainer.``. Every value keeps
the line of its key in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..run import to_float
from .jsonfile import JsonLocator, load_json
from .part import Part, ReadError, Source
from .textio import is_binary

NAME = "hf_trainer"
RANK = 90

CONFIG_KEYS = (
    "best_metric",
    "best_model_checkpoint",
    "best_global_step",
    "global_step",
    "max_steps",
    "num_train_epochs",
    "logging_steps",
    "eval_steps",
    "save_steps",
    "train_batch_size",
    "epoch",
)
# Keys of the entry the Trainer appends when training ends.
FINAL_KEYS = frozenset({"train_runtime", "train_samples_per_second", "train_steps_per_second"})
POSITION_KEYS = frozenset({"step", "epoch"})


def sniff(path: Path, head: bytes) -> float:
    name = path.name.lower()
    if is_binary(head):
        return 0.0
    if name == "trainer_state.json":
        return 1.0
    if name.endswith(".json") and b'"log_history"' in head:
        return 0.95
    return 0.0


def _is_final(entry: dict[str, Any]) -> bool:
    return not FINAL_KEYS.isdisjoint(entry)


def read(src: Source) -> Part:
    text, state = load_json(src)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise ReadError("not a Trainer state: no log_history list")
    part = Part(src, NAME, format="HF Trainer trainer_state.json")
    loc = JsonLocator(text)
    for key, value in state.items():
        line = loc.key(key)
        if key == "log_history":
            _read_history(part, value, loc)
            continue
        loc.skip(value)
        if key in CONFIG_KEYS and value is not None and not isinstance(value, (dict, list)):
            part.set_config(f"trainer.{key}", value, line)
    return part


def _read_history(part: Part, history: list[Any], loc: JsonLocator) -> None:
    no_step = 0
    for entry in history:
        if not isinstance(entry, dict):
            line = loc.element(entry)
            part.issue(f"log_history entry is a {type(entry).__name__}, not an object; skipped", line)
            continue
        lines: dict[str, int] = {}
        for k, v in entry.items():
            lines[k] = loc.key(k)
            loc.skip(v)
        first_line = next(iter(lines.values()), 0)
        step = to_float(entry.get("step"))
        if step is None:
            no_step += 1
            if no_step <= 5:
                part.issue("log_history entry without a numeric 'step'; skipped", first_line or None)
            continue
        epoch = to_float(entry.get("epoch"))
        if _is_final(entry):
            for k, v in entry.items():
                if k not in POSITION_KEYS and not isinstance(v, (dict, list)):
                    part.set_summary(k, v, lines[k])
            continue
        for k, v in entry.items():
            if k in POSITION_KEYS or isinstance(v, (dict, list, str)):
                continue
            f = to_float(v)
            if f is not None:
                part.point(k, step, f, lines[k], epoch=epoch)
    if no_step > 5:
        part.issue(f"{no_step} log_history entries had no numeric 'step' and were skipped")
