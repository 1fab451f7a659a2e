"""Path confinement of the agent tools: '..', symlinks out, absolute paths elsewhere are refused with a clear reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from traindx.agent import AgentInputError
from traindx.agent.paths import PathRefused, Roots


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """root/ with a run inside, and outside/ next to it holding a secret."""
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    (root / "run" / "train.log").write_text("step=1 loss=2.0\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.log").write_text("step=1 loss=1.0\n")
    return root, outside


def test_relative_and_absolute_paths_inside_are_resolved(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    roots = Roots([root])
    assert roots.resolve("run") == (root / "run").resolve()
    assert roots.resolve("run/train.log") == (root / "run" / "train.log").resolve()
    assert roots.resolve(str(root / "run")) == (root / "run").resolve()
    assert roots.display((root / "run" / "train.log").resolve()) == "run/train.log"


def test_dotdot_is_refused_even_when_it_comes_back_inside(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    roots = Roots([root])
    with pytest.raises(PathRefused, match=r"'\.\.' is not allowed"):
        roots.resolve("../outside/secret.log")
    with pytest.raises(PathRefused, match=r"'\.\.' is not allowed"):
        roots.resolve("run/../run/train.log")


def test_absolute_path_elsewhere_is_refused(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    with pytest.raises(PathRefused, match="outside the allowed roots") as e:
        Roots([root]).resolve(str(outside / "secret.log"))
    assert "--root" in str(e.value)


def test_symlink_out_is_refused(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    os.symlink(outside / "secret.log", root / "link.log")
    os.symlink(outside, root / "linkdir")
    roots = Roots([root])
    with pytest.raises(PathRefused, match="symlink .*outside the allowed roots"):
        roots.resolve("link.log")
    with pytest.raises(PathRefused, match="symlink .*outside the allowed roots"):
        roots.resolve("linkdir/secret.log")


def test_a_folder_holding_a_symlink_out_is_refused(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    os.symlink(outside / "secret.log", root / "run" / "more.log")
    with pytest.raises(PathRefused, match=r"contains more\.log, a symlink to .*secret\.log"):
        Roots([root]).resolve("run")


def test_a_chain_of_links_through_a_folder_inside_is_followed_to_its_end(layout: tuple[Path, Path]) -> None:
    """run/link -> other/ (inside the root), and other/secret.log -> outside: the readers would follow both."""
    root, outside = layout
    (root / "other").mkdir()
    os.symlink(outside / "secret.log", root / "other" / "secret.log")
    os.symlink(root / "other", root / "run" / "link")
    with pytest.raises(PathRefused, match=r"contains link/secret\.log, a symlink to .*outside"):
        Roots([root]).resolve("run")


def test_a_link_loop_inside_the_root_ends(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    os.symlink(root / "run", root / "run" / "again")
    assert Roots([root]).resolve("run") == (root / "run").resolve()


def test_symlinks_that_stay_inside_are_fine(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    os.symlink(root / "run" / "train.log", root / "alias.log")
    os.symlink(root / "run", root / "alias_run")
    roots = Roots([root])
    assert roots.resolve("alias.log") == (root / "run" / "train.log").resolve()
    assert roots.resolve("alias_run") == (root / "run").resolve()


def test_missing_empty_and_nul_paths(layout: tuple[Path, Path]) -> None:
    root, _ = layout
    roots = Roots([root])
    with pytest.raises(PathRefused, match="does not exist under the allowed roots"):
        roots.resolve("nope.log")
    with pytest.raises(PathRefused, match="empty path"):
        roots.resolve("  ")
    with pytest.raises(PathRefused, match="NUL"):
        roots.resolve("run\x00x")
    with pytest.raises(AgentInputError, match="no path given"):
        roots.resolve_all([])


def test_several_roots(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    roots = Roots([root, outside])
    assert roots.resolve("secret.log") == (outside / "secret.log").resolve()  # relative: tried in each root
    assert roots.resolve(str(outside / "secret.log")) == (outside / "secret.log").resolve()


def test_a_root_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(AgentInputError, match="not an existing folder"):
        Roots([tmp_path / "missing"])
