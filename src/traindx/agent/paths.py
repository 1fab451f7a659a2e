"""Path confinement: every path a tool receives must lie under one of the server's roots.

The roots are the folders given to ``traindx mcp --root`` (default: the working
directory). A path is refused, with a one-line reason, when

- it contains a ``..`` component (even one that would come back inside: the rule
  is simpler to state and to check than the exception);
- it is absolute and outside every root;
- it resolves (following symlinks) outside every root, although it is spelled
  inside one: a symlink out;
- it is a folder with a symlink somewhere below it that leads outside every root
  (the readers would follow it), also through a chain of links to folders that
  are themselves inside the roots;
- it does not exist.

Relative paths are taken from the first root, then from the others in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import AgentInputError

# A folder is scanned for symlinks that leave the roots; past this many entries it is refused
# rather than half-checked.
MAX_SCAN_ENTRIES = 200_000


class PathRefused(AgentInputError):
    """A path outside the allowed roots (or one that cannot be checked)."""


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


class Roots:
    """The folders a server may read; :meth:`resolve` turns a user path into a checked real path."""

    def __init__(self, roots: Sequence[str | os.PathLike[str]]) -> None:
        if not roots:
            raise AgentInputError("at least one root folder is needed")
        real: list[Path] = []
        spelled: list[Path] = []
        for r in roots:
            p = Path(r).expanduser()
            if not p.is_dir():
                raise AgentInputError(f"root {p} is not an existing folder")
            rp = p.resolve()
            if rp not in real:
                real.append(rp)
            spelled.extend(q for q in (rp, Path(os.path.abspath(p))) if q not in spelled)
        self.roots: tuple[Path, ...] = tuple(real)
        self._spelled: tuple[Path, ...] = tuple(spelled)  # the roots as given and as resolved, for the lexical test

    def __repr__(self) -> str:
        return f"Roots({', '.join(str(r) for r in self.roots)})"

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots)

    def contains(self, real: Path) -> bool:
        return any(_inside(real, r) for r in self.roots)

    def _candidates(self, given: Path) -> Iterable[Path]:
        if given.is_absolute():
            yield given
            return
        for r in self.roots:
            yield r / given

    def resolve(self, given: str, *, what: str = "path", scan: bool = True) -> Path:
        """The real path of ``given``, or :class:`PathRefused` with the reason.

        ``scan`` checks a folder's tree for symlinks that lead out of the roots.
        """
        if not isinstance(given, str) or not given.strip():
            raise PathRefused(f"{what}: an empty path was given")
        if "\x00" in given:
            raise PathRefused(f"{what} {given!r}: contains a NUL character")
        p = Path(given).expanduser()
        if ".." in p.parts:
            raise PathRefused(f"{what} {given!r}: '..' is not allowed; give a path under the allowed roots ({self.describe()})")
        first: Path | None = None
        for cand in self._candidates(p):
            lexical = Path(os.path.abspath(cand))
            if not any(_inside(lexical, r) for r in self._spelled):
                continue
            real = cand.resolve()
            if not self.contains(real):
                raise PathRefused(
                    f"{what} {given!r}: is a symlink (or lies under one) that leads to {real}, outside the allowed roots ({self.describe()})"
                )
            if real.exists():
                if scan and real.is_dir():
                    self._scan(real, given, what)
                return real
            if first is None:
                first = real
        if p.is_absolute() and first is None:
            raise PathRefused(f"{what} {given!r}: is outside the allowed roots ({self.describe()}); start the server with --root to allow it")
        raise PathRefused(f"{what} {given!r}: does not exist under the allowed roots ({self.describe()})")

    def check_spelling(self, given: str, *, what: str = "path") -> None:
        """Refuse ``given`` when its spelling alone leaves the roots (``..``, an absolute path elsewhere).

        For names that need not exist (a context package may list files that are not there):
        the answer must not tell whether something outside the roots exists.
        """
        p = Path(given).expanduser()
        if ".." in p.parts:
            raise PathRefused(f"{what} {given!r}: '..' is not allowed; give a path under the allowed roots ({self.describe()})")
        if p.is_absolute() and not any(_inside(Path(os.path.abspath(p)), r) for r in self._spelled):
            raise PathRefused(f"{what} {given!r}: is outside the allowed roots ({self.describe()}); start the server with --root to allow it")

    def resolve_all(self, given: Sequence[str], *, what: str = "path") -> list[Path]:
        if isinstance(given, str):
            given = [given]
        if not given:
            raise AgentInputError(f"no {what} given: pass at least one run folder or file")
        return [self.resolve(g, what=what) for g in given]

    def _scan(self, folder: Path, given: str, what: str) -> None:
        # the readers follow symlinked folders, so the scan does too: a link to a folder inside the roots
        # may itself hold a link that leaves them (each real folder is visited once, so loops end)
        n = 0
        seen: set[Path] = {folder.resolve()}
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            keep = []
            for d in dirnames:
                real_dir = (Path(dirpath) / d).resolve()
                if real_dir not in seen:
                    seen.add(real_dir)
                    keep.append(d)
            for name in dirnames + filenames:
                n += 1
                if n > MAX_SCAN_ENTRIES:
                    raise PathRefused(
                        f"{what} {given!r}: holds more than {MAX_SCAN_ENTRIES:,} entries, too many to check for symlinks that leave the roots; "
                        "give the run's subfolder or files instead"
                    )
                full = Path(dirpath) / name
                if full.is_symlink():
                    target = full.resolve()
                    if not self.contains(target):
                        rel = full.relative_to(folder).as_posix()
                        raise PathRefused(
                            f"{what} {given!r}: contains {rel}, a symlink to {target}, outside the allowed roots ({self.describe()})"
                        )
            dirnames[:] = keep

    def display(self, real: Path) -> str:
        """``real`` relative to the root that holds it (what the tools report back)."""
        for r in self.roots:
            if _inside(real, r):
                rel = real.relative_to(r).as_posix()
                return rel if len(self.roots) == 1 else f"{r}/{rel}" if rel != "." else str(r)
        return str(real)
