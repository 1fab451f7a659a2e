"""Start-up time of the ``traindx`` command against a bare Python start, measured in one run.

Target: ``traindx --help`` in under 0.3 s. Prints the best of ``--repeat`` wall times for:
``python -c pass`` (the baseline), ``python -c "import traindx"``, ``traindx --help`` and
``traindx --version``, each with its ratio to the baseline.

Usage::

    python bench/cli_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time


def best_of(cmd: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    exe = shutil.which("traindx") or ""
    cli = [exe] if exe else [sys.executable, "-m", "traindx"]
    cases = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
        ("import traindx", [sys.executable, "-c", "import traindx"]),
        ("traindx --help", cli + ["--help"]),
        ("traindx --version", cli + ["--version"]),
    ]
    env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, best of {args.repeat}"
    print(f"# CLI start-up ({env_note}); command: {' '.join(cli)}")
    base = None
    print("| what | seconds | x baseline |")
    print("|---|---|---|")
    for name, cmd in cases:
        t = best_of(cmd, args.repeat)
        base = base or t
        print(f"| {name} | {t:.3f} | {t / base:.1f} |")
    help_t = best_of(cli + ["--help"], args.repeat)
    print(f"\ntraindx --help: {help_t:.3f} s (target < 0.3 s): {'OK' if help_t < 0.3 else 'OVER'}")


if __name__ == "__main__":
    main()
