"""Speed of the tracking-system readers against the systems' own readers, measured in one run.

1. **TensorBoard**: an event file of ``--scalars`` scalars (default 1,000,000:
   four tags, old-style ``simple_value`` records laid out byte for byte as
   torch's ``SummaryWriter`` writes them, with one NaN and one spike planted),
   read by

   * ``traindx diagnose FILE --format json`` (end to end: start, imports,
     reading, every check, rendering) and ``discover([FILE])`` alone;
   * ``tbparse.SummaryReader(FILE).scalars`` (a pandas DataFrame);
   * tensorboard's ``EventAccumulator`` with ``size_guidance={"scalars": 0}``
     (lossless) and with its default (which keeps 10,000 points per tag).

   The table says how many points each kept and whether the NaN and the
   spike survived. The bar: traindx at least 10x faster than tbparse, lossless.

2. **W&B**: an offline run of ``--wandb-steps`` steps (default 100,000)
   written by ``wandb`` itself (``WANDB_MODE=offline``; it takes a minute),
   read by ``traindx diagnose`` and ``discover`` and by wandb's own offline
   inspector, ``wandb leet inspect --json`` (every record) and ``--summary
   --json``.

Every reader runs as a child process (wall time from its start, imports
included; peak RSS from ``os.wait4``), best of ``--repeat``. Files go to
``bench/out/tracking`` (kept with ``--keep`` for a rerun).

Usage::

    python bench/tracking_speed.py
    python bench/tracking_speed.py --scalars 200000 --wandb-steps 10000 --repeat 1
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from traindx.ingest.protowire import enc_bytes, enc_double, enc_int
from traindx.ingest.tensorboard_records import encode_record

TAGS = ("train/loss", "train/grad_norm", "train/learning_rate", "eval/loss")
SPIKE = 1e6


def write_events(path: Path, n: int) -> None:
    """``n`` scalars over four tags, as ``Event{wall_time, step, summary{value{tag, simple_value}}}`` records."""
    per_tag = n // len(TAGS)
    nan_at, spike_at = int(per_tag * 0.49), int(per_tag * 0.8)  # in train/loss
    out = bytearray(encode_record(enc_double(1, 1.7e9) + enc_bytes(3, "brain.Event:2")))
    f32 = struct.Struct("<f")
    for step in range(per_tag):
        for j, tag in enumerate(TAGS):
            v = 2.0 + 8.0 * math.exp(-step / 50_000) + 0.01 * j
            if j == 0 and step == nan_at:
                v = math.nan
            if j == 0 and step == spike_at:
                v = SPIKE
            value = enc_bytes(1, tag) + b"\x15" + f32.pack(v)
            out += encode_record(enc_double(1, 1.7e9 + step * 0.01) + enc_int(2, step) + enc_bytes(5, enc_bytes(1, value)))
    path.write_bytes(bytes(out))


WANDB_SCRIPT = """
import math, sys
import wandb
n = int(sys.argv[1])
run = wandb.init(project="bench", dir=sys.argv[2], config={"lr": 3e-4})
for i in range(n):
    run.log({"train/loss": math.nan if i == n // 2 else 2.0 + 8.0 * math.exp(-i / 20000), "lr": 3e-4, "grad_norm": 1.0})
run.finish()
"""

CHILD = {
    "traindx diagnose": None,  # the CLI
    "traindx discover": "import sys, traindx; r = traindx.load_run(sys.argv[1]); s = r.series; print(sum(len(x) for x in s.values()), sum(int((x.values != x.values).sum()) for x in s.values()), max(float(x.values[x.values == x.values].max()) for x in s.values()))",
    "tbparse": "import sys, warnings; warnings.simplefilter('ignore'); import tbparse; df = tbparse.SummaryReader(sys.argv[1]).scalars; print(len(df), int(df['value'].isna().sum()), float(df['value'].max()))",
    "EventAccumulator lossless": "import sys, math; from tensorboard.backend.event_processing.event_accumulator import EventAccumulator as E; a = E(sys.argv[1], size_guidance={'scalars': 0}); a.Reload(); v = [e.value for t in a.Tags()['scalars'] for e in a.Scalars(t)]; print(len(v), sum(map(math.isnan, v)), max(x for x in v if x == x))",
    "EventAccumulator default": "import sys, math; from tensorboard.backend.event_processing.event_accumulator import EventAccumulator as E; a = E(sys.argv[1]); a.Reload(); v = [e.value for t in a.Tags()['scalars'] for e in a.Scalars(t)]; print(len(v), sum(map(math.isnan, v)), max(x for x in v if x == x))",
}


def traindx_cli() -> list[str]:
    exe = Path(sys.executable).with_name("traindx")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "traindx.cli.app"]


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS in MB (of this child alone), exit code, stdout."""
    start = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env) as proc:
        out = proc.stdout.read() if proc.stdout else b""  # type: ignore[union-attr]
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024.0, proc.returncode, out.decode(errors="replace")


def best(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> tuple[float, float, int, str]:
    runs = [run_child(cmd, env) for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def table(title: str, rows: list[tuple[str, float, float, str]], ref: str) -> str:
    base = {name: s for name, s, _, _ in rows}
    lines = [f"### {title}", "", "| reader | s | peak RSS MB | x traindx end to end | kept |", "|---|---|---|---|---|"]
    for name, s, rss, kept in rows:
        lines.append(f"| {name} | {s:.2f} | {rss:.0f} | {s / base[ref]:.1f} | {kept} |")
    return "\n".join(lines)


def bench_tensorboard(work: Path, n: int, repeat: int) -> str:
    path = work / f"events.out.tfevents.1700000000.bench.{n}"
    if not path.exists():
        t = time.perf_counter()
        write_events(path, n)
        print(f"wrote {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    rows = []
    for name, code in CHILD.items():
        if code is None:
            cmd = [*traindx_cli(), "diagnose", str(path), "--format", "json", "--quiet"]
        else:
            cmd = [sys.executable, "-c", code, str(path)]
        s, rss, rc, out = best(cmd, 1 if name.startswith(("tbparse", "EventAccumulator")) else repeat)
        if rc != 0:
            rows.append((name, s, rss, f"failed (exit {rc})"))
            continue
        kept = ""
        if code is not None:
            pts, nans, top = out.split()[:3]
            kept = f"{int(pts):,} points, NaN {'kept' if int(nans) else 'lost'}, spike {'kept' if float(top) >= SPIKE else 'lost'}"
        else:
            kept = "(diagnosis JSON)"
        rows.append((name, s, rss, kept))
        print(f"{name}: {s:.2f} s", file=sys.stderr)
    return table(f"TensorBoard: {n:,} scalars, {path.stat().st_size / 1e6:.1f} MB", rows, "traindx diagnose")


def bench_wandb(work: Path, steps: int, repeat: int) -> str:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DISABLE_GIT="true")
    root = work / f"wandb-{steps}"
    runs = sorted((root / "wandb").glob("offline-run-*")) if root.exists() else []
    if not runs:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", WANDB_SCRIPT, str(steps), str(root)], env=env, check=True)
        print(f"wandb wrote {steps:,} steps in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        runs = sorted((root / "wandb").glob("offline-run-*"))
    (wfile,) = runs[-1].glob("*.wandb")
    wandb_exe = str(Path(sys.executable).with_name("wandb"))
    cmds = {
        "traindx diagnose": [*traindx_cli(), "diagnose", str(wfile), "--format", "json", "--quiet"],
        "traindx discover": [sys.executable, "-c", CHILD["traindx discover"], str(wfile)],
        "wandb leet inspect --json": [wandb_exe, "leet", "inspect", "--json", str(wfile)],
        "wandb leet inspect --summary --json": [wandb_exe, "leet", "inspect", "--summary", "--json", str(wfile)],
    }
    rows = []
    for name, cmd in cmds.items():
        s, rss, rc, out = best(cmd, repeat, env)
        kept = "" if rc == 0 else f"failed (exit {rc})"
        if rc == 0 and name == "traindx discover":
            pts, nans, _ = out.split()[:3]
            kept = f"{int(pts):,} points, NaN {'kept' if int(nans) else 'lost'}"
        elif rc == 0 and name == "wandb leet inspect --json":
            kept = f"{out.count(chr(34) + 'type' + chr(34) + ':' + chr(34) + 'history')} history records printed"
        rows.append((name, s, rss, kept))
        print(f"{name}: {s:.2f} s", file=sys.stderr)
    return table(f"W&B: an offline run of {steps:,} steps, {wfile.stat().st_size / 1e6:.1f} MB", rows, "traindx diagnose")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scalars", type=int, default=1_000_000)
    ap.add_argument("--wandb-steps", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of the traindx and wandb readers; the best is kept (tbparse and EventAccumulator run once)")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "tracking")
    ap.add_argument("--keep", action="store_true", help="keep the generated files for a rerun")
    ap.add_argument("--only", choices=("tensorboard", "wandb"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        if args.only != "wandb":
            print(bench_tensorboard(args.out, args.scalars, args.repeat) + "\n")
        if args.only != "tensorboard":
            print(bench_wandb(args.out, args.wandb_steps, args.repeat) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(args.out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
