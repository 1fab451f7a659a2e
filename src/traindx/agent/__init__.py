"""The agent layer: what a coding agent holds to debug a training run with traindx.

- :mod:`.paths`: confinement of every path an agent passes to the roots the server was started with;
- :mod:`.caps`: size caps on what a tool returns;
- :mod:`.tools`: the tools as plain functions (diagnose, metrics, plots, model, gradients, memory,
  documentation, artifact listing); they raise :class:`AgentInputError` on bad input;
- :mod:`.mcp_server`: the same tools served over MCP (``traindx mcp``, extra ``traindx[mcp]``);
- :mod:`.evidence_ids`: the stable ids (``S1.2``, ``C1.1``) that point at evidence items of a diagnosis;
- :mod:`.narrative`: the optional plain-language explanation (``diagnose --explain``, extra
  ``traindx[agent]``), whose every sentence must cite evidence ids;
- :mod:`.skill`: installs the agent skill (``traindx skill install``).

Nothing here imports ``mcp``, ``anthropic``, torch or matplotlib at module level except
:mod:`.mcp_server`, which needs ``mcp`` and is only imported by ``traindx mcp``.
"""

from __future__ import annotations


class AgentInputError(ValueError):
    """A tool argument that cannot be used: the message says which and why, in one line."""
