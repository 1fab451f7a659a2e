"""The PNG plots carry the diagnosis: marks at the onsets, spikes and first NaN, the best step, the LR
at the onset, the clipping threshold, per-layer heatmaps, loss scale, memory and step time.

The figures are inspected before they are saved (their texts, lines and data), so the tests check what
is drawn rather than pixels; the bytes are checked for determinism separately.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from runs import make_run, noisy

import traindx
from traindx.engine import diagnose_run
from traindx.render import plots
from traindx.run import Event, Run, Series

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lr_schedule_divergence"

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def example() -> traindx.Diagnosis:
    return traindx.diagnose(EXAMPLE)


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Figures the plot functions would save, kept for inspection."""
    got: list[Any] = []
    monkeypatch.setattr(plots, "save", lambda fig, path: got.append(fig))
    return got


def _texts(fig: Any) -> list[str]:
    out = [t.get_text() for ax in fig.axes for t in ax.texts]
    out += [ax.get_title(loc="left") for ax in fig.axes]
    for leg in fig.legends + [ax.get_legend() for ax in fig.axes if ax.get_legend()]:
        out += [t.get_text() for t in leg.get_texts()]
    return out


def _series(n: int, name: str, values: np.ndarray, steps: np.ndarray | None = None) -> Series:
    st = np.arange(n, dtype=np.float64) if steps is None else steps
    return Series(name=name, steps=st, values=values, source="train.log", source_name=name, lines=np.arange(1, n + 1))


def test_loss_plot_marks_what_the_diagnosis_found(example: traindx.Diagnosis, figures: list[Any]) -> None:
    assert plots.plot_loss(example, Path("unused.png"))
    (fig,) = figures
    texts = _texts(fig)
    assert "divergence onset · step 222" in texts
    assert "first NaN · step 302" in texts
    assert "best train loss · step 154" in texts
    assert "LR 0.2775 at divergence onset" in texts  # diverged while the LR climbed
    assert "training loss: NaN (10 points)" in texts  # non-finite values are shown and counted, not dropped
    assert "training loss spikes (3)" in texts
    loss_ax, lr_ax = fig.axes[:2]
    # the blow-up to 8.8e24 is cut off so the onset stays readable, and said so in the legend
    assert loss_ax.get_ylim()[1] < 10
    assert any(t.startswith("training loss off the scale (up to 8.79e+24)") for t in texts)
    assert lr_ax.get_yscale() == "log"  # the LR warmup spans 0.00125-0.39
    onsets = [line.get_xdata()[0] for line in loss_ax.get_lines() if line.get_linestyle() == "--"]
    assert 222 in onsets


def test_val_loss_best_step_is_the_early_stopping_point(corpus: Path, figures: list[Any]) -> None:
    d = traindx.diagnose(corpus / "11-wandb-nanogpt-shakespeare-overfit")
    assert plots.plot_loss(d, Path("unused.png"))
    texts = _texts(figures[0])
    assert "best val loss (early stop) · step 1250" in texts
    assert "2.146" in texts  # the best validation value is written at its star


def test_grad_norm_plot_shows_the_clipping_threshold_and_spikes(figures: list[Any]) -> None:
    n = 400
    g = noisy(n, 2.0, 1.0, 0.05, seed=3)
    g[300] = 80.0
    run = make_run(config={"trainer.max_grad_norm": 1.0}, loss_train=(range(n), noisy(n, 3.0, 1.0, 0.02)), grad_norm=(range(n), g))
    d = diagnose_run(run)
    assert any(s.id == "gradient_explosion" for s in d.symptoms)
    assert plots.plot_grad_norm(d, Path("unused.png"))
    texts = _texts(figures[0])
    assert any(t.startswith("clipping threshold 1 (trainer.max_grad_norm = 1.0, config.yaml:1)") for t in texts)
    assert "gradient norm spikes (1)" in texts
    ax = figures[0].axes[0]
    assert any(list(line.get_ydata()) == [1.0, 1.0] for line in ax.get_lines())


