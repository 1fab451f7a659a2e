"""report.md: golden files for real runs, plots linked by relative path, run-derived text kept literal."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_render_text import check_golden

import traindx
from traindx.render.markdown import code, md, to_markdown
from traindx.report import write_reports

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "golden" / "test_render_markdown"
CASES = {
    "example_lr_schedule": ROOT / "examples" / "lr_schedule_divergence",
    "zoo_hf_fp16": HERE / "zoo_gpu" / "hf_trainer_fp16_lr_too_high" / "run",
    "zoo_oom": HERE / "zoo_gpu" / "oom_batch_too_large" / "run",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_report_md_golden(name: str, tmp_path: Path, update_golden: bool) -> None:
    d = traindx.diagnose(CASES[name])
    write_reports(d, tmp_path)
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    for key in ("loss_visualization", "gradient_norm", "system_metrics"):
        if key in d.analysis_artifacts:
            target = d.analysis_artifacts[key]
            assert f"]({target})" in text and (tmp_path / target).is_file()  # relative, beside report.md
    check_golden(GOLDEN / f"{name}.md", text, update_golden)


def test_report_md_golden_corpus(corpus: Path, tmp_path: Path, update_golden: bool) -> None:
    d = traindx.diagnose(corpus / "11-wandb-nanogpt-shakespeare-overfit")
    write_reports(d, tmp_path)
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    # the W&B run file holds the LR that output.log lacks: it is read and listed as a series
    assert "| `lr` | 21 | step 0-5000 |" in text
    assert "no learning rate was logged" not in text
    check_golden(GOLDEN / "corpus_11_overfit.md", text, update_golden)


def test_run_text_cannot_become_markup() -> None:
    assert md("<script>alert(1)</script> *bold* [x](http://e) `c`") == r"&lt;script&gt;alert(1)&lt;/script&gt; \*bold\* \[x\](http://e) \`c\`"
    assert md("two\nlines") == "two lines"
    assert code("a`b") == "``a`b``" and code("`x`") == "`` `x` ``"


def test_without_out_no_plot_links_but_what_is_missing() -> None:
    text = to_markdown(traindx.diagnose(CASES["example_lr_schedule"]))
    assert "![" not in text and "## Plots" not in text  # nothing drawn, nothing missing
    text = to_markdown(traindx.diagnose(CASES["zoo_oom"]))
    assert "![" not in text and "- Not shown: no validation loss was logged" in text
