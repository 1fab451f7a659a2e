"""``traindx memory [PATH]``: training memory (weights, gradients, optimizer, activations), the batch that fits,
the figures a probe log measured during the run (they beat any estimate), and the measured peak of a
training step of the ``--factory`` model (by default on a CUDA machine; ``--measure`` on a CPU)."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .errors import EXIT_OK, EXIT_USAGE, fail

WEIGHT_EXT = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")


class Format(str, Enum):
    text = "text"
    json = "json"


class DType(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"
    amp_bf16 = "amp-bf16"
    amp_fp16 = "amp-fp16"


def _run_facts(path: Path) -> Any:
    """The run's config and events, read from every file under ``path`` except weights (which are read apart, headers only)."""
    from ..ingest.discover import SKIP_DIRS, discover
    from ..run import Run

    if path.is_file():
        return Run() if path.suffix.lower() in WEIGHT_EXT else discover([path])
    files: list[Path] = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for n in sorted(names):
            if not n.lower().endswith(WEIGHT_EXT):
                files.append(Path(root) / n)
        if len(files) > 2000:
            break
    return discover(files) if files else Run()


def memory(
    path: Annotated[Optional[Path], typer.Argument(help="A run folder (config, logs with an OOM message), a checkpoint or an HF config.json.", show_default=False)] = None,
    factory: Annotated[Optional[str], typer.Option("--factory", help="Build the model with module:callable (runs your code; needed for --measure).", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", "-b", help="Per-device batch size (else from the run's config, else 1).", show_default=False)] = None,
    seq_len: Annotated[Optional[int], typer.Option("--seq-len", "-s", help="Sequence length (else from the config).", show_default=False)] = None,
    dtype: Annotated[Optional[DType], typer.Option("--dtype", help="Weights/activations: fp32, pure bf16/fp16, or amp-bf16/amp-fp16 (fp32 weights, 16-bit activations).", show_default=False)] = None,
    optimizer: Annotated[Optional[str], typer.Option("--optimizer", help="adamw, adam, sgd, sgd_momentum, adafactor, adam8bit, lion (else from the config, else adamw).", show_default=False)] = None,
    attention: Annotated[str, typer.Option("--attention", help="sdpa (fused, the HF default) or eager.")] = "sdpa",
    grad_checkpointing: Annotated[bool, typer.Option("--grad-checkpointing", help="Gradient checkpointing is on.")] = False,
    gpu_memory: Annotated[Optional[float], typer.Option("--gpu-memory", help="Device memory in GiB (else from an OOM message in the run).", show_default=False)] = None,
    measure: Annotated[
        Optional[bool],
        typer.Option(
            "--measure/--no-measure",
            help="Run training steps of the --factory model and measure (CUDA peak; on CPU the saved activations). "
            "Default: measure when --factory is given and a CUDA device is there.",
            show_default=False,
        ),
    ] = None,
    input_shape: Annotated[Optional[str], typer.Option("--input-shape", help="Input shape without the batch, for --measure on a model without a vocabulary, e.g. 3,224,224.", show_default=False)] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
) -> None:
    """Estimate (or measure) the memory of a training step and the largest batch that fits.

    Exit codes: 0 estimated or measured (a probe log in PATH), 2 neither a model nor a probe log, or a usage error.
    """
    from ..model import load as mload
    from ..model.memory import GiB, Setup, capacity_from_run, estimate, seq_from_model, setup_from_run

    if path is None and factory is None:
        fail("give a run folder, a checkpoint or config PATH, or --factory module:callable")
        raise typer.Exit(EXIT_USAGE)
    if measure is None:
        measure = factory is not None and _cuda_available()
    if measure and factory is None:
        fail("--measure runs training steps and needs the model's code: add --factory module:callable")
        raise typer.Exit(EXIT_USAGE)
    given: dict[str, str] = {}
    base = Setup(attention=attention)
    for key, val in (("batch_size", batch_size), ("seq_len", seq_len), ("dtype", dtype.value if dtype else None), ("optimizer", optimizer)):
        if val is not None:
            setattr(base, key, val)
            given[key] = "command line"
    if grad_checkpointing:
        base.grad_checkpointing = True
        given["grad_checkpointing"] = "command line"
    base.sources = given
    run = _run_facts(path) if path is not None else None
    from ..probe.figures import memory_figures

    probed = memory_figures(path) if path is not None else None
    built = None
    try:
        if factory is not None:
            from ..model import factory as fac

            built = fac.build(factory)
            summary, _ = fac.summarize(built, factory)
        else:
            assert path is not None
            summary = mload.load(path, display=path.name, read_values=False, spectra=False)
    except (mload.LoadError, ValueError) as e:
        if probed is not None and factory is None:  # no model to estimate from, but the run measured itself
            _emit({"model": None, "measured_by_probe": probed, "note": f"no estimate: {path}: {e}"}, None, None, format)
            raise typer.Exit(EXIT_OK)
        fail(f"{path or factory}: {e}")
        raise typer.Exit(EXIT_USAGE)
    setup = setup_from_run(run, base) if run is not None else base
    if setup.seq_len is None:
        fallback = seq_from_model(summary)
        if fallback:
            setup.seq_len = fallback
            setup.sources["seq_len"] = "the model's learned positions (maximum context)"
    est = estimate(summary, setup)
    cap: tuple[float, str] | None = None
    if gpu_memory is not None:
        cap = (gpu_memory * GiB, "--gpu-memory")
    elif run is not None:
        cap = capacity_from_run(run)
    result: dict[str, Any] = {"model": summary.source, "parameters": summary.total, "estimate": est.to_dict()}
    if probed is not None:
        result["measured_by_probe"] = probed
    if cap is not None:
        result["capacity"] = {"bytes": cap[0], "source": cap[1], "batch_that_fits": est.batch_that_fits(cap[0])}
    if measure and built is not None:
        from ..model.measure import measure as do_measure

        shape = tuple(int(x) for x in input_shape.split(",")) if input_shape else None
        try:
            result["measured"] = do_measure(built, setup, input_shape=shape)
        except (ValueError, RuntimeError) as e:
            fail(f"measuring failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            raise typer.Exit(EXIT_USAGE)
    _emit(result, est, setup, format)
    raise typer.Exit(EXIT_OK)


def _cuda_available() -> bool:
    """A CUDA device is usable (torch imported only when a factory model is built anyway)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _emit(result: dict[str, Any], est: Any, setup: Any, format: Format) -> None:
    if format is Format.json:
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    elif est is None:
        from ..probe.figures import memory_lines

        sys.stdout.write("\n".join([*memory_lines(result["measured_by_probe"]), f"note        {result['note']}"]) + "\n")
    else:
        sys.stdout.write(_text(result, est, setup))


def _text(result: dict[str, Any], est: Any, setup: Any) -> str:
    from ..checks.model.common import count
    from ..model.memory import gib
    from ..probe.figures import memory_lines

    lines = [f"{result['model']} · {count(result['parameters'])} parameters"]
    lines.extend(memory_lines(result.get("measured_by_probe")))
    src = setup.sources
    lines.append(
        f"setup       batch {setup.batch_size}{' (' + src['batch_size'] + ')' if 'batch_size' in src else ''}, "
        f"sequence {setup.seq_len or 'n/a'}{' (' + src['seq_len'] + ')' if 'seq_len' in src else ''}, "
        f"{setup.dtype}{' (' + src['dtype'] + ')' if 'dtype' in src else ''}, "
        f"{setup.optimizer_kind}{' (' + src['optimizer'] + ')' if 'optimizer' in src else ''}"
    )
    lines.append(f"weights     {gib(est.weights)}")
    lines.append(f"gradients   {gib(est.gradients)}")
    lines.append(f"optimizer   {gib(est.optimizer)}")
    if est.amp_cast:
        lines.append(f"amp copies  {gib(est.amp_cast)} (16-bit weight copies autocast keeps during the forward)")
    lines.append(f"activations {gib(est.activations)}" + (f" ({gib(est.activations_per_sample)} per sample, with the logits)" if est.activations_per_sample else ""))
    if est.peak_low is not None:
        lines.append(f"peak        {gib(est.peak_low)} to {gib(est.peak_high)} (without and with all gradients alive; CUDA context not included)")
    cap = result.get("capacity")
    if cap:
        fits = cap["batch_that_fits"]
        verdict = ""
        if est.peak_low is not None:
            verdict = " — does not fit" if est.peak_low > cap["bytes"] else (" — fits" if est.peak_high <= 0.9 * cap["bytes"] else " — tight")
        lines.append(f"device      {gib(cap['bytes'])} ({cap['source']}){verdict}")
        if fits is not None:
            lines.append(f"fits        batch size up to {fits} at this sequence length (90% of the device)" if fits else "fits        not even batch size 1: shorten the sequence, checkpoint gradients, or shard the model")
    meas = result.get("measured")
    if meas:
        lines.append(f"measured on {meas.get('device_name', meas['device'])}")
        for k in ("weights", "gradients", "optimizer", "activations", "peak_allocated"):
            if k in meas:
                lines.append(f"  {k:<14} {gib(meas[k])}")
    for n in est.notes:
        lines.append(f"note        {n}")
    return "\n".join(lines) + "\n"