def test_clipping_threshold_far_above_the_norms_is_named_not_drawn(figures: list[Any]) -> None:
    n = 50
    run = make_run(config={"max_grad_norm": 1e9}, loss_train=(range(n), noisy(n, 3.0, 1.0, 0.02)), grad_norm=(range(n), noisy(n, 2.0, 1.0, 0.05)))
    assert plots.plot_grad_norm(diagnose_run(run), Path("unused.png"))
    texts = _texts(figures[0])
    assert any("above every logged norm, never active" in t for t in texts)
    assert figures[0].axes[0].get_ylim()[1] < 100


def test_gradient_flow_heatmap_orders_layers_and_flags_non_finite(figures: list[Any]) -> None:
    n = 600
    run = make_run(loss_train=(range(n), noisy(n, 3.0, 1.0, 0.02)))
    for i in (0, 1, 2, 10):
        v = np.full(n, 10.0 ** (-i / 3))
        if i == 2:
            v[500:] = np.nan
        run.series[f"grad_norm/layers.{i}.weight"] = _series(n, f"grad_norm/layers.{i}.weight", v)
    d = diagnose_run(run)
    assert plots.plot_gradient_flow(d, Path("unused.png"))
    ax = figures[0].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["layers.0.weight", "layers.1.weight", "layers.2.weight", "layers.10.weight"]
    grid, bad = ax.images[0].get_array(), ax.images[1].get_array()
    assert grid.shape[0] == 4 and grid.shape[1] <= 300
    assert np.isclose(float(grid[0, 0]), 0.0) and np.isclose(float(grid[3, 0]), -10 / 3)
    assert bool(bad[2, -1]) and not np.ma.is_masked(bad[2, -1]) and np.ma.is_masked(bad[0, -1])
    assert "non-finite (NaN/inf)" in _texts(figures[0])


def test_no_per_layer_norms_no_heatmap(example: traindx.Diagnosis) -> None:
    assert not plots.plot_gradient_flow(example, Path("unused.png"))


def test_loss_scale_plot_with_skipped_steps_and_overflows(figures: list[Any]) -> None:
    n = 200
    scale = np.full(n, 65536.0)
    scale[120:] = 2.0 ** np.maximum(0, 16 - np.arange(80))
    skipped = np.zeros(n)
    skipped[120:140] = 1
    run = make_run(loss_train=(range(n), noisy(n, 3.0, 1.0, 0.02)))
    run.series["loss_scale"] = _series(n, "loss_scale", scale)
    run.series["skipped_steps"] = _series(n, "skipped_steps", skipped)
    run.events.extend(Event("loss_scale_overflow", f"Gradient overflow. Skipping step, reducing loss scale to {2 ** (16 - k)}", "train.log", 200 + k, 120.0 + k) for k in range(5))
    d = diagnose_run(run)
    assert plots.plot_loss_scale(d, Path("unused.png"))
    fig = figures[0]
    texts = _texts(fig)
    assert "overflow messages (5)" in texts and "skipped steps per logged interval" in texts
    assert fig.axes[0].get_yscale() == "log"


def test_memory_and_step_time_panels(figures: list[Any]) -> None:
    n = 300
    run = make_run(loss_train=(range(n), noisy(n, 3.0, 1.0, 0.02)))
    run.series["memory/allocated"] = _series(n, "memory/allocated", np.linspace(10, 30, n))
    run.series["step_time"] = _series(n, "step_time", np.full(n, 0.25))
    d = diagnose_run(run)
    assert plots.plot_system(d, Path("unused.png"))
    fig = figures[0]
    assert [ax.get_ylabel() for ax in fig.axes] == ["memory/allocated", "step_time"]
    if any(s.id == "memory_growth" for s in d.symptoms):
        assert any("memory growth" in t for t in _texts(fig))


def test_a_million_points_are_drawn_from_a_few_thousand(figures: list[Any]) -> None:
    n = 1_000_000
    rng = np.random.default_rng(0)
    loss = 3 * np.exp(-np.arange(n) / 2e5) + 0.5 + 0.05 * rng.standard_normal(n)
    loss[700_000] = 40.0
    loss[900_000:] = np.nan
    run = Run()
    run.series["loss/train"] = _series(n, "loss/train", loss)
    d = diagnose_run(run)
    assert plots.plot_loss(d, Path("unused.png"))
    ax = figures[0].axes[0]
    curve = ax.get_lines()[0]
    x, y = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
    assert len(x) <= 2 * plots.MAX_DRAWN + 2
    assert 40.0 in y  # the one-step spike survives downsampling
    crosses = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert crosses and np.asarray(crosses[0].get_xdata())[0] == 900_000  # the first NaN, at its step
    assert "first NaN/inf · step 900000" in _texts(figures[0])


