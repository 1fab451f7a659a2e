"""The agent's tools as plain functions over confined paths: the core the MCP server wraps.

Each method of :class:`Toolbox` takes the arguments an agent sends, checks them
(paths through :class:`~traindx.agent.paths.Roots`, numbers and names against
their ranges), does its work read-only, and returns plain JSON-able data, size
capped (:mod:`.caps`). Bad input raises :class:`~traindx.agent.AgentInputError`
with a one-line message; nothing returns an error as if it were a result.

Files are written in one place only: the output folder (``--out``, else a
temporary folder made for the server's lifetime), never a run folder; a call
whose inputs contain the output folder is refused.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import AgentInputError, caps
from .paths import Roots, _inside

MAX_SYMPTOMS = 20
MAX_SYMPTOM_CHARS = 500
MAX_ID_CHARS = 100
# files the model loader reads beside the one it is given
MODEL_SIBLINGS = (".json", ".safetensors", ".bin", ".pt", ".pth", ".ckpt")


class Toolbox:
    """The tools, bound to the roots they may read and the folder they may write."""

    def __init__(self, roots: Roots, out_dir: str | os.PathLike[str] | None = None) -> None:
        self.roots = roots
        self._out = Path(out_dir).expanduser().resolve() if out_dir is not None else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._calls = 0

    # -- the output folder -------------------------------------------------------------------

    def out_dir(self, inputs: Sequence[Path] = ()) -> Path:
        """The folder plots go to (created on first use); refused when it lies inside an input folder."""
        if self._out is None:
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="traindx-mcp-")
            out = Path(self._tmp.name).resolve()
        else:
            out = self._out
        for p in inputs:
            folder = p if p.is_dir() else p.parent
            if _inside(out, folder):
                raise AgentInputError(
                    f"the output folder {out} is inside the input folder {folder}; traindx never writes into a run folder: "
                    "start the server with --out elsewhere"
                )
        out.mkdir(parents=True, exist_ok=True)
        return out

    def _new_folder(self, inputs: Sequence[Path], label: str) -> Path:
        self._calls += 1
        folder = self.out_dir(inputs) / f"{self._calls:04d}-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- helpers -----------------------------------------------------------------------------

    def _paths(self, paths: Sequence[str] | str) -> list[Path]:
        return self.roots.resolve_all(paths)

    def _run(self, paths: Sequence[str] | str) -> Any:
        return self._read(self._paths(paths))

    def _read(self, real: list[Path]) -> Any:
        """The run in already resolved paths (the roots' symlink scan is not repeated)."""
        from ..ingest.discover import discover

        run = discover(real)
        if not run.sources and not run.config:
            reasons = "; ".join(f"{s.path}: {s.reason}" for s in run.skipped[:3])
            raise AgentInputError("no training artifacts found in " + ", ".join(self.roots.display(p) for p in real) + (f" ({reasons})" if reasons else ""))
        return run

    @staticmethod
    def _symptoms(symptoms: Sequence[str] | None) -> list[str]:
        out = [s for s in (symptoms or []) if isinstance(s, str) and s.strip()]
        if len(out) > MAX_SYMPTOMS:
            raise AgentInputError(f"at most {MAX_SYMPTOMS} symptoms per call, got {len(out)}")
        for s in out:
            if len(s) > MAX_SYMPTOM_CHARS:
                raise AgentInputError(f"a symptom is a short statement (at most {MAX_SYMPTOM_CHARS} characters), got one of {len(s)}")
        return out

    def _context(self, context: dict[str, Any]) -> Any:
        from ..context import ContextError, parse_context

        try:
            pkg = parse_context(context, base=self.roots.roots[0], source="context")
        except ContextError as e:
            raise AgentInputError(str(e)) from None
        for name in pkg.missing:  # refused like any other path, before "does not exist" could say what lies outside
            self.roots.check_spelling(name, what="context artifact")
        pkg.paths = [self.roots.resolve(str(p), what="context artifact") for p in pkg.paths]
        return pkg

    # -- the tools ---------------------------------------------------------------------------

    def diagnose(self, paths: Sequence[str], symptoms: Sequence[str] | None = None, context: dict[str, Any] | None = None, plots: bool = False) -> dict[str, Any]:
        from ..engine import diagnose_paths

        real = self._paths(paths) if paths else []
        pkg = self._context(context) if context else None
        if not real and (pkg is None or not (pkg.paths or pkg.error_texts)):
            raise AgentInputError("nothing to diagnose: give paths (a run folder or files) or a context with artifacts")
        d = diagnose_paths(real, user_symptoms=self._symptoms(symptoms), context=pkg)
        if not d.run.sources and not d.run.config:
            reasons = "; ".join(f"{s.path}: {s.reason}" for s in d.run.skipped[:3])
            raise AgentInputError("no training artifacts found" + (f" ({reasons})" if reasons else ""))
        if plots:
            from ..render import plots as plot_mod

            folder = self._new_folder(real + (pkg.paths if pkg else []), "diagnose")
            try:
                written, errors = plot_mod.render_plots(d, folder)
            except plot_mod.PlotUnavailable as e:
                raise AgentInputError(f"plots=true needs matplotlib: {e}") from None
            d.analysis_artifacts.update({k: str(folder / v) for k, v in written.items()})
            d.errors.extend(errors)
        out = d.to_dict()
        notes = caps.fit(out)
        if notes:
            out["errors"].append(f"result shortened to fit {caps.MAX_RESULT_BYTES:,} bytes: " + "; ".join(notes))
        return out

    def extract_training_metrics(
        self, paths: Sequence[str], metrics: Sequence[str] | None = None, step_range: Sequence[float] | None = None, max_points: int = caps.DEFAULT_POINTS
    ) -> dict[str, Any]:
        from .metrics import extract

        run = self._run(paths)
        out = extract(run, metrics, step_range, max_points)
        out["sources"] = [{"path": s.path, "reader": s.reader, "series": s.series} for s in sorted(run.sources, key=lambda s: s.path)]
        return caps.capped(out)

    def visualize_loss_curve(self, paths: Sequence[str], metrics: Sequence[str] | None = None) -> tuple[bytes, dict[str, Any]]:
        """(PNG bytes, {path, metrics, symptoms marked})."""
        from ..engine import diagnose_run
        from ..render import plots as plot_mod
        from .metrics import _num, resolve_names

        real = self._paths(paths)
        try:
            plot_mod._mpl()
        except plot_mod.PlotUnavailable as e:
            raise AgentInputError(str(e)) from None
        run = self._read(real)
        d = diagnose_run(run)
        folder = self._new_folder(real, "plot")
        target = folder / "loss_plot.png"
        if metrics:
            chosen = resolve_names(run, metrics)
            if len(chosen) > 8:
                raise AgentInputError(f"at most 8 series per plot, got {len(chosen)}")
            plot_mod.plot_metrics(d, chosen, target)
            drawn = chosen
        elif plot_mod.plot_loss(d, target):
            drawn = sorted(n for n in run.series if n.startswith("loss/")) + (["lr"] if "lr" in run.series else [])
        else:
            first = min(n for n, s in run.series.items() if len(s)) if run.series else None
            if first is None:
                raise AgentInputError("the run has no metric series to plot")
            plot_mod.plot_metrics(d, [first], target)
            drawn = [first]
        data = target.read_bytes()
        if len(data) > caps.MAX_RESULT_BYTES * 4:
            raise AgentInputError(f"the plot is {len(data):,} bytes, over the {caps.MAX_RESULT_BYTES * 4:,}-byte cap; plot fewer series")
        info = {
            "path": str(target),
            "series": drawn,
            "marked": [{"symptom": s.id, "step": _num(s.step), "step_unit": s.step_unit, "metric": s.metric} for s in d.symptoms if s.step is not None][:20],
            "summary": d.headline(),
        }
        return data, info

    def _check_model_siblings(self, real: Path, given: str) -> None:
        """The loader also reads files beside a model file (config.json, shards, the index): none may lead out of the roots."""
        folder = real if real.is_dir() else real.parent
        for p in sorted(folder.iterdir()):
            if p.is_symlink() and p.name.endswith(MODEL_SIBLINGS) and not self.roots.contains(p.resolve()):
                raise AgentInputError(
                    f"model path {given!r}: {p.name} beside it is a symlink to {p.resolve()}, outside the allowed roots ({self.roots.describe()})"
                )

    def _model(self, path: str, *, values: bool, spectra: bool = False, real: Path | None = None) -> Any:
        from ..model import load as mload

        if real is None:
            real = self.roots.resolve(path, what="model path")
        self._check_model_siblings(real, path)
        source = mload.pick_source(real) if real.is_dir() else real
        display = self.roots.display(source) if source is not None else None
        try:
            return mload.load(real, display=display, read_values=values, spectra=spectra and values)
        except mload.LoadError as e:
            raise AgentInputError(f"{path}: {e}") from None

    def count_parameters(self, path: str) -> dict[str, Any]:
        m = self._model(path, values=False)
        tot = m.total
        out: dict[str, Any] = {
            "source": m.source,
            "kind": m.kind,
            "parameters": tot,
            "trainable": m.trainable,
            "frozen": m.frozen,
            "bytes": m.nbytes,
            "by_group": m.group_shares(),
            "by_dtype_bytes": dict(m.dtypes),
            "tied": [list(p) for p in m.tied],
            "head_tied": m.head_tied,
        }
        return out

    def analyze_architecture(self, path: str, spectra: bool = False) -> dict[str, Any]:
        from ..checks.model.common import reads_the_model
        from ..engine import run_checks
        from ..run import Run

        m = self._model(path, values=True, spectra=spectra)
        findings = run_checks(Run(model=m), select=reads_the_model)[0]
        tot = m.total
        imbalance = next((s for s in findings if s.id == "param_imbalance"), None)
        balance = m.balance(imbalance.summary if imbalance is not None else None)  # the same verdict `traindx diagnose` carries
        balance["explanation"] = (
            imbalance.summary
            if imbalance is not None
            else "the embeddings do not dominate the parameter count (TDX801 thresholds: 50% for a generative model, 80% otherwise)"
        )
        layers = list(m.layers.items())
        out: dict[str, Any] = {
            "source": m.source,
            "kind": m.kind,
            "parameters": tot,
            "groups": m.group_shares(),
            "balance": balance,
            "generative": m.generative,
            "head_tied": m.head_tied,
            "tied": [list(p) for p in m.tied],
            "layer_count": len(layers),
            "layers": [{"name": n, "parameters": c, "share": round(c / tot, 4) if tot else 0.0} for n, c in layers[: caps.MAX_LAYERS]],
            "arch": {k: v for k, v in sorted(m.arch.items()) if isinstance(v, (str, int, float, bool)) or v is None},
            "findings": [s.to_dict() for s in findings],
            "notes": list(m.notes),
        }
        if len(layers) > caps.MAX_LAYERS:
            out["layers_not_listed"] = len(layers) - caps.MAX_LAYERS
        if m.health is not None:
            bad = [h.name for h in m.health if h.nan or h.inf]
            out["weights"] = {"tensors_read": len(m.health), "with_nan_or_inf": bad[:20], "all_zero": [h.name for h in m.health if h.all_zero][:20]}
        return caps.capped(out)

    def check_gradients(self, paths: Sequence[str]) -> dict[str, Any]:
        from .gradients import summarize

        out = summarize(self._run(paths))
        return caps.capped(out)

    def profile_memory(
        self, model_or_config: str, batch_size: int | None = None, seq_len: int | None = None, dtype: str | None = None, optimizer: str | None = None, gpu_memory_gib: float | None = None
    ) -> dict[str, Any]:
        from ..model.memory import (
            OPTIMIZER_ALIASES,
            OPTIMIZER_STATES,
            GiB,
            Setup,
            capacity_from_run,
            estimate,
            seq_from_model,
            setup_from_run,
        )

        dtypes = ("fp32", "bf16", "fp16", "amp-bf16", "amp-fp16")
        if dtype is not None and dtype not in dtypes:
            raise AgentInputError(f"dtype must be one of {', '.join(dtypes)}, got {dtype!r}")
        for name, val, hi in (("batch_size", batch_size, 1 << 20), ("seq_len", seq_len, 1 << 24)):
            if val is not None and not 1 <= val <= hi:
                raise AgentInputError(f"{name} must be between 1 and {hi}, got {val}")
        if gpu_memory_gib is not None and not 0 < gpu_memory_gib <= 1 << 16:
            raise AgentInputError(f"gpu_memory_gib must be a positive number of GiB, got {gpu_memory_gib}")
        if optimizer is not None:
            o = optimizer.lower().replace("-", "_")
            if o not in OPTIMIZER_ALIASES and o not in OPTIMIZER_STATES:
                raise AgentInputError(f"unknown optimizer {optimizer!r}; known: {', '.join(sorted(set(OPTIMIZER_ALIASES) | set(OPTIMIZER_STATES)))}")
        real = self.roots.resolve(model_or_config, what="model path")
        m = self._model(model_or_config, values=False, real=real)
        base = Setup()
        given: dict[str, str] = {}
        for key, val in (("batch_size", batch_size), ("seq_len", seq_len), ("dtype", dtype), ("optimizer", optimizer)):
            if val is not None:
                setattr(base, key, val)
                given[key] = "tool argument"
        base.sources = given
        run = self._facts(real, model_or_config)
        setup = setup_from_run(run, base) if run is not None else base
        if setup.seq_len is None:
            fallback = seq_from_model(m)
            if fallback:
                setup.seq_len = fallback
                setup.sources["seq_len"] = "the model's learned positions (maximum context)"
        est = estimate(m, setup)
        out: dict[str, Any] = {"model": m.source, "parameters": m.total, "estimate": est.to_dict(), "unit": "bytes"}
        cap = (gpu_memory_gib * GiB, "tool argument gpu_memory_gib") if gpu_memory_gib is not None else (capacity_from_run(run) if run is not None else None)
        if cap is not None:
            out["capacity"] = {"bytes": cap[0], "source": cap[1], "batch_that_fits": est.batch_that_fits(cap[0])}
        return out

    def _facts(self, real: Path, given: str) -> Any:
        """Config and events of the run around a model (its folder, weights excluded), for the memory setup."""
        from ..ingest.discover import discover

        folder = real if real.is_dir() else real.parent
        files = []
        for p in sorted(folder.iterdir()):
            if p.is_symlink() and not self.roots.contains(p.resolve()):
                continue  # never read through a link out of the roots (a folder given directly was refused already)
            if p.is_file() and p.suffix.lower() in (".json", ".yaml", ".yml", ".toml", ".log", ".txt", ".out", ".err", ".cfg", ".ini") and p.stat().st_size < 50_000_000:
                files.append(p)
        return discover(files) if files else None

    def explain(self, id_or_code: str) -> dict[str, Any]:
        from ..checks.registry import all_checks, get_check
        from ..reasoning.catalog import catalog

        key = (id_or_code or "").strip()
        if not key or len(key) > MAX_ID_CHARS:
            raise AgentInputError("give a check code (TDX101), a symptom id (loss_divergence) or a root-cause id (lr_too_high)")
        spec = get_check(key)
        if spec is not None:
            return {
                "kind": "check",
                "code": spec.code,
                "symptom": spec.emits,
                "family": spec.family,
                "title": spec.title,
                "documentation": spec.doc,
                "thresholds": {k: v for k, v in spec.defaults.items()},
                "requires": [r if isinstance(r, str) else " or ".join(r) for r in spec.requires],
            }
        cat = catalog()
        e = cat.get(key)
        if e is not None:
            return {
                "kind": "cause",
                "id": e.id,
                "title": e.title,
                "summary": e.summary,
                "quick_fix": e.quick_fix,
                "fix": e.fix,
                "verify": e.verify,
                "if_not": e.if_not,
                "checklist": list(e.checklist),
            }
        codes = ", ".join(s.code for s in all_checks())
        raise AgentInputError(f"unknown check or cause {key!r} (checks: {codes}; causes: {', '.join(sorted(cat))})")

    def list_artifacts(self, dir: str) -> dict[str, Any]:
        from ..ingest.discover import _walk, choose_reader
        from ..run import Run

        real = self.roots.resolve(dir, what="folder")
        if not real.is_dir():
            raise AgentInputError(f"{dir}: is a file, not a folder (give its folder, or call diagnose on the file)")
        scratch = Run()
        readable: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = []
        n = 0
        for it in _walk(real, real, scratch):
            n += 1
            if n > caps.MAX_LISTED:
                break
            src = it.source
            if it.is_dir:
                readable.append({"path": src.display, "reader": "folder", "kind": "folder read as a whole (tracking-system or TensorBoard run)"})
                continue
            reader, reason = choose_reader(src)
            if reader is None:
                skipped.append({"path": src.display, "reason": reason, "bytes": src.size})
            else:
                readable.append({"path": src.display, "reader": getattr(reader, "NAME", "?"), "bytes": src.size})
        skipped.extend({"path": s.path, "reason": s.reason} for s in scratch.skipped)
        out: dict[str, Any] = {
            "folder": self.roots.display(real),
            "readable": readable,
            "skipped": skipped,
            "complete": n <= caps.MAX_LISTED,
        }
        if n > caps.MAX_LISTED:
            out["note"] = f"listing stopped after {caps.MAX_LISTED} entries; list a subfolder for the rest"
        return caps.capped(out)
