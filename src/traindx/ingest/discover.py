"""Walk the given paths, pick a reader for each file by sniffing, read, and merge into one Run.

Nothing here writes anywhere. Every file is either read (``run.sources``) or
skipped with its reason (``run.skipped``); a reader that fails on a file turns
into a one-line located reason, never a traceback, and the other files are
still read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..run import Run, Series, SeriesChoice, Skipped, SourceInfo
from . import names
from .part import Part, ReadError, Source
from .registry import dir_readers, reader_rank, readers
from .textio import HEAD_BYTES, is_binary

SKIP_DIRS = {"__pycache__", "node_modules", ".git", ".hg", ".svn", ".venv", "venv", "site-packages", ".ipynb_checkpoints", ".mypy_cache", ".pytest_cache", ".trash"}

SKIP_EXT: dict[str, str] = {}
for _ext in (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".svg", ".webp", ".tif", ".tiff", ".ico"):
    SKIP_EXT[_ext] = "image (not read)"
for _ext in (".h5", ".hdf5", ".keras", ".onnx", ".npz", ".npy", ".pkl", ".pickle", ".gguf", ".msgpack", ".model"):
    SKIP_EXT[_ext] = "model or tensor file (not part of the log diagnosis)"
for _ext in (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".zst", ".rar"):
    SKIP_EXT[_ext] = "archive (not unpacked)"
for _ext in (".ipynb", ".sh", ".c", ".cpp", ".cu", ".h", ".js", ".ts", ".java", ".rs", ".go"):
    SKIP_EXT[_ext] = "source code (not read by the log diagnosis)"
for _ext in (".pdf", ".doc", ".docx", ".ppt", ".pptx", ".xls", ".xlsx", ".mp4", ".mp3", ".wav", ".flac", ".parquet", ".arrow", ".lock", ".db-journal", ".so", ".dll", ".exe", ".whl"):
    SKIP_EXT[_ext] = "not a training artifact"

# extensions that promise text: binary content in them is a problem worth reporting
TEXT_EXT = {".log", ".txt", ".out", ".err", ".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".yaml", ".yml", ".toml", ".md"}

Progress = Callable[[str, int], None]


@dataclass
class _Item:
    source: Source
    is_dir: bool = False


class InputError(Exception):
    """A path given by the user cannot be used at all (missing, unreadable)."""


def _display(path: Path, base: Path) -> str:
    try:
        rel = path.resolve().relative_to(base)
        s = rel.as_posix()
        return s if s != "." else path.name
    except ValueError:
        return path.as_posix()


def _base_for(paths: Sequence[Path]) -> Path:
    resolved = [p.resolve() for p in paths]
    if len(resolved) == 1:
        p = resolved[0]
        return p if p.is_dir() else p.parent
    parents = [p if p.is_dir() else p.parent for p in resolved]
    return Path(os.path.commonpath([str(p) for p in parents]))


def _walk(root: Path, base: Path, run: Run) -> Iterable[_Item]:
    """Files under ``root`` in a stable order; directory readers claim whole folders."""
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            for m in dir_readers():
                if m.sniff_dir(d):
                    yield _Item(Source(d, _display(d, base)), is_dir=True)
                    break
            else:
                m = None
            if m is not None:
                continue
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except PermissionError:
            run.skipped.append(Skipped(_display(d, base), "folder not readable: permission denied", error=True))
            continue
        except OSError as e:
            run.skipped.append(Skipped(_display(d, base), f"folder not readable: {e.strerror or e}", error=True))
            continue
        subdirs = []
        for e in entries:
            p = Path(e.path)
            try:
                if e.is_symlink() and not p.exists():
                    run.skipped.append(Skipped(_display(p, base), "broken symbolic link", error=True))
                    continue
                if e.is_dir():
                    if e.name in SKIP_DIRS or e.name.startswith("."):
                        continue
                    subdirs.append(p)
                elif e.is_file():
                    yield _Item(Source(p, _display(p, base), e.stat().st_size))
            except OSError as err:
                run.skipped.append(Skipped(_display(p, base), f"not readable: {err.strerror or err}", error=True))
        stack.extend(reversed(subdirs))


def choose_reader(src: Source) -> tuple[object | None, str]:
    """The reader for a file, or None and the reason it is skipped."""
    ext = src.path.suffix.lower()
    name = src.path.name
    if name.startswith("events.out.tfevents."):
        ext = ""
    if ext in SKIP_EXT:
        return None, SKIP_EXT[ext]
    if src.size == 0:
        return None, "empty file"
    try:
        with open(src.path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except PermissionError:
        return None, "not readable: permission denied"
    except OSError as e:
        return None, f"not readable: {e.strerror or e}"
    best, best_score = None, 0.0
    for m in readers():
        try:
            score = float(m.sniff(src.path, head))
        except Exception:  # a sniff must never stop discovery
            score = 0.0
        if score > best_score:
            best, best_score = m, score
    if best is None:
        if is_binary(head):
            if ext in TEXT_EXT:
                return None, f"binary content in a {ext} file (not a text log)"
            return None, "binary file of unknown format"
        return None, "unknown format"
    return best, ""


def discover(
    paths: Sequence[str | os.PathLike[str]],
    *,
    progress: Progress | None = None,
    labels: dict[Path, str] | None = None,
    parts: Sequence[Part] = (),
    stop: Callable[[str], bool] | None = None,
) -> Run:
    """Read every artifact under ``paths`` into one :class:`Run`.

    Evidence quotes paths relative to the folder given (or to the common folder
    of several paths); ``labels`` gives fixed display names to files that live
    elsewhere (a context package's error messages); ``parts`` were read
    elsewhere (a run fetched from a tracking server) and are merged with the
    others. ``stop(display)`` is asked before each file after the first: when it
    says yes (a time limit passed), that file and the rest are listed as skipped,
    not read. Raises
    :class:`InputError` only for usage problems (no path given); a missing or
    unreadable path becomes a skipped entry, so the caller can diagnose what
    else was readable and decide the exit code.
    """
    run = Run()
    if not paths and not parts:
        raise InputError("no path given")
    labels = {Path(k).resolve(): v for k, v in (labels or {}).items()}
    plist = [Path(p) for p in paths]
    existing = [p for p in plist if p.exists()]
    for p in plist:
        if not p.exists():
            run.skipped.append(Skipped(p.as_posix(), "path does not exist", error=True))
    if not existing:
        return merge(list(parts), run) if parts else run
    unlabeled = [p for p in existing if p.resolve() not in labels]
    base = _base_for(unlabeled or existing)
    items: list[_Item] = []
    seen: set[Path] = set()
    for p in existing:
        if p.resolve() in labels and p.is_file():
            items.append(_Item(Source(p, labels[p.resolve()], p.stat().st_size)))
            seen.add(p.resolve())
            continue
        if p.is_dir():
            for it in _walk(p, base, run):
                rp = it.source.path.resolve()
                if rp not in seen:
                    seen.add(rp)
                    items.append(it)
        else:
            rp = p.resolve()
            if rp not in seen:
                seen.add(rp)
                try:
                    size = p.stat().st_size
                except OSError:
                    size = 0
                items.append(_Item(Source(p, _display(p, base), size)))
    items.sort(key=lambda it: it.source.display)
    read: list[Part] = []
    total = len(items)
    for i, it in enumerate(items):
        if i > 0 and stop is not None and stop(it.source.display):
            for rest in items[i:]:
                run.skipped.append(Skipped(rest.source.display, "not read: the analysis time limit was reached"))
            break
        if progress is not None:
            progress(it.source.display, i * 100 // max(total, 1))
        read.extend(_read_item(it, run))
    if progress is not None:
        progress("", 100)
    merge(read + list(parts), run)
    return run


def _read_item(it: _Item, run: Run) -> list[Part]:
    src = it.source
    if it.is_dir:
        for m in dir_readers():
            if m.sniff_dir(src.path):
                try:
                    return list(m.read_dir(src))
                except ReadError as e:
                    run.skipped.append(Skipped(src.display, str(e), error=True))
                except Exception as e:  # noqa: BLE001 - user data must never crash discovery
                    run.skipped.append(Skipped(src.display, f"could not be read: {type(e).__name__}: {e}", error=True))
                return []
        return []
    reader, reason = choose_reader(src)
    if reader is None:
        run.skipped.append(Skipped(src.display, reason, error=reason.startswith(("not readable", "binary content in"))))
        return []
    try:
        part = reader.read(src)
    except ReadError as e:
        run.skipped.append(Skipped(src.display, str(e), error=True))
        return []
    except PermissionError:
        run.skipped.append(Skipped(src.display, "not readable: permission denied", error=True))
        return []
    except MemoryError:
        run.skipped.append(Skipped(src.display, "too large to read in memory", error=True))
        return []
    except Exception as e:  # noqa: BLE001 - user data must never crash discovery
        run.skipped.append(Skipped(src.display, f"could not be read ({reader.NAME}): {type(e).__name__}: {e}", error=True))
        return []
    if part.is_empty:
        why = "; ".join(str(i.message) for i in part.issues[:2])
        run.skipped.append(Skipped(src.display, f"no training data found ({reader.NAME})" + (f": {why}" if why else "")))
        run.issues.extend(part.issues)
        return []
    return [part]


def _has_lines(s: Series) -> bool:
    return s.lines is not None and len(s.lines) > 0 and int(s.lines[-1]) > 0


def merge(parts: list[Part], run: Run) -> Run:
    """Merge partial runs: pick one series per canonical name, keep the rest as alternates."""
    candidates: dict[str, list[tuple[int, int, object]]] = {}
    order = 0
    for part in parts:
        n_series = 0
        for raw, b in part.series.items():
            if not len(b):
                continue
            canon = b.canonical or names.canonical(raw)
            s = b.build(
                canonical=canon,
                source=part.display,
                step_unit=part.units.get(raw, part.step_unit),
                step_source=part.step_sources.get(raw, part.step_source),
                reader=part.reader,
            )
            candidates.setdefault(canon, []).append((order, reader_rank(part.reader), s))
            order += 1
            n_series += 1
        run.sources.append(
            SourceInfo(path=part.display, reader=part.reader, series=n_series, events=len(part.events), detail=part.format)
        )
        if part.format:
            run.formats[part.display] = part.format
        run.events.extend(part.events)
        for k, v in part.config.items():
            run.config.setdefault(k, v)
        for k, v in part.summary.items():
            run.summary.setdefault(k, v)
        run.samples.extend(part.samples)
        run.code_facts.extend(part.code_facts)
        run.model = part.model.over(run.model) if part.model is not None else run.model
        run.predictions.extend(part.predictions)
        run.issues.extend(part.issues)
    for canon in sorted(candidates):
        cands = candidates[canon]
        # logged steps over line ordinals; then densest; then the more structured reader; then file order
        # logged steps over line ordinals; then densest; then a source whose evidence can quote
        # file:line (a text log) over a binary one (event files); then the more structured reader
        cands.sort(key=lambda c: (c[2].step_source != "logged", -len(c[2]), not _has_lines(c[2]), -c[1], c[0]))
        primary = cands[0][2]
        run.series[canon] = primary
        if len(cands) > 1:
            others = [c[2] for c in cands[1:]]
            run.alternates[canon] = others
            if primary.step_source == "logged" and others[0].step_source != "logged":
                reason = "logged steps preferred over line order"
            elif len(primary) > len(others[0]):
                reason = "densest series"
            elif _has_lines(primary) and not _has_lines(others[0]):
                reason = "same density; evidence can quote its lines"
            else:
                reason = "same density; the more structured source"
            run.choices.append(
                SeriesChoice(
                    name=canon,
                    used=f"{primary.source_name} in {primary.source}",
                    points=len(primary),
                    others=tuple(f"{o.source_name} in {o.source} ({len(o)} points)" for o in others),
                    reason=reason,
                )
            )
    run.events.sort(key=lambda e: (e.source, e.line or 0))
    return run
