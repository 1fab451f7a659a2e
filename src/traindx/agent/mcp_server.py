"""``traindx mcp``: the agent tools served over MCP (stdio), with the official ``mcp`` SDK (2.x, ``MCPServer``).

Each tool is a thin function over :class:`~traindx.agent.tools.Toolbox`: its name
is the tool's name, its docstring the description the agent reads, its type
hints (with field descriptions) the input schema. Every tool is read-only and
annotated so. Paths are confined to the server's roots; a bad argument raises
``ToolError``, which the SDK returns to the agent as a tool error carrying the
message (never as a result).

This module imports ``mcp`` at the top: it is loaded only by ``traindx mcp`` and
the tests, and ``traindx mcp`` prints how to install the extra when it is missing.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver import Image
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from .. import __version__
from . import AgentInputError
from .paths import Roots
from .tools import Toolbox

F = TypeVar("F", bound=Callable[..., Any])

INSTRUCTIONS = """traindx diagnoses machine-learning training runs from what they left behind (logs, metric files,
TensorBoard/MLflow/W&B folders, configs, tracebacks, checkpoints, samples). Call `diagnose` first on the run
folder: it returns the JSON contract (status, symptoms with located evidence, ranked root causes with confidence,
fixes, requests for missing data). Then dig with `extract_training_metrics`, `visualize_loss_curve`,
`check_gradients`, `analyze_architecture`, `count_parameters`, `profile_memory`; `explain` documents any check
code or cause id; `list_artifacts` shows what traindx can read in a folder. Quote evidence with its source
(file:line); never claim what the evidence does not show. All tools are read-only; paths must lie under the
server's roots."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

Paths = Annotated[list[str], Field(description="Run folders or files (relative to the server's root, or absolute inside it).", min_length=1, max_length=64)]


