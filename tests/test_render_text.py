"""The terminal view: golden text at 100 and 80 columns without colour, lines that fit, sources never
split, the sparkline with its onset mark, and clean output when piped or with NO_COLOR."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import traindx
from traindx.diagnosis import Diagnosis
from traindx.render.text import NONFINITE, SPARK, render_text, sparkline

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "golden" / "test_render_text"
CASES = {
    "example_lr_schedule": ROOT / "examples" / "lr_schedule_divergence",
    "zoo_hf_fp16": HERE / "zoo_gpu" / "hf_trainer_fp16_lr_too_high" / "run",
    "zoo_lightning_overfit": HERE / "zoo_gpu" / "lightning_csv_early_overfit" / "run",
}
CORPUS_CASES = {"corpus_09_nan": "09-nanogpt-termux-nan", "corpus_21_megatron": "21-megatron-tr1-13B-logbook-spike-recovered"}


def text_of(d: Diagnosis, width: int) -> str:
    buf = io.StringIO()
    render_text(d, Console(file=buf, width=width, no_color=True, force_terminal=False, highlight=False))
    return buf.getvalue()


def check_golden(path: Path, text: str, update: bool) -> None:
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not update:
            pytest.fail(f"{path} did not exist and was written; review and commit it")
    assert path.read_text(encoding="utf-8") == text, f"{path.name} changed; rerun with --update-golden and review the diff"


def check_layout(d: Diagnosis, text: str, width: int) -> None:
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    assert all(line == line.rstrip() for line in lines)
    assert "\x1b[" not in text
    for e in [e for h in d.root_causes for e in h.evidence] + [e for s in d.symptoms for e in s.evidence]:
        if len(e.source) <= width - 7:
            assert any(line.rstrip().endswith(e.source) for line in lines), e.source  # whole, at the end of a line


@pytest.fixture(scope="module")
def diagnoses() -> dict[str, Diagnosis]:
    return {name: traindx.diagnose(path) for name, path in CASES.items()}


@pytest.mark.parametrize("width", [100, 80])
@pytest.mark.parametrize("name", sorted(CASES))
def test_terminal_golden(name: str, width: int, diagnoses: dict[str, Diagnosis], update_golden: bool) -> None:
    d = diagnoses[name]
    text = text_of(d, width)
    check_layout(d, text, width)
    check_golden(GOLDEN / f"{name}_w{width}.txt", text, update_golden)


@pytest.mark.parametrize("width", [100, 80])
@pytest.mark.parametrize("name", sorted(CORPUS_CASES))
def test_terminal_golden_corpus(name: str, width: int, corpus: Path, update_golden: bool) -> None:
    d = traindx.diagnose(corpus / CORPUS_CASES[name])
    text = text_of(d, width)
    check_layout(d, text, width)
    check_golden(GOLDEN / f"{name}_w{width}.txt", text, update_golden)


def test_status_causes_and_onset_are_shown(diagnoses: dict[str, Diagnosis]) -> None:
    text = text_of(diagnoses["example_lr_schedule"], 100)
    lines = text.splitlines()
    assert lines[0] == "traindx · diagnosis complete"
    assert "1. lr_schedule · critical" in text and "█████████░ 0.93" in text
    spark = next(line for line in lines if line.startswith("  training loss  "))
    caret = lines[lines.index(spark) + 1]
    assert caret.rstrip().endswith("▲ divergence onset, step 222")
    assert spark[caret.index("▲")] in SPARK  # the caret sits under a point of the curve
    assert spark.rstrip().endswith("→ nan")
    assert "fix       Cap the schedule's peak" in text


def test_sparkline_shows_nan_and_keeps_shape_under_a_blow_up() -> None:
    v = np.concatenate([np.linspace(3, 1, 80), np.linspace(1, 2, 15), [1e24], [np.nan] * 4])
    s = sparkline(v, 20)
    assert len(s) == 20
    assert s.endswith(NONFINITE)
    assert s[0] == SPARK[-1] and SPARK.index(s[10]) < SPARK.index(s[0])  # the fall is visible despite the 1e24
    assert sparkline(np.array([np.nan] * 5), 10) == NONFINITE * 5
    assert sparkline(np.array([1.0]), 10) == ""


def test_sparkline_columns_follow_steps_unless_that_leaves_gaps() -> None:
    even = sparkline(np.array([1.0, 1.0, 5.0, 5.0]), 2, steps=np.array([0.0, 1.0, 2.0, 3.0]))
    assert even == SPARK[0] + SPARK[-1]
    # steps 0-3 then 100: by step, columns 1-3 would stay empty; equal-count columns are used instead
    s = sparkline(np.array([1, 1, 1, 1, 5.0]), 5, steps=np.array([0, 1, 2, 3, 100.0]))
    assert s == SPARK[0] * 4 + SPARK[-1]


def test_piped_output_has_no_escape_codes_and_fits_80_columns() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TERM")}
    res = subprocess.run(
        [sys.executable, "-m", "traindx", "diagnose", str(CASES["example_lr_schedule"]), "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "\x1b[" not in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 80


def test_no_color_keeps_the_words(diagnoses: dict[str, Diagnosis]) -> None:
    d = diagnoses["example_lr_schedule"]
    buf = io.StringIO()
    render_text(d, Console(file=buf, width=100, force_terminal=True, no_color=True, highlight=False))
    colored = buf.getvalue()
    assert "\x1b[31m" not in colored and "\x1b[1;31m" not in colored  # no red, bold may stay
    plain = text_of(d, 100)
    import re

    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain
