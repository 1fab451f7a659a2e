"""Checkpoints whose pickle would run code are refused, and nothing in them runs.

Each malicious pickle's ``__reduce__`` asks the unpickler to call ``open(path, "w")``:
had anything been executed, the canary file would exist. It must not, through any
path: the torch-free zip reader, the plain-pickle and pre-1.6 paths (torch.load with
weights_only=True), discover inside ``traindx diagnose``, and ``traindx model``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

import traindx  # noqa: E402
from traindx.cli.app import app  # noqa: E402
from traindx.model import load as mload  # noqa: E402


class WritesAFile:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple:
        return (open, (self.path, "w"))


class RunsSystem:
    def __reduce__(self) -> tuple:
        import os

        return (os.system, ("echo pwned > /dev/null",))


def _zip_ckpt(tmp: Path, canary: Path, name: str = "model.pt") -> Path:
    p = tmp / name
    torch.save({"weight": torch.zeros(2, 2), "payload": WritesAFile(canary)}, p)
    return p


def test_zip_checkpoint_with_code_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    p = _zip_ckpt(tmp_path, canary)
    with pytest.raises(mload.LoadError) as e:
        mload.load(p)
    msg = str(e.value)
    assert msg.startswith("needs trust") and "io.open" in msg and "never runs code" in msg
    assert not canary.exists()


@pytest.mark.parametrize("legacy", [False, True])
def test_plain_and_legacy_pickles_are_refused(tmp_path: Path, legacy: bool) -> None:
    canary = tmp_path / "canary.txt"
    p = tmp_path / "weights.bin"
    if legacy:
        torch.save({"w": torch.zeros(2), "payload": WritesAFile(canary)}, p, _use_new_zipfile_serialization=False)
    else:
        p.write_bytes(pickle.dumps({"w": [1.0], "payload": WritesAFile(canary)}, protocol=2))
    with pytest.raises(mload.LoadError, match="needs trust"):
        mload.load(p)
    assert not canary.exists()


def test_os_system_is_named_in_the_refusal(tmp_path: Path) -> None:
    p = tmp_path / "evil.pth"
    torch.save({"x": RunsSystem()}, p)
    with pytest.raises(mload.LoadError, match=r"needs trust: the pickle refers to (posix|os)\.system"):
        mload.load(p)


def test_pickled_module_needs_trust(tmp_path: Path) -> None:
    p = tmp_path / "full_model.pt"
    torch.save(torch.nn.Linear(2, 2), p)
    with pytest.raises(mload.LoadError, match="torch.nn.modules.linear.Linear"):
        mload.load(p)


def test_diagnose_refuses_quietly_and_reads_the_rest(tmp_path: Path) -> None:
    canary = tmp_path.parent / f"{tmp_path.name}-canary.txt"
    _zip_ckpt(tmp_path, canary)
    (tmp_path / "train.log").write_text("".join(f"step {i} loss {2.0 - i * 0.01:.3f}\n" for i in range(100)))
    d = traindx.diagnose([tmp_path])
    assert not canary.exists()
    assert d.run.has("loss/train")
    assert d.run.model is None
    skipped = {s.path: s for s in d.run.skipped}
    assert "model.pt" in skipped and not skipped["model.pt"].error
    assert any("needs trust" in str(i) for i in d.run.issues)


def test_cli_model_exits_2_with_one_line(tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    p = _zip_ckpt(tmp_path, canary)
    res = CliRunner().invoke(app, ["model", str(p)])
    assert res.exit_code == 2
    assert not canary.exists()
    assert "needs trust" in res.output and len(res.output.strip().splitlines()) == 1