def test_png_bytes_are_deterministic_and_carry_no_software_tag(example: traindx.Diagnosis, tmp_path: Path) -> None:
    digests = []
    for i in range(2):
        out = tmp_path / str(i)
        out.mkdir()
        written, errors = plots.render_plots(example, out)
        assert errors == [] and set(written) == {"loss_visualization", "gradient_norm"}
        data = (out / "loss_plot.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and b"matplotlib" not in data
        digests.append(hashlib.sha256(data).hexdigest())
    assert digests[0] == digests[1]


def test_a_failing_plot_is_reported_and_the_others_are_drawn(example: traindx.Diagnosis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(d: Any, path: Path) -> bool:
        raise ValueError("boom")

    monkeypatch.setitem(plots.PLOTTERS, "gradient_norm", broken)
    written, errors = plots.render_plots(example, tmp_path)
    assert written == {"loss_visualization": "loss_plot.png"}
    assert errors == ["plot gradient_norm: internal error: ValueError: boom"]


def test_dollar_signs_in_names_do_not_become_mathtext(tmp_path: Path) -> None:
    n = 30
    run = make_run(loss_train=(range(n), noisy(n, 3.0, 1.0, 0.02)))
    s = run.series["loss/train"]
    run.series["loss/train"] = Series(s.name, s.steps, s.values, "cost $x_1$ and $.log", "loss $", s.lines)
    assert plots.plot_loss(diagnose_run(run), tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_confusion_matrix_when_predictions_exist(tmp_path: Path, figures: list[Any]) -> None:
    rows = []
    for i in range(600):
        t = "fraud" if i % 30 == 0 else "ok"
        rows.append((t, "ok" if t == "fraud" and i % 120 else t))
    (tmp_path / "predictions.csv").write_text("y_true,y_pred\n" + "".join(f"{t},{p}\n" for t, p in rows))
    d = traindx.diagnose([tmp_path])
    assert any(s.id == "minority_class_failure" for s in d.symptoms)
    assert plots.plot_confusion(d, Path("unused.png"))
    ax = figures[0].axes[0]
    labels = {t.get_text(): t.get_color() for t in ax.get_yticklabels()}
    assert labels["fraud (n=20, recall 25%)"] == plots.NONFINITE_COLOR  # the failing class stands out
    assert labels["ok (n=580, recall 100%)"] != plots.NONFINITE_COLOR
    assert sorted(t.get_text() for t in ax.texts) == ["0", "15", "5", "580"]
    assert "accuracy 98%" in figures[0].get_suptitle()


def test_no_predictions_no_confusion_matrix(example: traindx.Diagnosis) -> None:
    assert not plots.plot_confusion(example, Path("unused.png"))


def test_parameter_distribution_when_a_model_summary_exists(figures: list[Any]) -> None:
    from types import SimpleNamespace

    run = make_run(loss_train=(range(50), noisy(50, 3.0, 1.0, 0.02)))
    groups = {"embedding": 38_597_376, "attention": 28_311_552, "mlp": 56_623_104, "norm": 38_400, "head": 0}
    layers = {"wte": 38_597_376, **{f"h.{i}": 7_087_872 for i in range(12)}, "ln_f": 1536}
    d = diagnose_run(run)
    d.run.model = SimpleNamespace(groups={k: v for k, v in groups.items() if v}, layers=layers, total=sum(groups.values()), source="model.safetensors")  # type: ignore[attr-defined]
    assert plots.plot_params(d, Path("unused.png"))
    fig = figures[0]
    texts = _texts(fig)
    assert any(t.startswith("Parameters: 124M in 4 groups (model.safetensors)") for t in texts)
    assert "31.2% (38.6M)" in texts and "45.8% (56.6M)" in texts
    assert len(fig.axes[1].patches) == 14  # one bar per layer


def test_no_model_summary_no_parameter_plot(example: traindx.Diagnosis) -> None:
    assert not plots.plot_params(example, Path("unused.png"))