def _tool_errors(fn: F) -> F:
    """Turn the toolbox's input errors into ``ToolError`` (an anticipated failure: its message reaches the agent)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentInputError as e:
            raise ToolError(str(e)) from None

    return wrapper  # type: ignore[return-value]


def build_server(roots: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str] | None = None) -> MCPServer:
    """An ``MCPServer`` whose tools read only under ``roots`` and write plots only into ``out_dir`` (else a temporary folder)."""
    try:
        box = Toolbox(Roots(roots), out_dir)
    except AgentInputError as e:
        raise ValueError(str(e)) from None
    server = MCPServer("traindx", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")

    def add(fn: Callable[..., Any]) -> None:
        server.add_tool(_tool_errors(fn), name=fn.__name__, description=inspect.cleandoc(fn.__doc__ or ""), annotations=READ_ONLY)

    def diagnose(
        paths: Annotated[list[str], Field(description="Run folders or files; may be empty when context names the artifacts.", max_length=64)],
        symptoms: Annotated[
            list[str] | None, Field(description='Symptoms the user reported, each checked against the evidence, e.g. "Loss diverged at epoch 7".')
        ] = None,
        context: Annotated[
            dict[str, Any] | None,
            Field(
                description="A context package: task, artifacts {training_logs, loss_curves, model_code, error_messages, config}, "
                "symptoms, constraints {max_analysis_time (seconds or '30s')}. Relative paths are taken from the server's first root."
            ),
        ] = None,
        plots: Annotated[bool, Field(description="Also draw the report's plots (PNG) into the server's output folder and list them in analysis_artifacts.")] = False,
    ) -> dict[str, Any]:
        """Diagnose a training run: what went wrong, where (step), why (ranked root causes with located evidence and a calibrated confidence) and what to do.

        Returns the traindx JSON contract: status (diagnosis_complete | needs_more_data | healthy), summary,
        symptoms (id, severity, step, evidence with file:line sources), root_causes (issue, severity,
        confidence, evidence, fix, expected_impact, verify, if_not), quick_fixes, requests (artifacts that
        would settle open questions), user_symptoms (each stated symptom confirmed, refuted or not checkable),
        analysis_artifacts, time_limit (when constraints.max_analysis_time was given). Call this first."""
        return box.diagnose(paths, symptoms, context, plots)

    def extract_training_metrics(
        paths: Paths,
        metrics: Annotated[
            list[str] | None, Field(description="Series to return: canonical (loss/train, loss/val, grad_norm, lr) or as the file wrote them (val_loss). Default: all.")
        ] = None,
        step_range: Annotated[
            list[float] | None, Field(description="[first, last] step (or epoch, for epoch-indexed series) to keep, inclusive.", min_length=2, max_length=2)
        ] = None,
        max_points: Annotated[int, Field(description="Points per series at most; longer series are downsampled keeping extremes and non-finite points.", ge=2, le=5000)] = 400,
    ) -> dict[str, Any]:
        """Read a run's metric series, normalized: canonical names, numeric steps, the source file and name of each series.

        Each series comes with statistics over all its points in the range (first, last, min and max with
        step and file:line, NaN and inf counts, the first non-finite point) and its points, downsampled so
        that spikes and the first NaN survive (non-finite values are null). The total is capped at 20,000
        points and 64 series per call."""
        return box.extract_training_metrics(paths, metrics, step_range, max_points)

    def visualize_loss_curve(
        paths: Paths,
        metrics: Annotated[list[str] | None, Field(description="Series to draw, one panel each (at most 8). Default: the loss curves with the learning rate.")] = None,
    ) -> list[ImageContent | TextContent]:
        """Draw the run's loss curves (or the named series) annotated with what the diagnosis found: onsets, spikes, the first NaN, the best step.

        Returns the PNG as image content and, as text, its path in the server's output folder (never the run
        folder) with the series drawn and the symptoms marked."""
        png, info = box.visualize_loss_curve(paths, metrics)
        return [Image(data=png, format="png").to_image_content(), TextContent(type="text", text=json.dumps(info, indent=2))]

    def analyze_architecture(
        path: Annotated[str, Field(description="A .safetensors file, a sharded model folder, a torch checkpoint (.pt/.pth/.bin/.ckpt), an HF config.json, or a run folder holding one.")],
        spectra: Annotated[bool, Field(description="Also fit each weight matrix's eigenvalue spectrum (slower on large models).")] = False,
    ) -> dict[str, Any]:
        """Analyze a model's architecture from its checkpoint or config, without running any code: parameters by group (embedding, attention, mlp, norm, head...) and by layer, tied weights, and the balance verdict.

        The balance verdict says whether the embeddings dominate the parameter count (TDX801): a small
        generative model with most of its parameters in vocabulary-sized matrices has too little capacity
        left and tends to emit frequent tokens ("::::"). Weight health (NaN/inf, all-zero tensors) and the
        model checks' findings come with it."""
        return box.analyze_architecture(path, spectra)

    def count_parameters(
        path: Annotated[str, Field(description="A .safetensors file, a sharded model folder, a torch checkpoint, an HF config.json, or a run folder holding one.")],
    ) -> dict[str, Any]:
        """Count a model's parameters from the checkpoint headers (values are not read): total, trainable and frozen, by group with shares, bytes by dtype, tied tensors."""
        return box.count_parameters(path)

    def check_gradients(paths: Paths) -> dict[str, Any]:
        """Summarize the gradient flow of a run from its per-layer gradient norms (grad_norm/<layer> series) and its global grad norm.

        Per layer: median, last and largest norm (with step and file:line), non-finite and zero counts,
        spikes above 10x the layer's median. Across layers: the first-to-last layer ratio with a verdict
        (vanishing below 1e-3, exploding above 1e3, else balanced). The engine's gradient checks (TDX2xx)
        come with their evidence. Without per-layer norms it says how to log them."""
        return box.check_gradients(paths)

    def profile_memory(
        model_or_config: Annotated[str, Field(description="A checkpoint, an HF config.json, or a run folder holding one; the folder's config fills batch size, sequence length, dtype and optimizer.")],
        batch_size: Annotated[int | None, Field(description="Per-device batch size (else from the run's config, else 1).", ge=1)] = None,
        seq_len: Annotated[int | None, Field(description="Sequence length (else from the config or the model's positions).", ge=1)] = None,
        dtype: Annotated[str | None, Field(description="fp32, bf16, fp16 (pure half), amp-bf16 or amp-fp16.")] = None,
        optimizer: Annotated[str | None, Field(description="adamw, adam, sgd, sgd_momentum, adafactor, adam8bit, lion...")] = None,
        gpu_memory_gib: Annotated[float | None, Field(description="Device memory in GiB, to compute the largest batch that fits (else from an OOM message in the run).", gt=0)] = None,
    ) -> dict[str, Any]:
        """Estimate the memory of one training step in bytes: weights, gradients, optimizer state, activations, the peak, and the largest batch that fits a device (from gpu_memory_gib or an OOM message in the run). Each setting says where it came from."""
        return box.profile_memory(model_or_config, batch_size, seq_len, dtype, optimizer, gpu_memory_gib)

    def explain(
        id_or_code: Annotated[str, Field(description="A check code (TDX102), a symptom id (loss_spike) or a root-cause id (lr_too_high).")],
    ) -> dict[str, Any]:
        """Document a check or a root cause: for a check, what it detects, why it matters, the evidence it cites, likely causes, fix, known false positives and its thresholds; for a cause, its explanation, fix, how to verify it, what to try if it does not help, and its checklist."""
        return box.explain(id_or_code)

    def list_artifacts(
        dir: Annotated[str, Field(description="A folder under the server's root.")],
    ) -> dict[str, Any]:
        """List what traindx can read in a folder (each file with the reader that would read it) and what it would skip, with the reason. Reads only file headers."""
        return box.list_artifacts(dir)

    for fn in (
        diagnose,
        extract_training_metrics,
        visualize_loss_curve,
        analyze_architecture,
        count_parameters,
        check_gradients,
        profile_memory,
        explain,
        list_artifacts,
    ):
        add(fn)
    server.toolbox = box  # type: ignore[attr-defined]  # for the caller to clean up the temporary folder
    return server


def serve(roots: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str] | None = None) -> None:
    """Run the server over stdio until the client closes the connection."""
    server = build_server(roots, out_dir)
    try:
        server.run("stdio")
    finally:
        server.toolbox.close()  # type: ignore[attr-defined]
