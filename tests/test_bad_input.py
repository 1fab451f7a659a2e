"""Bad input: one clear line naming the file and the problem, a partial diagnosis of the rest,
exit 2 only when nothing at all could be read, never a traceback, never a write into the input."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traindx.cli.app import app

from conftest import tree_digest

runner = CliRunner()

GOOD_CSV = "epoch,loss,val_loss\n" + "".join(f"{e},{1.0 / (e + 1):.4f},{1.1 / (e + 1) + 0.01 * e:.4f}\n" for e in range(8))


def _run(args: list[str]):
    res = runner.invoke(app, ["diagnose", *args])
    assert "Traceback" not in res.stdout + res.stderr
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


def _folder_with_good_csv(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text(GOOD_CSV)
    return run


def _warnings(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("traindx: warning:")]


def test_path_that_does_not_exist(tmp_path: Path) -> None:
    res = _run([str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [f"traindx: error: {tmp_path / 'nope'}: path does not exist"]


def test_missing_path_next_to_a_readable_one(tmp_path: Path) -> None:
    run = _folder_with_good_csv(tmp_path)
    res = _run([str(run), str(tmp_path / "missing.log"), "--format", "json"])
    assert res.exit_code == 0
    assert any("missing.log: path does not exist" in w for w in _warnings(res.stderr))
    assert json.loads(res.stdout)["run"]["sources"][0]["path"] == "metrics.csv"


def test_empty_file_alone_is_exit_2_naming_it(tmp_path: Path) -> None:
    p = tmp_path / "train.log"
    p.write_text("")
    res = _run([str(p)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "train.log" in lines[0] and "empty" in lines[0]


@pytest.mark.parametrize(
    "name, content, expect",
    [
        ("trainer_state.json", '{"log_history": [{"loss": 2.0, "step": 1}, {"loss": 1.', "trainer_state.json"),
        ("train.log", bytes(range(256)) * 64, "binary content"),
        ("metrics.jsonl", b"\xff\xfe\x00garbage\x00\x01\x02" * 100, "metrics.jsonl"),
    ],
)
def test_broken_file_next_to_a_good_one(tmp_path: Path, name: str, content, expect: str) -> None:
    run = _folder_with_good_csv(tmp_path)
    p = run / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content)
    before = tree_digest(run)
    res = _run([str(run), "--format", "json"])
    assert res.exit_code == 0, res.stderr
    warnings = _warnings(res.stderr)
    assert any(expect in w for w in warnings), res.stderr
    assert all(w.count("\n") == 0 for w in warnings)
    data = json.loads(res.stdout)
    assert any(s["path"] == "metrics.csv" for s in data["run"]["sources"])
    assert tree_digest(run) == before


def test_wrongly_encoded_log_is_read_and_said(tmp_path: Path) -> None:
    p = tmp_path / "train.log"
    lines = [f"step={i} loss={3.0 - i * 0.01:.4f} lr=1e-3 note=caf\xe9" for i in range(50)]
    p.write_bytes("\n".join(lines).encode("latin-1"))
    res = _run([str(p), "--format", "json"])
    assert res.exit_code == 0
    assert any("Latin-1" in w for w in _warnings(res.stderr))
    data = json.loads(res.stdout)
    assert "loss/train" in data["run"]["series"]


def test_a_50mb_single_line(tmp_path: Path) -> None:
    run = _folder_with_good_csv(tmp_path)
    with open(run / "dump.log", "w") as f:
        chunk = "x" * (1 << 20)
        for _ in range(50):
            f.write(chunk)
    res = _run([str(run), "--format", "json"])
    assert res.exit_code == 0
    assert any("dump.log" in w and "longer than" in w for w in _warnings(res.stderr)), res.stderr


def test_ten_thousand_unrelated_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    for i in range(10_000):
        (junk / f"img_{i:05d}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    res = _run([str(junk)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "10000 files skipped" in lines[0] and "image" in lines[0]


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _folder_with_good_csv(tmp_path)
    secret = run / "secret.log"
    secret.write_text("step=1 loss=2.0\nstep=2 loss=1.9\n")
    if os.geteuid() != 0:
        secret.chmod(0)
    else:  # root reads everything: make the OS refuse this one file
        real_open = builtins.open

        def guarded(file, *a, **k):
            if os.fspath(file) == os.fspath(secret):
                raise PermissionError(13, "Permission denied", os.fspath(file))
            return real_open(file, *a, **k)

        monkeypatch.setattr(builtins, "open", guarded)
    try:
        res = _run([str(run), "--format", "json"])
    finally:
        secret.chmod(0o644)
    assert res.exit_code == 0
    assert any("secret.log" in w and "permission denied" in w for w in _warnings(res.stderr)), res.stderr
    data = json.loads(res.stdout)
    assert any(s["path"] == "secret.log" and s["error"] for s in data["run"]["skipped"])


def test_truncated_trainer_state_alone_still_reports_what_it_can(tmp_path: Path) -> None:
    p = tmp_path / "trainer_state.json"
    entries = ",".join(f'{{"loss": {2.0 - i * 0.01}, "step": {i}}}' for i in range(1, 40))
    p.write_text('{"log_history": [' + entries + ', {"loss": 1.')
    res = _run([str(p)])
    assert "Traceback" not in res.stderr
    assert res.exit_code in (0, 2)
    assert "trainer_state.json" in res.stderr
