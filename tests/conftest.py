"""Shared test fixtures: the real-run corpus, and a guard that inputs stay untouched."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("TRAINDX_CORPUS", ROOT.parent / "shared" / "corpus"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False, help="rewrite the expected diagnoses (golden files) of the failure zoo")


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


def corpus_available() -> bool:
    return (CORPUS / "labels.json").is_file()


requires_corpus = pytest.mark.skipif(not corpus_available(), reason=f"real-run corpus not found at {CORPUS} (set TRAINDX_CORPUS)")


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not corpus_available():
        pytest.skip(f"real-run corpus not found at {CORPUS} (set TRAINDX_CORPUS)")
    return CORPUS


@pytest.fixture(scope="session")
def corpus_labels(corpus: Path) -> dict[str, dict]:
    return {c["case"]: c for c in json.loads((corpus / "labels.json").read_text())}


def tree_digest(path: Path) -> str:
    """A digest of every file name, size, mode and content under ``path`` (to prove nothing was written)."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        st = p.lstat()
        h.update(str(p.relative_to(path)).encode())
        h.update(str(st.st_mode).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()
