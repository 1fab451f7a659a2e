"""An Adaptive Computation Time (ACT) classifier whose pondering collapses to one step: var() over a size-1 dim.

A GRU cell "ponders" each input for up to 8 steps, with a halting unit deciding when to stop
(Graves, 2016, "Adaptive Computation Time for Recurrent Neural Networks": halt once the summed
halting probabilities pass 1 - eps; here eps = 0.05). The loss is the task's cross-entropy plus
``tau * ponder_cost`` with a large ``tau = 0.5``, which pays the model to stop early. As in the
paper's batched form, the ponder loop runs until every example of the batch has halted. The
script logs ``halt_var``, the variance of the halting weights over the ponder steps
(``probs.var(dim=1).mean()``). At first the model ponders 2-8 steps; then the halting unit
saturates, the average number of ponder steps falls to ~1, and from about step 180 whole batches
halt after a single step: the ponder dimension has size 1, ``torch.var`` over it has zero
degrees of freedom, PyTorch warns once (``UserWarning: var(): degrees of freedom is <= 0``) and
``halt_var`` is ``nan`` on every such batch (10 of the 43 logged steps after the warning).

The script routes Python warnings into its log with ``logging.captureWarnings(True)``, so the
warning appears in ``train.log`` exactly as Python formats it (file, line, category, message,
then the source line). The file path in that line is written as ``/home/user/act/train.py`` so
that the log does not depend on where this repository is checked out.

Artifacts in ``--out``: ``train.log`` (``logging`` lines with ``key=value`` pairs every 10 steps,
validation every 100 steps, and the captured warning) and ``config.yaml``.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

CONFIG = {
    "seed": 0,
    "data": {"task": "teacher_classification", "in_features": 16, "num_classes": 4, "n_train": 5000, "n_val": 1000},
    "model": {"type": "act_gru", "hidden": 64, "max_ponder_steps": 8, "halt_epsilon": 0.05, "halt_bias_init": -1.0},
    "ponder_tau": 0.5,
    "optimizer": {"name": "adam", "lr": 0.003},
    "batch_size": 64,
    "max_steps": 600,
    "log_every": 10,
    "eval_every": 100,
}
SHOWN_PATH = "/home/user/act/train.py"
STEP_MS = 9.5


class ACTClassifier(nn.Module):
    def __init__(self, cfg: dict) -> None:
        super().__init__()
        m, d = cfg["model"], cfg["data"]
        self.cell = nn.GRUCell(d["in_features"] + 1, m["hidden"])
        self.halt = nn.Linear(m["hidden"], 1)
        self.out = nn.Linear(m["hidden"], d["num_classes"])
        self.max_steps = m["max_ponder_steps"]
        self.threshold = 1.0 - m["halt_epsilon"]
        nn.init.constant_(self.halt.bias, m["halt_bias_init"])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        h = x.new_zeros(b, self.cell.hidden_size)
        cum = x.new_zeros(b)
        running = torch.ones(b, dtype=torch.bool)
        n_steps = x.new_zeros(b)
        remainder = x.new_zeros(b)
        state = x.new_zeros(b, self.cell.hidden_size)
        probs = []
        for n in range(self.max_steps):
            first = x.new_full((b, 1), 1.0 if n == 0 else 0.0)
            h = self.cell(torch.cat([x, first], dim=1), h)
            p = torch.sigmoid(self.halt(h)).squeeze(-1)
            halting = running & ((cum + p > self.threshold) | (n == self.max_steps - 1))
            weight = torch.where(halting, 1.0 - cum, p) * running
            remainder = torch.where(halting, 1.0 - cum, remainder)
            n_steps = n_steps + running.float()
            state = state + weight.unsqueeze(1) * h
            probs.append(weight)
            cum = cum + weight
            running = running & ~halting
            if not running.any():
                break
        return self.out(state), n_steps, remainder, torch.stack(probs, dim=1)


_SCRIPT_PATH = re.compile(r"^\S*make\.py(?=:\d+: )")


class _ShownPath(logging.Filter):
    """Writes the path of this script in a captured warning as ``SHOWN_PATH``, whatever the checkout."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "py.warnings":
            record.msg = _SCRIPT_PATH.sub(SHOWN_PATH, str(record.msg))
        return True


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    cfg = CONFIG
    zc.write_yaml(args.out / "config.yaml", cfg)
    clock = zc.SimClock(seed=14)
    root = logging.getLogger()
    old_level, old_handlers = root.level, list(root.handlers)
    for handler in old_handlers:
        root.removeHandler(handler)
    handler = logging.FileHandler(args.out / "train.log", mode="w", encoding="utf-8")
    handler.setFormatter(zc._ClockFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", clock))
    handler.addFilter(_ShownPath())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    log = logging.getLogger("act.train")
    try:
        zc.seed_everything(cfg["seed"])
        d = cfg["data"]
        x, y = zc.teacher_classification(d["n_train"] + d["n_val"], d["in_features"], d["num_classes"], seed=3)
        x_tr, y_tr, x_val, y_val = x[:d["n_train"]], y[:d["n_train"]], x[d["n_train"]:], y[d["n_train"]:]
        model = ACTClassifier(cfg)
        opt = torch.optim.Adam(model.parameters(), lr=cfg["optimizer"]["lr"])
        gen = torch.Generator().manual_seed(cfg["seed"])
        log.info("%s", zc.env_line())
        m = cfg["model"]
        log.info("ACT-GRU hidden=%d max_ponder_steps=%d halt_epsilon=%s tau=%s params=%d", m["hidden"],
                 m["max_ponder_steps"], m["halt_epsilon"], cfg["ponder_tau"], zc.count_params(model))
        clock.advance(1310)
        for step in range(1, cfg["max_steps"] + 1):
            idx = torch.randint(0, d["n_train"], (cfg["batch_size"],), generator=gen)
            logits, n_steps, remainder, probs = model(x_tr[idx])
            task_loss = F.cross_entropy(logits, y_tr[idx])
            ponder_cost = (n_steps + remainder).mean()
            loss = task_loss + cfg["ponder_tau"] * ponder_cost
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            clock.advance(clock.jitter(STEP_MS))
            with torch.no_grad():
                halt_var = probs.var(dim=1).mean()
            if step % cfg["log_every"] == 0:
                log.info("step=%d loss=%.4f task_loss=%.4f ponder_cost=%.4f avg_ponder_steps=%.3f max_ponder_steps=%d "
                         "halt_var=%.4f", step, loss.item(), task_loss.item(), ponder_cost.item(),
                         n_steps.mean().item(), probs.shape[1], halt_var.item())
            if step % cfg["eval_every"] == 0:
                with torch.no_grad():
                    val_logits, val_steps, _, _ = model(x_val)
                    val_loss = float(F.cross_entropy(val_logits, y_val))
                    val_acc = float((val_logits.argmax(1) == y_val).float().mean())
                clock.advance(clock.jitter(40.0))
                log.info("eval step=%d val_loss=%.4f val_acc=%.4f val_avg_ponder_steps=%.3f", step, val_loss, val_acc,
                         float(val_steps.mean()))
        log.info("finished %d steps", cfg["max_steps"])
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
        for h in old_handlers:
            root.addHandler(h)
        root.setLevel(old_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
