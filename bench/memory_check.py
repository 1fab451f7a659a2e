"""The training-memory estimate against the memory measured on the machine, for a few HF models.

For each model (GPT-2- and Llama-shaped, built from a config with random
weights; transformers is needed) and setup (batch, sequence, dtype), prints the
estimate of ``traindx memory`` (weights, gradients, optimizer, activations, and
the peak range) next to what ``traindx.model.measure`` measured: on CUDA the
allocator's peak of a training step (``torch.cuda.max_memory_allocated``), on a
CPU the bytes autograd saved for the backward. Also runs ``traindx memory
--factory`` through the CLI to show that on a CUDA machine it measures without
being asked.

Usage::

    python bench/memory_check.py [--device cuda|cpu] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from traindx.model.factory import summarize  # noqa: E402
from traindx.model.measure import measure  # noqa: E402
from traindx.model.memory import GiB, Setup, estimate  # noqa: E402


def gpt2() -> Any:
    import transformers

    cfg = transformers.GPT2Config(n_embd=768, n_layer=6, n_head=12, vocab_size=32000, n_positions=1024, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    cfg._attn_implementation = "sdpa"
    return transformers.AutoModelForCausalLM.from_config(cfg)


def llama() -> Any:
    import transformers

    cfg = transformers.LlamaConfig(hidden_size=768, intermediate_size=2048, num_hidden_layers=6, num_attention_heads=12, num_key_value_heads=12, vocab_size=32000, max_position_embeddings=1024)
    cfg._attn_implementation = "sdpa"
    return transformers.AutoModelForCausalLM.from_config(cfg)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    for name, build in (("gpt2-6L", gpt2), ("llama-6L", llama)):
        for setup in (Setup(batch_size=8, seq_len=512, dtype="fp32"), Setup(batch_size=8, seq_len=1024, dtype="amp-bf16")):
            torch.manual_seed(0)
            model = build()
            est = estimate(summarize(model, name)[0], setup)
            got = measure(model, setup, device=args.device)
            row = {"model": name, "batch": setup.batch_size, "seq": setup.seq_len, "dtype": setup.dtype, "device": got["device"]}
            row["estimate_peak_gib"] = [round(est.peak_low / GiB, 3), round(est.peak_high / GiB, 3)] if est.peak_low is not None else None
            row["estimate_activations_gib"] = round(est.activations / GiB, 3)
            if "peak_allocated" in got:
                row["measured_peak_gib"] = round(got["peak_allocated"] / GiB, 3)
                row["peak_vs_estimate_high"] = round(got["peak_allocated"] / est.peak_high, 3)
            if "activations" in got:
                row["measured_activations_gib"] = round(got["activations"] / GiB, 3)
                row["activations_vs_estimate"] = round(got["activations"] / est.activations, 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
            del model
            if args.device == "cuda":
                torch.cuda.empty_cache()
    (HERE / "out").mkdir(exist_ok=True)
    fac = HERE / "out" / "memory_factory.py"
    fac.write_text("import torch\n\ndef build():\n    return torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 10))\n")
    cli = subprocess.run(
        [sys.executable, "-c", "from traindx.cli.app import main; main()", "memory", "--factory", "memory_factory:build", "--input-shape", "256", "-b", "64", "--format", "json"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": f"{HERE.parent / 'src'}:{HERE / 'out'}"},
    )
    measured = json.loads(cli.stdout).get("measured") if cli.returncode == 0 else None
    print(f"traindx memory --factory (no --measure): exit {cli.returncode}, measured: {json.dumps(measured) if measured else 'no'}" + (f" ({cli.stderr.strip()[:300]})" if cli.returncode else ""))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "cli_measured": measured}, indent=2))


if __name__ == "__main__":
    main()
