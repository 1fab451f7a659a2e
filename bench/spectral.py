"""Speed of the checkpoint analysis on a 125M-parameter model: header, weight health, per-layer spectra.

Writes a GPT-2-small-shaped checkpoint (124.4M parameters: vocabulary 50257,
width 768, 12 blocks; float32, about 500 MB) as ``model.safetensors`` into
``bench/out/`` (or ``--out``) with the safetensors format's own layout (numpy
only, no torch), then measures in one run:

* the header read (``traindx.model.safetensors_file.read_header``);
* the weight health of every tensor (NaN/inf, zero, constant, norms, zero and
  duplicate rows), values memory-mapped;
* the spectral fits of every weight matrix (``traindx.model.spectral.analyze``:
  eigenvalues of the smaller-side Gram matrix, power-law fit per layer);
* everything together as ``traindx model PATH`` does it (``traindx.model.load.load``);
* the baseline, in the same run: a full SVD (``numpy.linalg.svd``, singular
  values only) of one 768 x 3072 MLP matrix, and the time a full SVD of every
  analysed matrix would take, from one SVD per distinct shape.

The weights are random unless ``--power-law`` is given (then each matrix has a
heavy-tailed spectrum, alpha drawn in [2, 5]); the costs are the same.

Usage::

    python bench/spectral.py                 # write (once) and measure
    python bench/spectral.py --repeat 3      # best of 3
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
V, D, L, CTX = 50257, 768, 12, 1024


def shapes() -> list[tuple[str, tuple[int, ...]]]:
    out = [("transformer.wte.weight", (V, D)), ("transformer.wpe.weight", (CTX, D))]
    for i in range(L):
        b = f"transformer.h.{i}"
        out += [
            (f"{b}.ln_1.weight", (D,)), (f"{b}.ln_1.bias", (D,)),
            (f"{b}.attn.c_attn.weight", (D, 3 * D)), (f"{b}.attn.c_attn.bias", (3 * D,)),
            (f"{b}.attn.c_proj.weight", (D, D)), (f"{b}.attn.c_proj.bias", (D,)),
            (f"{b}.ln_2.weight", (D,)), (f"{b}.ln_2.bias", (D,)),
            (f"{b}.mlp.c_fc.weight", (D, 4 * D)), (f"{b}.mlp.c_fc.bias", (4 * D,)),
            (f"{b}.mlp.c_proj.weight", (4 * D, D)), (f"{b}.mlp.c_proj.bias", (D,)),
        ]
    out += [("transformer.ln_f.weight", (D,)), ("transformer.ln_f.bias", (D,))]
    return out


def tensor(name: str, shape: tuple[int, ...], rng: np.random.Generator, power_law: bool) -> np.ndarray:
    if len(shape) == 1:
        return (np.ones(shape) if name.endswith("weight") else np.zeros(shape)).astype(np.float32)
    w = rng.standard_normal(shape, dtype=np.float32) * 0.02
    if power_law and "wte" not in name:
        n = min(shape)
        alpha = rng.uniform(2.0, 5.0)
        lam = (1 - rng.random(n)) ** (-1 / (alpha - 1))
        u, _ = np.linalg.qr(rng.standard_normal((max(shape), n)).astype(np.float32))
        v, _ = np.linalg.qr(rng.standard_normal((n, n)).astype(np.float32))
        w = ((u * np.sqrt(lam).astype(np.float32)) @ v.T * 0.02).astype(np.float32)
        if shape[0] < shape[1]:
            w = w.T.copy()
    return w


def write(path: Path, power_law: bool) -> None:
    """The safetensors layout by hand: u64 header length, JSON header, then the raw little-endian data."""
    rng = np.random.default_rng(0)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    items = shapes()
    for name, shape in items:
        n = int(np.prod(shape)) * 4
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, shape in items:
            f.write(np.ascontiguousarray(tensor(name, shape, rng, power_law), dtype="<f4").tobytes())
    tmp.replace(path)


def best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t_best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t_best = min(t_best, time.perf_counter() - t0)
    return t_best, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE / "out")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--power-law", action="store_true", help="heavy-tailed spectra instead of random weights")
    args = p.parse_args(argv)
    sys.path.insert(0, str(HERE.parent / "src"))
    from traindx.model import health, spectral
    from traindx.model.build import build_tensors
    from traindx.model.load import load
    from traindx.model.safetensors_file import read_header

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("gpt2_125m_powerlaw.safetensors" if args.power_law else "gpt2_125m.safetensors")
    if not path.exists():
        t0 = time.perf_counter()
        write(path, args.power_law)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
    t_head, f = best(lambda: read_header(path), args.repeat)
    tensors = build_tensors(f.raw_tensors())  # type: ignore[union-attr]
    n_params = sum(t.numel for t in tensors if t.counted)
    t_health, _ = best(lambda: health.analyze(tensors, f.values), args.repeat)  # type: ignore[union-attr]
    t_spec, (spectra, notes) = best(lambda: spectral.analyze(tensors, f.values), args.repeat)  # type: ignore[union-attr,misc]
    t_all, summary = best(lambda: load(path), args.repeat)

    # baseline: full SVD, singular values only
    w = np.asarray(f.values("transformer.h.0.mlp.c_fc.weight"), dtype=np.float64)  # type: ignore[union-attr]
    t_svd, _ = best(lambda: np.linalg.svd(w, compute_uv=False), args.repeat)
    t_eig1, _ = best(lambda: spectral.eigenvalues(np.asarray(w, dtype=np.float32)), args.repeat)
    per_shape: dict[tuple[int, ...], float] = {}
    for t in tensors:
        if spectral.eligible(t) and t.shape not in per_shape:
            x = np.asarray(f.values(t.name), dtype=np.float64)  # type: ignore[union-attr]
            per_shape[t.shape], _ = best(lambda: np.linalg.svd(x, compute_uv=False), 1)
    t_svd_all = sum(per_shape[t.shape] for t in tensors if spectral.eligible(t))

    alphas = sorted(s.alpha for s in spectra)
    rows = [
        ("parameters", f"{n_params:,} in {len(tensors)} tensors ({path.stat().st_size / 1e6:.0f} MB, F32)"),
        ("header read", f"{t_head * 1e3:.2f} ms"),
        ("weight health (all values)", f"{t_health:.2f} s"),
        ("spectra", f"{t_spec:.2f} s for {len(spectra)} matrices ({len(notes)} sampling notes); median alpha {alphas[len(alphas) // 2]:.2f}"),
        ("traindx model (everything)", f"{t_all:.2f} s"),
        ("baseline: full SVD of one 768x3072", f"{t_svd:.2f} s (our eigvalsh path on it: {t_eig1:.3f} s, {t_svd / max(t_eig1, 1e-9):.0f}x faster)"),
        ("baseline: full SVD of every matrix", f"{t_svd_all:.1f} s (one SVD per shape, times the count)"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n125M-parameter checkpoint analysis ({'power-law' if args.power_law else 'random'} weights, best of {args.repeat})")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    _ = summary
    return 0


if __name__ == "__main__":
    sys.exit(main())
