"""The torch side of the probe: what is measured when, from hooks that never change the numbers.

Per training step, with the defaults:

- forward start (a forward pre-hook on the root module, or the Lightning
  callback): data-wait time, references to the batch and the random state (no
  copy), the train/eval mode;
- forward end: a tensor hook on the followed output (the loss when the model
  returns one) captures the gradient flowing into it and queues a callback for
  the end of the backward pass;
- end of backward (after DistributedDataParallel has averaged the gradients):
  the per-parameter and global gradient norm in one fused pass and one read
  back (pre-clip, unscaled when a GradScaler is in use), whether it is finite;
- ``optimizer.step()`` pre- and post-hooks: the action on a non-finite
  gradient (warn, stop, skip the batch), LR per group, step time, memory, loss
  scale; at cadence steps a snapshot of the weights for update ratios.

At cadence steps (``config.every``) leaf-module forward hooks are installed
for one forward to record activation statistics, and the per-layer norms and
invariants are written. Hooks only read: they return None, never touch
``.grad`` or the weights (except ``skip`` on a non-finite gradient, which the
user asked for), and draw no random numbers, so the losses and final weights
are bit-identical with and without the probe.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from . import logformat as fmt
from . import nan_trace, torch_stats
from .config import ProbeConfig
from .distributed import RankComparer, compare, is_replicated, rank_info
from .errors import NonFiniteError
from .invariants import Invariants
from .memory import ProcessMemory
from .recorder import Recorder

log = logging.getLogger("traindx.probe")

WRAPPER_PREFIXES = ("module.", "_orig_mod.")
NOT_UPDATED_MIN_GRAD = 1e-6  # relative to the weight norm: smaller gradients may legitimately round away
OUT_GRAD_KEEP_BYTES = 64 * 1024 * 1024  # the gradient into the followed output is kept for replay up to this size


def clean_name(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in WRAPPER_PREFIXES:
            if name.startswith(p):
                name = name[len(p) :]
                changed = True
        name = name.replace("._orig_mod.", ".").replace(".module.", ".") if name.count("._orig_mod.") else name
    return name


def is_compiled(model: nn.Module) -> bool:
    return isinstance(getattr(model, "_orig_mod", None), nn.Module) or getattr(model, "_compiled_call_impl", None) is not None


def innermost_optimizer(opt: Any) -> Any:
    """The torch optimizer inside wrappers that hold it as ``.optimizer`` (accelerate, Lightning)."""
    seen = 0
    while seen < 4 and not _has_step_hooks(opt) and hasattr(opt, "optimizer"):
        opt = opt.optimizer
        seen += 1
    inner = getattr(opt, "optimizer", None)
    if inner is not None and isinstance(inner, torch.optim.Optimizer) and type(opt).__name__ in ("AcceleratedOptimizer", "LightningOptimizer"):
        return inner
    return opt


def _has_step_hooks(opt: Any) -> bool:
    return isinstance(opt, torch.optim.Optimizer)


def scale_of(scaler: Any) -> torch.Tensor | float | None:
    """The current loss scale of a GradScaler without a device synchronisation (its scale tensor), or None."""
    if scaler is None:
        return None
    if not getattr(scaler, "_enabled", True) and not (callable(getattr(scaler, "is_enabled", None)) and scaler.is_enabled()):
        return None
    s = getattr(scaler, "_scale", None)
    if isinstance(s, torch.Tensor):
        return s
    try:
        return float(scaler.get_scale())
    except Exception:  # noqa: BLE001
        return None


class TorchProbe:
    """Hooks on one model and optimizer, feeding a :class:`Recorder`."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: Any = None,
        *,
        log_dir: str | Path,
        config: ProbeConfig,
        scaler: Any = None,
        framework: str = "torch",
        root_hooks: bool = True,
        step_pre_hook: bool = True,
        start_step: int = 0,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.inner = nan_trace.unwrap(model)
        self.scaler = scaler
        self.framework = framework
        self.compiled = is_compiled(model)
        self.ranks = rank_info()
        self.device = self._device()
        self.log_dir = Path(log_dir)
        cuda = self.device is not None and self.device.type == "cuda"
        self.recorder = Recorder(
            log_dir, config, rank=self.ranks.rank, world_size=self.ranks.world_size, convert=self._convert, defer=16
        )
        self.recorder.on_values = self._on_values
        self.guard = self.recorder.guard
        self.inv = Invariants(self._event, frozen_after=config.frozen_after, not_updated_after=config.not_updated_after)
        self.proc_mem = ProcessMemory() if not cuda else None
        self.handles: list[Any] = []
        self.optimizer = innermost_optimizer(optimizer) if optimizer is not None else None
        self.step = int(start_step)
        self.closed = False
        self.replaying = False
        # parameters: trainable ones of the model, names without wrapper prefixes
        self.named: list[tuple[str, nn.Parameter]] = []
        seen: set[int] = set()
        for n, p in self.inner.named_parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            self.named.append((clean_name(n), p))
        self.trainable = [(n, p) for n, p in self.named if p.requires_grad]
        self.tparams = [p for _, p in self.trainable]
        self.all_idx = list(range(len(self.tparams)))
        devs = {p.device for p in self.tparams}
        self.fast_norms = len(devs) <= 1 and all(p.dtype == torch.float32 for p in self.tparams)
        self.maybe_sparse = any(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and getattr(m, "sparse", False) for m in self.inner.modules())
        self.opt_params: set[int] = set()
        self._refresh_opt_params()
        self.module_names = {m: clean_name(n) for n, m in self.inner.named_modules()}
        self.mode_sensitive = [(n, m) for m, n in self.module_names.items() if isinstance(m, torch_stats.MODE_SENSITIVE)]
        # per-step state
        now = time.perf_counter()
        self.t_last_step = now
        self.t_first_forward: float | None = None
        self.forward_training: list[bool] = []
        self.capture: nan_trace.Capture | None = None
        self.suspect: nan_trace.Capture | None = None  # the capture of the first non-finite gradient, frozen
        self.backward_capture: nan_trace.Capture | None = None
        self.auto_losses: list[tuple[torch.Tensor, torch.Tensor]] = []  # (output value, gradient it received) per backward
        self.step_scale: float | None = None
        self._cb_queued = False
        self.gnorm: float | None = None
        self.gnorm_at_step = False
        self.per_norms: torch.Tensor | None = None
        self.per_idx: list[int] = []
        self.nonfinite_pending = False
        self.preclip_since_step = False
        self.stepped_since_boundary = False
        self.activity = False
        self.first_nonfinite_step: int | None = None
        self.skip_active = False
        self.overflow_run = 0
        self.patience_due = False
        self.snapshot: list[tuple[int, torch.Tensor]] | None = None
        self.act_handles: list[Any] = []
        self.act_values: dict[str, list[tuple[str, torch.Tensor]]] = {}
        self.sentinel_incoming: torch.Tensor | None = None
        self.sentinel_param: torch.Tensor | None = None
        self.sentinel_name = ""
        self.sentinel_handles: list[Any] = []
        self.sentinel_done = False
        self.comparer: RankComparer | None = None
        self._loss_nonfinite_reported = False
        self._fallback_noted = False
        self._start(root_hooks, step_pre_hook, info or {})

    # -- setup -------------------------------------------------------------------------------------
    def _device(self) -> torch.device | None:
        for p in self.model.parameters():
            return p.device
        return None

    def _refresh_opt_params(self) -> None:
        if self.optimizer is None:
            return
        self.opt_params = {id(p) for g in self.optimizer.param_groups for p in g["params"]}

    def _start(self, root_hooks: bool, step_pre_hook: bool, info: dict[str, Any]) -> None:
        blind: list[str] = []
        if self.compiled:
            blind.append(
                "activation statistics: the model is compiled with torch.compile, so per-module forward hooks would run inside "
                "the compiled graph; they are not installed. Gradients, weights, LR, memory and invariants are recorded; "
                "the first non-finite value is traced by replaying the batch through the uncompiled module (eager numerics)"
            )
        if self.optimizer is None:
            blind.append("update ratios, parameters-not-updated and the action before a non-finite step: no optimizer was given")
        header = {
            "framework": self.framework,
            "torch": torch.__version__.split("+")[0],
            "model": type(self.inner).__name__,
            "wrapped": type(self.model).__name__ if self.model is not self.inner else None,
            "compiled": self.compiled,
            "device": str(self.device) if self.device is not None else None,
            "params": {"tensors": len(self.named), "trainable_tensors": len(self.trainable), "count": int(sum(p.numel() for _, p in self.named))},
            "grad_norm": "pre_clip",
            "memory": "cuda" if self.device is not None and self.device.type == "cuda" else "process_rss",
            "optimizer": type(self.optimizer).__name__ if self.optimizer is not None else None,
            "scaler": self.scaler is not None,
            "step_start": self.step,
            "blind": blind,
        }
        header.update(info)
        self.recorder.start(**header)
        for b in blind:
            self.recorder.note("blind", b.split(":", 1)[0], b)
        if root_hooks:
            pre, post = self._pre_forward_hook, self._post_forward_hook
            if getattr(self.model, "_compiled_call_impl", None) is not None:
                # module.compile() compiles the hooks with the forward: keep them out of the graph
                pre, post = torch.compiler.disable(pre), torch.compiler.disable(post)
            self.handles.append(self.model.register_forward_pre_hook(pre, with_kwargs=True))
            self.handles.append(self.model.register_forward_hook(post, with_kwargs=True))
        if self.optimizer is not None:
            if step_pre_hook:
                self.handles.append(self.optimizer.register_step_pre_hook(self._opt_pre_hook))
            self.handles.append(self.optimizer.register_step_post_hook(self._opt_post_hook))
        if self.config.invariants:
            self.guard.call("invariants", self._install_sentinel)
        if self.ranks.distributed:
            want = self.config.compare_ranks if self.config.compare_ranks is not None else is_replicated(self.model)
            if want:
                self.comparer = self.guard.call("ranks", RankComparer, self.config.rank_timeout_s)
            elif self.config.compare_ranks is None:
                self.recorder.note("blind", "ranks", "rank drift: the model is not wrapped in DistributedDataParallel, so ranks are not expected to hold equal weights; pass compare_ranks=True to compare them anyway")

    def _install_sentinel(self) -> None:
        """Choose the smallest trainable parameter to watch for gradients that were not cleared."""
        if not self.trainable or not hasattr(torch.Tensor, "register_post_accumulate_grad_hook"):
            return
        self.sentinel_name, self.sentinel_param = min(self.trainable, key=lambda t: (t[1].numel(), t[0]))

    def _sentinel_due(self) -> bool:
        """Check gradient clearing at the first steps and at cadence steps (a missing zero_grad shows at every step)."""
        return self.sentinel_param is not None and self.recorder.last_step is not None and (self.step <= self.recorder.last_step + 2 and self.step < 3 or self.config.is_cadence(self.step))

    def _arm_sentinel(self) -> None:
        """Hooks for this step's first backward: the gradient arriving at the sentinel, and its .grad once accumulated."""
        p = self.sentinel_param
        self.sentinel_incoming = None
        self.sentinel_done = False

        def incoming(g: torch.Tensor) -> None:
            if not self.replaying and not self.sentinel_done and self.sentinel_incoming is None:
                self.sentinel_incoming = g
            return None

        def accumulated(param: torch.Tensor) -> None:
            if not self.replaying and not self.sentinel_done:
                self.sentinel_done = True
                self.guard.call("invariants", self._check_cleared, param)

        self.sentinel_handles = [p.register_hook(incoming), p.register_post_accumulate_grad_hook(accumulated)]

    def _disarm_sentinel(self) -> None:
        for h in self.sentinel_handles:
            h.remove()
        self.sentinel_handles = []
        self.sentinel_incoming = None

    def _check_cleared(self, param: torch.Tensor) -> None:
        g_in, self.sentinel_incoming = self.sentinel_incoming, None
        if g_in is None or param.grad is None:
            return
        grad = param.grad
        cleared = grad is g_in or _same(grad, g_in)
        self.inv.grads_cleared(self.step, cleared, self.sentinel_name)

    # -- forward ---------------------------------------------------------------------------------------
    def _pre_forward_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if not torch.is_grad_enabled() or self.closed or self.replaying:
            return None
        fwd = self.inner
        self.guard.call("capture", self.forward_started, args, kwargs, lambda: fwd(*args, **kwargs), module.training)
        return None

    def _post_forward_hook(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if not torch.is_grad_enabled() or self.closed or self.replaying:
            return None
        self.guard.call("capture", self.follow_output, torch_stats.first_tensor(output))
        return None

    def forward_started(self, args: tuple, kwargs: dict, forward: Callable[[], Any], training: bool, select: Callable[[Any], Any] | None = None) -> None:
        """A training forward begins (called by the root pre-hook, or by a framework callback)."""
        now = time.perf_counter()
        if not self.activity:
            self.activity = True
            self.recorder.activity = True
            self.t_first_forward = now
        self.forward_training.append(bool(training))
        cuda = self.device is not None and self.device.type == "cuda"
        cpu_rng, cuda_rng = nan_trace.capture_rng(cuda)
        self.capture = nan_trace.Capture(
            forward=forward,
            args=args,
            kwargs=kwargs,
            step=self.step,
            cpu_rng=cpu_rng,
            cuda_rng=cuda_rng,
            autocast=nan_trace.capture_autocast(),
            select=select or torch_stats.first_tensor,
        )
        if len(self.forward_training) == 1 and self.config.invariants and self._sentinel_due():
            self.guard.call("invariants", self._arm_sentinel)
        if len(self.forward_training) == 1 and self.config.is_cadence(self.step) and training:
            if self.config.activations and not self.compiled:
                self.guard.call("activations", self._install_act_hooks)
            if self.config.invariants and self.mode_sensitive:
                self.guard.call("invariants", self._check_submodule_modes)

    def follow_output(self, out: torch.Tensor | None) -> None:
        """The forward ended with ``out`` (the loss, or the model output the loss is computed from)."""
        if self.act_handles:
            self.guard.call("activations", self._remove_act_hooks)
        if out is None or not isinstance(out, torch.Tensor) or not out.requires_grad:
            return
        cap = self.capture
        value = out.detach() if out.numel() == 1 else None

        def hook(g: torch.Tensor) -> None:
            if value is not None:
                # the loss as it entered the backward pass is its value times the gradient it received;
                # the product is taken only when the record is written and the user gave no loss
                self.auto_losses.append((value, g.detach()))
            self.guard.call("backward_end", self._output_grad, cap, g)
            return None

        out.register_hook(hook)

    def _output_grad(self, cap: nan_trace.Capture | None, g: torch.Tensor) -> None:
        if self.closed or self.replaying:
            return
        if cap is not None and cap.out_grad is None and g.numel() * g.element_size() <= OUT_GRAD_KEEP_BYTES:
            cap.out_grad = g
        self.backward_capture = cap
        if not self._cb_queued:
            self._cb_queued = True
            # under torch.distributed, DDP queues its gradient averaging later in the backward: go after it
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            torch.autograd.Variable._execution_engine.queue_callback(self._backward_done_first if distributed else self._backward_done)

    def _backward_done_first(self) -> None:
        # queued again so that it runs after callbacks queued later during the backward (DDP's gradient averaging)
        try:
            torch.autograd.Variable._execution_engine.queue_callback(self._backward_done)
        except Exception:  # noqa: BLE001
            self._backward_done()

    def _backward_done(self) -> None:
        self.guard.call("grad_norm", self._measure_grads, False)

    # -- gradients ---------------------------------------------------------------------------------------
    def _measure_grads(self, at_step: bool) -> None:
        self._cb_queued = False
        grads = [p.grad for p in self.tparams]
        if self.maybe_sparse or any(g is None for g in grads):
            idx = [i for i, g in enumerate(grads) if g is not None and not g.is_sparse]
            grads = [grads[i] for i in idx]
        else:
            idx = self.all_idx
        # scaled gradients can overflow a float32 sum of squares: accumulate in float64 then
        wide = self.scaler is not None and not at_step
        if self.fast_norms and not wide and grads:
            # the common case, with as few tensor operations as possible (each costs microseconds at every step):
            # the per-tensor norms read back at once, the global norm summed here in double precision
            per = torch.stack(torch._foreach_norm(grads, 2))
            self._grads_measured(math.sqrt(math.fsum(v * v for v in per.tolist())), None, at_step, per, idx)
            return
        per = torch_stats.norms(grads, wide=wide)
        total = torch_stats.total_norm(per)
        scale = scale_of(self.scaler) if not at_step else None
        if isinstance(scale, torch.Tensor):
            got = torch.stack([total, scale.detach().float().reshape(()).to(total.device)]).tolist()
            g, s = got[0], got[1]
        else:
            g, s = float(total), (float(scale) if scale is not None else None)
        self._grads_measured(g, s, at_step, per, idx)

    def _grads_measured(self, g: float, s: float | None, at_step: bool, per: torch.Tensor, idx: list[int]) -> None:
        """The global gradient norm ``g`` (still scaled by ``s`` when a loss scale is given) of this backward."""
        if s:
            g = g / s
        if math.isfinite(g) and self.nonfinite_pending and not at_step:
            # the gradients were cleared since the non-finite ones and no optimizer step used them:
            # that step was skipped (a GradScaler overflow); close it before this backward's step goes on
            self._skipped_step(keep_current=True)
        self.gnorm = g
        self.gnorm_at_step = at_step
        if s is not None:
            self.step_scale = s  # the scale this step's backward ran with (the scaler may change it before the step ends)
        self.per_norms = per
        self.per_idx = idx
        self.preclip_since_step = True
        if not math.isfinite(g):
            cap = self.backward_capture or self.capture
            if not self.nonfinite_pending and self.suspect is None and self.first_nonfinite_step is None:
                self.suspect = cap
            self.nonfinite_pending = True

    def _skipped_step(self, keep_current: bool = False) -> None:
        """The last step's gradients were non-finite and no optimizer step used them (a GradScaler skipped it)."""
        self.nonfinite_pending = False
        self.overflow_run += 1
        self.recorder.count("skipped_nonfinite_steps")
        if self.overflow_run >= self.config.overflow_patience and self.first_nonfinite_step is None:
            if keep_current:
                # inside the autograd engine's callback: replaying a batch here would nest a backward pass
                self.patience_due = True
            else:
                self.guard.call("nan", self._handle_nonfinite, "skipped", True)
        saved = None
        if keep_current:
            saved = (self.activity, self.t_first_forward, self.forward_training, self.capture, self.backward_capture, self.auto_losses)
        self._end_step(skipped=True, omit_grad=True)
        if saved is not None:
            (self.activity, self.t_first_forward, self.forward_training, self.capture, self.backward_capture, self.auto_losses) = saved
            self.recorder.activity = self.activity

    # -- optimizer ---------------------------------------------------------------------------------------
    def _opt_pre_hook(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self.before_step()
        return None

    def before_step(self) -> None:
        """The optimizer is about to apply the gradients (its pre-hook, or a framework's callback)."""
        if self.closed:
            return
        if not self.preclip_since_step:
            self.guard.call("grad_norm", self._measure_grads, True)
            if not self._fallback_noted and self.gnorm is not None:
                self._fallback_noted = True
                self.recorder.note("fallback", "grad_norm", "the followed output received no gradient (or the forward was not seen): gradient norms are measured at optimizer.step(), after any clipping (grad_norm_at_step)")
        if self.patience_due and self.first_nonfinite_step is None and self.suspect is not None:
            self.patience_due = False
            self.guard.call("nan", self._handle_nonfinite, "skipped", True)
        if self.nonfinite_pending:
            self.guard.call("nan", self._handle_nonfinite, "before_step", True)
        cadence = self.config.is_cadence(self.step)
        if self.config.invariants:
            self.guard.call("invariants", self._check_mode)
        if cadence and (self.config.layers or self.config.invariants):
            self._refresh_opt_params()
            self.guard.call("layers", self._take_snapshot)

    def _opt_post_hook(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.closed:
            return None
        self.stepped_since_boundary = True
        cadence = self.config.is_cadence(self.step)
        if cadence:
            self.guard.call("layers", self._cadence_after_step)
        self._end_step(skipped=self.skip_active)
        return None

    def _handle_nonfinite(self, where: str, raise_ok: bool) -> None:
        """The first non-finite gradient: trace its origin, save the batch, act; later ones: count, and skip if asked."""
        step = self.step
        self.nonfinite_pending = False
        self.recorder.count("nonfinite_steps")
        if self.first_nonfinite_step is not None:
            if self.config.on_nonfinite == "skip" and where == "before_step":
                self._drop_grads()
            return
        cap = self.suspect or self.capture
        self.suspect = None
        if cap is not None:
            step = cap.step  # the step whose batch produced it (earlier than now when a GradScaler skipped steps in between)
        self.first_nonfinite_step = step
        origin: dict[str, Any] = {}
        if self.config.trace_origin and cap is not None:
            params = [p for _, p in self.named]
            self.replaying = True  # the replay must not feed the probe's own hooks
            try:
                origin = self.guard.call("trace", nan_trace.trace, cap, self.inner, params) or {}
            finally:
                self.replaying = False
        batch_file = None
        if self.config.save_batch and cap is not None:
            path = self.log_dir / fmt.batch_name(cap.step, self.ranks.rank)
            if self.guard.call("save_batch", nan_trace.save_batch, path, cap, origin, self.ranks.rank) is None and path.exists():
                batch_file = path.name
        text = self._origin_text(step, origin, batch_file)
        action = self.config.on_nonfinite
        self.recorder.event(
            "nan_origin",
            step,
            text,
            module=origin.get("module", ""),
            module_type=origin.get("module_type", ""),
            phase=origin.get("phase", "unknown"),
            op=origin.get("op", ""),
            node=origin.get("node", ""),
            detail=origin.get("detail", ""),
            batch_file=batch_file,
            action=action,
            found_at=where,
        )
        log.warning("traindx probe: %s", text)
        if action == "stop" and raise_ok:
            self._end_step(skipped=True, gnorm=self.gnorm)
            self.recorder.flush(close_open=True)
            raise NonFiniteError(text + " (on_nonfinite='stop': the optimizer step was not applied)", step=step, origin=origin, batch_file=batch_file)
        if action == "skip":
            self.skip_active = True
            if where == "before_step":
                self._drop_grads()

    def _drop_grads(self) -> None:
        """Skip the batch: the optimizer step sees no gradients (optimizers leave parameters without .grad alone)."""
        self.skip_active = True
        self.recorder.count("skipped_batches")
        if self.optimizer is None:
            return
        for g in self.optimizer.param_groups:
            for p in g["params"]:
                p.grad = None

    def _origin_text(self, step: int, origin: dict[str, Any], batch_file: str | None) -> str:
        phase = origin.get("phase", "")
        mod = origin.get("module", "")
        mtype = origin.get("module_type", "")
        who = f"module '{mod}' ({mtype})" if mod else (f"the top-level module {mtype} (its own forward code)" if mtype else "the model")
        if phase == "forward":
            core = f"first non-finite value at step {step}, in the forward of {who}: {origin.get('detail', '')}"
        elif phase == "backward":
            core = f"first non-finite value at step {step}, in the backward of {who}: {origin.get('detail', '')}"
        elif phase in ("input", "weights", "outside", "not_reproduced"):
            core = f"first non-finite gradient at step {step}: {origin.get('detail', '')}"
        else:
            core = f"first non-finite gradient at step {step} (origin not traced)"
        if batch_file:
            core += f"; batch saved to {batch_file}"
        return core

    # -- step end ------------------------------------------------------------------------------------------
    def _end_step(self, skipped: bool = False, gnorm: float | None = None, omit_grad: bool = False) -> None:
        now = time.perf_counter()
        vals: dict[str, Any] = {}
        g = None if omit_grad else (gnorm if gnorm is not None else self.gnorm)
        if g is not None:
            vals["grad_norm_at_step" if self.gnorm_at_step else "grad_norm"] = g
        if self.optimizer is not None:
            vals["lr"] = [float(pg["lr"]) for pg in self.optimizer.param_groups]
        vals["step_time"] = now - self.t_last_step
        if self.t_first_forward is not None:
            vals["data_wait"] = max(0.0, self.t_first_forward - self.t_last_step)
        if self.config.memory:
            mem = self.guard.call("memory", self._memory)
            if mem:
                vals["memory"] = mem
        scale = self.step_scale if self.step_scale is not None else scale_of(self.scaler)
        if scale is not None:
            vals["loss_scale"] = scale.detach().clone() if isinstance(scale, torch.Tensor) else scale
        if skipped:
            vals["skipped"] = 1
        if g is not None and not math.isfinite(g):
            vals["nonfinite"] = 1
        elif not skipped:
            # a normal step ends a run of loss-scale overflows: their batches are not suspects any more
            self.overflow_run = 0
            self.patience_due = False
            if self.first_nonfinite_step is None:
                self.suspect = None
        if self.auto_losses:
            vals["_auto_loss"] = (self.auto_losses, vals.get("loss_scale"))
        self.recorder.step_ended(self.step, vals)
        # reset for the next step
        self.step += 1
        self.t_last_step = now
        self.t_first_forward = None
        self.activity = False
        self.forward_training = []
        self.preclip_since_step = False
        self.stepped_since_boundary = False
        if self.sentinel_handles:
            self._disarm_sentinel()
        self.gnorm = None
        self.gnorm_at_step = False
        self.per_norms = None
        self.auto_losses = []
        self.backward_capture = None
        self._cb_queued = False
        self.step_scale = None
        if self.optimizer is not None and self.config.on_nonfinite == "skip":
            self.skip_active = False
        if self.capture is not None and self.suspect is None:
            self.capture = None

    def _memory(self) -> dict[str, int]:
        if self.proc_mem is not None:
            return self.proc_mem.read()
        return torch_stats.cuda_memory(self.device)

    def user_step(self, loss: Any = None, step: int | None = None, *, boundary: bool = True) -> None:
        """``probe.step(loss)``: the loss of this step; with ``boundary``, ends the step when no optimizer step did."""
        if self.closed:
            return
        if step is not None and not self.activity and self.recorder.last_step is None:
            self.step = int(step)
        value = loss.detach() if isinstance(loss, torch.Tensor) else loss
        if value is None:
            if boundary:
                self.boundary()
            return
        if self.activity and not self.stepped_since_boundary:
            if self.optimizer is not None and not self.nonfinite_pending or not boundary:
                # reported before optimizer.step() (or within gradient accumulation): it belongs to the step in progress
                self.recorder.loss(value)
                return
            self.boundary(loss=value)
        self.recorder.loss(value)

    def boundary(self, loss: Any = None) -> None:
        """A framework says the step is over: end it when the optimizer did not (no optimizer, or a skipped step)."""
        if self.closed or not self.activity or self.stepped_since_boundary:
            return
        if self.nonfinite_pending:
            if self.optimizer is None:
                self.guard.call("nan", self._handle_nonfinite, "after_step", True)
                self._end_step()
                return
            losses = [loss] if loss is not None else [auto_loss([pair], None) for pair in self.auto_losses]
            vals = [_as_float(v) for v in losses]
            if any(v is not None and not math.isfinite(v) for v in vals):
                # a non-finite loss: not a loss-scale overflow
                self.guard.call("nan", self._handle_nonfinite, "skipped", True)
                self._end_step(skipped=True)
            else:
                self._skipped_step()
            return
        self._end_step()

    # -- cadence work ---------------------------------------------------------------------------------------
    def _install_act_hooks(self) -> None:
        self.act_values = {"dead_frac": [], "saturated_frac": [], "act_mean": [], "act_std": []}
        done: set[int] = set()

        def hook(mod: nn.Module, _inp: Any, out: Any) -> None:
            if id(mod) in done or not isinstance(out, torch.Tensor) or not out.is_floating_point() or out.numel() == 0:
                return None
            done.add(id(mod))
            self.guard.call("activations", self._act_stats, mod, out)
            return None

        for m, name in self.module_names.items():
            if not name or any(True for _ in m.children()) or isinstance(m, torch_stats.SKIP_ACTS):
                continue
            self.act_handles.append(m.register_forward_hook(hook))

    def _act_stats(self, mod: nn.Module, out: torch.Tensor) -> None:
        name = self.module_names.get(mod, "")
        o = out.detach()
        mean, std = torch_stats.mean_std(o)
        self.act_values["act_mean"].append((name, mean))
        self.act_values["act_std"].append((name, std))
        if isinstance(mod, torch_stats.RELU_FAMILY):
            self.act_values["dead_frac"].append((name, torch_stats.dead_fraction(o)))
        elif isinstance(mod, torch_stats.SATURATING):
            self.act_values["saturated_frac"].append((name, torch_stats.saturated_fraction(o, mod)))

    def _remove_act_hooks(self) -> None:
        for h in self.act_handles:
            h.remove()
        self.act_handles = []
        values = self.act_values
        self.act_values = {}
        flat = [(k, n, t) for k, items in values.items() for n, t in items]
        if not flat:
            return
        nums = _read_back([t for _, _, t in flat])
        tables: dict[str, dict[str, float]] = {}
        for (k, n, _), v in zip(flat, nums):
            tables.setdefault(k, {})[n] = v
        self.recorder.acts(self.step, **tables)

    def _check_submodule_modes(self) -> None:
        if not self.model.training:
            return
        off = sorted(n for n, m in self.mode_sensitive if not m.training)
        if off:
            self.inv.mode(self.step, True, off)

    def _check_mode(self) -> None:
        if self.forward_training and not any(self.forward_training):
            self.inv.mode(self.step, False, [])

    def _take_snapshot(self) -> None:
        limit = self.config.max_snapshot_mb * 1024 * 1024
        snap: list[tuple[int, torch.Tensor]] = []
        used = 0
        for i, (_, p) in enumerate(self.trainable):
            if p.grad is None:
                continue
            size = p.numel() * p.element_size()
            if used + size > limit:
                continue
            used += size
            snap.append((i, p.detach().clone()))
        self.snapshot = snap

    def _cadence_after_step(self) -> None:
        step = self.step
        names = [n for n, _ in self.trainable]
        # weight norms of every trainable parameter
        weights = [p.detach() for _, p in self.trainable]
        w_norms = torch_stats.norms(weights) if weights else torch.zeros(0)
        tensors = [w_norms]
        snap, self.snapshot = self.snapshot or [], None
        upd = None
        if snap:
            before = [t for _, t in snap]
            after = [self.trainable[i][1].detach() for i, _ in snap]
            diffs = torch._foreach_sub(after, before)
            upd = torch_stats.norms(diffs)
            b_norms = torch_stats.norms(before)
            tensors += [upd, b_norms]
        per = self.per_norms if self.per_norms is not None else torch.zeros(0)
        tensors.append(per.to(w_norms.device) if per.numel() else per)
        lists = [t.tolist() for t in _to_cpu(tensors)]
        w = lists[0]
        grad_tab: dict[str, float] = {}
        per_list = lists[-1]
        gscale = 1.0
        sc = scale_of(self.scaler)
        if sc is not None and not self.gnorm_at_step:
            s = float(sc) if not isinstance(sc, torch.Tensor) else float(sc.item())
            gscale = 1.0 / s if s else 1.0
        has_grad: set[int] = set()
        g_of: dict[int, float] = {}
        for i, v in zip(self.per_idx, per_list):
            grad_tab[names[i]] = v * gscale
            g_of[i] = v * gscale
            if v != 0:
                has_grad.add(i)
        upd_tab: dict[str, float] = {}
        unchanged: dict[str, str] = {}
        if snap:
            u, b = lists[1], lists[2]
            lr_of = self._lr_by_param()
            for (i, _), du, bn in zip(snap, u, b):
                upd_tab[names[i]] = du / bn if bn > 0 else (math.inf if du > 0 else 0.0)
                # a gradient below 1e-6 of the weight's norm may round away in the update (the bias before a batch norm)
                if du == 0 and i in has_grad and not self.skip_active and g_of.get(i, 0.0) > NOT_UPDATED_MIN_GRAD * bn:
                    p = self.trainable[i][1]
                    if id(p) not in self.opt_params:
                        unchanged[names[i]] = "not in the optimizer"
                    else:
                        lr = lr_of.get(id(p))
                        if lr is None or lr > 0:
                            unchanged[names[i]] = f"in the optimizer (lr {lr:g}) but unchanged" if lr is not None else "in the optimizer but unchanged"
        if self.config.layers:
            self.recorder.layers(step, grad_norm=grad_tab, update_ratio=upd_tab, weight_norm=dict(zip(names, w)))
        if self.config.invariants and self.optimizer is not None and snap:
            self.inv.updates(step, unchanged)
        if self.config.invariants:
            seen = {}
            trainable_ids = {id(p): i for i, (_, p) in enumerate(self.trainable)}
            for n, p in self.named:
                i = trainable_ids.get(id(p))
                seen[n] = (p.requires_grad, id(p) in self.opt_params, i is not None and i in has_grad)
            self.inv.grads_seen(step, seen)
        if self.comparer is not None:
            fp = torch.tensor([self.gnorm if self.gnorm is not None else math.nan] + w, dtype=torch.float64)
            self.guard.call("ranks", self._compare_ranks, step, ["<grad_norm>"] + names, fp)

    def _lr_by_param(self) -> dict[int, float]:
        out: dict[int, float] = {}
        if self.optimizer is None:
            return out
        for g in self.optimizer.param_groups:
            lr = float(g.get("lr", 0.0))
            for p in g["params"]:
                out[id(p)] = lr
        return out

    def _compare_ranks(self, step: int, names: list[str], fp: torch.Tensor) -> None:
        assert self.comparer is not None
        table = self.comparer.gather(fp)
        found = compare(names, table, self.config.rank_tolerance)
        if found is None:
            return
        self.recorder.count("rank_drift_checks")
        prev = getattr(self, "_drift_reported", None)
        if prev is not None and not (found["max_rel_diff"] >= 10 * prev):
            return
        self._drift_reported = found["max_rel_diff"]
        worst = found["worst"]
        what = "the global gradient norm" if worst == "<grad_norm>" else f"{worst}"
        self._event(
            "rank_drift",
            step,
            f"ranks hold different weights at step {step}: {found['count']} of {len(names)} fingerprints differ across the "
            f"{self.ranks.world_size} ranks; the largest, {what}, by {found['max_rel_diff']:.3g} (relative), "
            + (f"between rank 0 and rank {found['worst_rank']}" if self.ranks.world_size == 2 else f"rank {found['worst_rank']} furthest from the others"),
            **found,
            world_size=self.ranks.world_size,
        )

    # -- values, events, close ------------------------------------------------------------------------------
    def _event(self, kind: str, step: int | None, text: str, **data: Any) -> None:
        self.recorder.event(kind, step, text, **data)
        log.warning("traindx probe: %s", text)

    def _convert(self, batch: list[dict[str, Any]]) -> None:
        slots: list[tuple[dict[str, Any], str]] = []
        tensors: list[torch.Tensor] = []
        for rec in batch:
            auto = rec.pop("_auto_loss", None)
            if auto is not None and "loss" not in rec:
                rec["loss"] = auto_loss(*auto)
            for k, v in rec.items():
                if isinstance(v, torch.Tensor):
                    slots.append((rec, k))
                    tensors.append(v)
        if not tensors:
            return
        for (rec, k), v in zip(slots, _read_back(tensors)):
            rec[k] = v

    def _on_values(self, rec: dict[str, Any]) -> None:
        loss = rec.get("loss")
        if isinstance(loss, float) and not math.isfinite(loss) and self.first_nonfinite_step is None and not self._loss_nonfinite_reported:
            self._loss_nonfinite_reported = True
            self.recorder.event(
                "nonfinite_loss",
                rec.get("step"),
                f"the loss is {loss} at step {rec.get('step')} while the gradients are finite: a loss term without a gradient (detached, or masked) went non-finite",
                step=rec.get("step"),
            )

    def flush(self) -> None:
        self.recorder.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for h in self.handles + self.act_handles + self.sentinel_handles:
            try:
                h.remove()
            except Exception:  # noqa: BLE001
                pass
        self.handles, self.act_handles = [], []
        self.inv.finish(self.recorder.last_step)
        counts = self.inv.summary()
        if self.proc_mem is not None:
            self.proc_mem.close()
        if self.comparer is not None:
            self.guard.call("ranks", self.comparer.close)
            self.comparer = None
        self.recorder.close(invariants=counts, first_nonfinite_step=self.first_nonfinite_step)


def auto_loss(pairs: list[tuple[torch.Tensor, torch.Tensor]], scale: torch.Tensor | float | None) -> torch.Tensor:
    """The step's loss as it entered the backward passes: each output value times the gradient it received, summed, unscaled."""
    parts = [v.float().reshape(()) * g.float().reshape(()) for v, g in pairs]
    total = parts[0] if len(parts) == 1 else torch.stack(parts).sum()
    if isinstance(scale, torch.Tensor):
        return total / scale.detach().float().reshape(()).to(total.device)
    return total / float(scale) if scale else total


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, NaN equal to NaN."""
    if a.shape != b.shape:
        return False
    if torch.equal(a, b):
        return True
    with torch.no_grad():
        return bool(((a == b) | (a.isnan() & b.isnan())).all())


def _as_float(v: Any) -> float | None:
    if isinstance(v, torch.Tensor):
        try:
            return float(v.detach().float().reshape(-1)[0]) if v.numel() else None
        except Exception:  # noqa: BLE001
            return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _to_cpu(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return [t.detach().to("cpu", non_blocking=False) for t in tensors]


def _read_back(tensors: list[torch.Tensor]) -> list[float]:
    """Scalars of possibly several devices read back with one transfer per device."""
    out: list[float] = [math.nan] * len(tensors)
    by_dev: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        by_dev.setdefault(t.device, []).append(i)
    for dev, idx in by_dev.items():
        vals = torch.stack([tensors[i].detach().float().reshape(()) for i in idx]).tolist()
        for i, v in zip(idx, vals):
            out[i] = float(v)
    return out


def finalizer(probe: TorchProbe) -> Callable[[], None]:
    ref = weakref.ref(probe)

    def close() -> None:
        p = ref()
        if p is not None:
            try:
                p.close()
            except Exception:  # noqa: BLE001
                pass

    return close
