"""Speed of the printed-log reader on big synthetic logs, end to end.

For each common format this writes a log of ``--lines`` lines (default
1,000,000) into ``bench/out/`` (or ``--out``), then measures, in one run:

* the baseline: a Python loop that only reads the file's lines
  (``for line in open(path): pass``), in this process;
* ``traindx diagnose PATH --format json`` as a subprocess when the ``traindx``
  command works, else ``traindx.ingest.discover.discover([path])`` in a child
  Python process (the table says which);
* lines/s, MB/s, the child's peak RSS (``os.wait4`` rusage of that child)
  and the ratio to the baseline;
* the same for reading alone (``discover([path])`` in a child Python: the
  readers and the merge, no checks), so that the reader's share of the time
  and memory is seen apart from the checks'.

See ``bench/README.md`` for how to read the table and what bounds it.

Usage::

    python bench/log_speed.py                 # 1,000,000 lines per format
    python bench/log_speed.py --lines 200000 --formats nanogpt,megatron
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

HERE = Path(__file__).resolve().parent


# -- generators: lines as the tools print them ------------------------------------


def _loss(i: int, rng: random.Random) -> float:
    return 2.0 + 8.0 * math.exp(-i / 20000.0) + rng.gauss(0, 0.05)


def gen_nanogpt(n: int, rng: random.Random) -> Iterator[str]:
    it = 0
    k = 0
    while k < n:
        if it % 2000 == 0:
            yield f"step {it}: train loss {_loss(it, rng):.4f}, val loss {_loss(it, rng) + 0.05:.4f}\n"
            yield "saving checkpoint to out\n"
            k += 2
        mfu = -100.0 if it < 5 else 30 + rng.random()
        yield f"iter {it}: loss {_loss(it, rng):.4f}, time {90 + rng.random() * 10:.2f}ms, mfu {mfu:.2f}%\n"
        it += 1
        k += 1


def gen_llmc(n: int, rng: random.Random) -> Iterator[str]:
    k = 0
    step = 1
    while k < n:
        if step % 250 == 0:
            yield f"val loss {_loss(step, rng):f}\n"
            k += 1
        yield (
            f"step {step:4d}/{n} | loss {_loss(step, rng):7.6f} ({rng.gauss(0, 1):+.2f}z)| norm {abs(rng.gauss(1, 0.2)):6.4f} "
            f"({rng.gauss(0, 1):+.2f}z)| lr {6e-4:.2e} | {85 + rng.random() * 5:.2f} ms | {42 + rng.random():.1f}% bf16 MFU | {598000 + rng.random() * 1000:.0f} tok/s\n"
        )
        step += 1
        k += 1


def gen_hf_v4(n: int, rng: random.Random) -> Iterator[str]:
    k = 0
    i = 0
    while k < n:
        i += 1
        ep = i / 5000
        yield f"{{'loss': {_loss(i, rng):.4f}, 'grad_norm': {abs(rng.gauss(1, 0.3))!r}, 'learning_rate': {5e-5 * (1 - i / (2 * n))!r}, 'epoch': {ep:.2f}}}\n"
        k += 1
        if i % 500 == 0:
            yield f"{{'eval_loss': {_loss(i, rng) + 0.1!r}, 'eval_runtime': 12.34, 'eval_samples_per_second': 81.03, 'eval_steps_per_second': 10.13, 'epoch': {ep:.2f}}}\n"
            k += 1


def gen_keras(n: int, rng: random.Random) -> Iterator[str]:
    total = n // 2
    for e in range(1, total + 1):
        yield f"Epoch {e}/{total}\n"
        acc = 0.5 + 0.4 * (1 - math.exp(-e / 1000))
        yield (
            f"13/13 - 0s - 4ms/step - accuracy: {acc:.4f} - loss: {_loss(e, rng) / 4:.4f} - "
            f"val_accuracy: {acc - 0.02:.4f} - val_loss: {_loss(e, rng) / 4 + 0.03:.4f}\n"
        )


def gen_megatron(n: int, rng: random.Random) -> Iterator[str]:
    k = 0
    it = 1
    while k < n:
        yield (
            f" iteration {it:8d}/{n:8d} | consumed samples: {it * 64:12d} | elapsed time per iteration (ms): {430 + rng.random() * 5:.1f} | "
            f"learning rate: {1.342e-4:.3E} | global batch size: {64:5d} | lm loss: {_loss(it, rng):.6E} | loss scale: 65536.0 | "
            f"grad norm: {abs(rng.gauss(1.2, 0.2)):.3f} | number of skipped iterations: {0:3d} | number of nan iterations: {0:3d} |\n"
        )
        k += 1
        if it % 1000 == 0:
            yield "-" * 95 + "\n"
            yield f" validation loss at iteration {it} | lm loss value: {_loss(it, rng):.6E} | lm loss PPL: {math.exp(_loss(it, rng)):.6E} | \n"
            yield "-" * 95 + "\n"
            k += 3
        it += 1


def gen_fairseq(n: int, rng: random.Random) -> Iterator[str]:
    t0 = 1615206753
    for i in range(1, n + 1):
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0 + i))
        rec = {
            "epoch": 1 + i // 10000,
            "update": round(1 + i / 10000, 3),
            "loss": f"{_loss(i, rng):.3f}",
            "ppl": f"{math.exp(min(_loss(i, rng), 20)):.1f}",
            "wps": f"{50000 + rng.random() * 1000:.0f}",
            "ups": "0.6",
            "wpb": "277035",
            "bsz": "8563",
            "num_updates": str(i),
            "lr": f"{5e-4:.5g}",
            "gnorm": f"{abs(rng.gauss(1, 0.3)):.3f}",
            "loss_scale": "4",
            "train_wall": "945",
            "wall": str(i),
        }
        yield f"{ts} | INFO | train_inner | {json.dumps(rec)}\n"


def gen_logging(n: int, rng: random.Random) -> Iterator[str]:
    t0 = 1704067200
    for i in range(1, n + 1):
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0 + i // 10))
        yield f"{ts},{i % 1000:03d} - INFO - train - step={i} loss={_loss(i, rng):.4f} lr={1e-4:.1e} grad_norm={abs(rng.gauss(1, 0.3)):.4f}\n"


def gen_mixed(n: int, rng: random.Random) -> Iterator[str]:
    """All the common line types interleaved, with noise, warnings and overflows."""
    k = 0
    i = 0
    while k < n:
        i += 1
        r = i % 20
        if r == 0:
            yield f"{{'loss': {_loss(i, rng):.4f}, 'grad_norm': {abs(rng.gauss(1, 0.3)):.4f}, 'learning_rate': 5e-05, 'epoch': {i / 1e4:.2f}}}\n"
        elif r == 5:
            yield f" {i % 100:2d}%|██▍       | {i}/{n} [01:23<02:05,  2.40it/s, loss={_loss(i, rng):.3f}, lr=1e-4]\n"
        elif r == 7:
            yield f"[2024-09-15 00:13:28,307] [INFO] [loss_scaler.py:183:update_scale] [deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, reducing to 32768\n"
        elif r == 9:
            yield "/usr/lib/python3/site-packages/torch/nn/modules/module.py:1501: UserWarning: some deprecated thing is used here\n"
        elif r == 11:
            yield f"step {i}: train loss {_loss(i, rng):.4f}, val loss {_loss(i, rng) + 0.05:.4f}\n"
        elif r == 13:
            yield f"2024-01-01 12:00:00,123 - INFO - train - step={i} loss={_loss(i, rng):.4f} lr=1.0e-04\n"
        elif r == 15:
            yield "Loading data shard 17 of 64 from /data/shards ...\n"
        else:
            yield f"iter {i}: loss {_loss(i, rng):.4f}, time {90 + rng.random() * 10:.2f}ms, mfu {30 + rng.random():.2f}%\n"
        k += 1


FORMATS: dict[str, Callable[[int, random.Random], Iterator[str]]] = {
    "nanogpt": gen_nanogpt,
    "llmc": gen_llmc,
    "hf_v4": gen_hf_v4,
    "keras_v2": gen_keras,
    "megatron": gen_megatron,
    "fairseq_json": gen_fairseq,
    "logging_kv": gen_logging,
    "mixed": gen_mixed,
}


def write_log(path: Path, fmt: str, n: int) -> None:
    rng = random.Random(0)
    gen = FORMATS[fmt](n, rng)
    with open(path, "w", encoding="utf-8") as f:
        buf = []
        for j, line in enumerate(gen):
            if j >= n:
                break
            buf.append(line)
            if len(buf) >= 10000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


# -- measurement -----------------------------------------------------------------------


def baseline(path: Path) -> float:
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        with open(path) as f:
            for _line in f:
                pass
        best = min(best, time.perf_counter() - t)
    return best


def _traindx_cli() -> list[str] | None:
    exe = shutil.which("traindx")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "--help"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if r.returncode != 0 or b"diagnose" not in r.stdout:
        return None
    return [exe, "diagnose"]


_CHILD = (
    "import sys, json; from traindx.ingest.discover import discover; r = discover([sys.argv[1]]); "
    "print(json.dumps({'series': {k: len(v) for k, v in r.series.items()}, 'events': len(r.events), "
    "'skipped': [s.reason for s in r.skipped]}))"
)


def run_child(cmd: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS in MB (of this child alone, from ``os.wait4``), exit code and output."""
    t = time.perf_counter()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        out = proc.stdout.read() if proc.stdout else b""
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    rss_mb = usage.ru_maxrss / 1024.0  # kilobytes on Linux
    return wall, rss_mb, proc.returncode, out.decode("utf-8", "replace")[-400:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines per generated log (default 1,000,000)")
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset of: " + ", ".join(FORMATS))
    ap.add_argument("--out", type=Path, default=HERE / "out", help="where the logs are written (default bench/out/)")
    ap.add_argument("--keep", action="store_true", help="keep the generated logs")
    ap.add_argument("--in-process", action="store_true", help="time discover() in a child Python even if the CLI exists")
    args = ap.parse_args(argv)
    fmts = [f.strip() for f in args.formats.split(",") if f.strip()]
    for f in fmts:
        if f not in FORMATS:
            ap.error(f"unknown format {f!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    cli = None if args.in_process else _traindx_cli()
    how = "traindx diagnose --format json (subprocess)" if cli else "discover([path]) in a child python (no working traindx CLI)"
    print(f"# {args.lines:,} lines per format; end-to-end: {how}; python {sys.version.split()[0]}")
    rows = []
    for fmt in fmts:
        path = args.out / f"{fmt}.log"
        t = time.perf_counter()
        write_log(path, fmt, args.lines)
        gen_s = time.perf_counter() - t
        size_mb = path.stat().st_size / 1e6
        base = baseline(path)
        cmd = (cli + [str(path), "--format", "json"]) if cli else [sys.executable, "-c", _CHILD, str(path)]
        wall, rss, rc, out = run_child(cmd)
        r_wall, r_rss, r_rc, r_out = run_child([sys.executable, "-c", _CHILD, str(path)])
        rows.append((fmt, size_mb, base, wall, rss, rc, r_wall, r_rss))
        print(
            f"{fmt:13s} {size_mb:8.1f} MB  base {base:6.3f}s  traindx {wall:7.2f}s  "
            f"{args.lines / wall / 1e3:8.0f} klines/s  {size_mb / wall:7.1f} MB/s  RSS {rss:6.0f} MB  x{wall / base:6.1f}  rc={rc}  "
            f"| read {r_wall:6.2f}s RSS {r_rss:5.0f} MB x{r_wall / base:5.1f}  (gen {gen_s:.0f}s)",
            flush=True,
        )
        for code, text in ((rc, out), (r_rc, r_out)):
            if code != 0:
                print("   child output:", text.strip().replace("\n", " | "))
        if not args.keep:
            path.unlink()
    print()
    print("| format | MB | read-only loop (s) | traindx (s) | lines/s | MB/s | peak RSS (MB) | x baseline | reading alone (s) | its RSS (MB) | its x baseline |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for fmt, size_mb, base, wall, rss, rc, r_wall, r_rss in rows:
        flag = "" if rc == 0 else f" (exit {rc})"
        print(
            f"| {fmt}{flag} | {size_mb:.1f} | {base:.3f} | {wall:.2f} | {args.lines / wall:,.0f} | {size_mb / wall:.1f} | {rss:.0f} | {wall / base:.1f} "
            f"| {r_wall:.2f} | {r_rss:.0f} | {r_wall / base:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
