"""Time to draw each annotated plot of a long run, against naive matplotlib on the same data, in one run.

A synthetic run of ``--points`` steps (default 10,000,000) holds what the plots
draw: training and validation loss (a one-step spike and a NaN tail planted in
the training loss), the LR, the global gradient norm, 24 per-layer gradient
norms every 1,000 steps, the loss scale, memory and step time. The run is
diagnosed once (not timed); then every plot of the report is drawn to a PNG,
best of ``--repeat``. The baseline, in the same process: ``ax.plot`` of the
raw training loss (every point) saved as a PNG, which is what a script that
does not downsample pays. Bar: each plot under a second; the spike and the NaN
must still show (the drawn loss keeps the spike's value: checked here).

Usage::

    python bench/plot_speed.py [--points 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from traindx.engine import diagnose_run  # noqa: E402
from traindx.render import plots  # noqa: E402
from traindx.run import Run, Series  # noqa: E402


def series(name: str, values: np.ndarray, steps: np.ndarray) -> Series:
    return Series(name=name, steps=steps.astype(np.float64), values=values.astype(np.float64), source="train.log", source_name=name, lines=np.arange(1, len(values) + 1, dtype=np.int64))


def make_run(n: int) -> Run:
    rng = np.random.default_rng(0)
    steps = np.arange(n, dtype=np.float64)
    loss = 3 * np.exp(-steps / (n / 5)) + 0.5 + 0.05 * rng.standard_normal(n)
    loss[int(n * 0.7)] = 400.0
    loss[int(n * 0.9):] = np.nan
    run = Run()
    run.series["loss/train"] = series("loss/train", loss, steps)
    ev = np.arange(0, n, max(1, n // 200), dtype=np.float64)
    run.series["loss/val"] = series("loss/val", 3 * np.exp(-ev / (n / 5)) + 0.6, ev)
    run.series["lr"] = series("lr", np.minimum(steps / (n / 20), 1.0) * 3e-4, steps)
    gn = np.abs(1 + 0.2 * rng.standard_normal(n))
    gn[int(n * 0.7)] = 80.0
    run.series["grad_norm"] = series("grad_norm", gn, steps)
    lay = np.arange(0, n, 1000, dtype=np.float64)
    for i in range(24):
        run.series[f"grad_norm/layer{i}"] = series(f"grad_norm/layer{i}", np.abs(0.1 * (i + 1) + 0.01 * rng.standard_normal(len(lay))), lay)
    run.series["loss_scale"] = series("loss_scale", 2.0 ** (16 - (steps > n * 0.6) - (steps > n * 0.65)), steps)
    run.series["memory/allocated"] = series("memory/allocated", 2e9 + steps * 10.0, steps)
    run.series["step_time_ms"] = series("step_time_ms", 100 + 5 * rng.standard_normal(n), steps)
    return run


def best(fn, repeat: int) -> float:
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    run = make_run(args.points)
    d = diagnose_run(run)
    out = Path(tempfile.mkdtemp(prefix="traindx-plot-bench-"))
    from matplotlib.figure import Figure

    raw = run.series["loss/train"]

    def naive() -> None:
        fig = Figure(figsize=(10, 4))
        ax = fig.subplots()
        ax.plot(raw.steps, raw.values, lw=1)
        fig.savefig(out / "naive.png", dpi=110)

    base = best(naive, args.repeat)
    print(f"{args.points:,} steps; baseline (ax.plot of every training-loss point, saved): {base:.2f} s")
    print(f"{'plot':<16} {'s':>6} {'x baseline':>11}  under 1 s")
    for name, fn in (("loss", plots.plot_loss), ("grad_norm", plots.plot_grad_norm), ("gradient_flow", plots.plot_gradient_flow), ("loss_scale", plots.plot_loss_scale), ("system", plots.plot_system)):
        drawn = fn(d, out / f"{name}.png")
        t = best(lambda: fn(d, out / f"{name}.png"), args.repeat)
        print(f"{name:<16} {t:6.2f} {t / base:11.3f}  {'yes' if t < 1 else 'NO'}{'' if drawn else ' (not drawn)'}")
    ax = Figure().subplots()
    got = plots.draw_series(ax, raw, color="C0")
    peak = max(float(np.nanmax(line.get_ydata())) for line in ax.get_lines())
    print(f"spike kept in the drawn loss: {'yes' if peak == 400.0 else 'NO'} (max drawn {peak:g}); drawn object: {type(got).__name__}")


if __name__ == "__main__":
    main()
