"""A 16-layer sigmoid MLP whose gradients vanish before they reach the first layers.

A plain ``nn.Sequential`` of 16 ``Linear(64, 64)`` + ``Sigmoid`` layers (PyTorch's default init, no
normalization, no residual connections) and a linear head is trained with SGD (lr 0.1, momentum
0.9) on a 10-class synthetic classification task that a 2-layer MLP learns easily. Each sigmoid
multiplies the backward signal by at most 0.25 and the default init keeps the weights small, so
the gradient norm shrinks by roughly an order of magnitude per layer: the first layer's gradient is
more than ten orders of magnitude smaller than the last one's, the early layers never move, and
the loss stays near chance for the whole run (about 2.22, the entropy of the class prior; ln 10 =
2.303) while the validation accuracy stays at ~17%, the share of the largest class.

Artifacts in ``--out``, as a PyTorch Lightning run with ``CSVLogger`` leaves them:
``lightning_logs/version_0/metrics.csv`` and ``hparams.yaml``. The module logs ``train_loss``
with ``on_step=True, on_epoch=True`` (``train_loss_step``, ``train_loss_epoch``), ``val_loss`` and
``val_acc`` at the end of each validation epoch, and, in ``on_before_optimizer_step``,
``self.log_dict(grad_norm(self, norm_type=2))``: one ``grad_2.0_norm/<parameter>`` column per
parameter plus ``grad_2.0_norm_total``. ``log_every_n_steps=20``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as zc  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

HPARAMS = {"depth": 16, "width": 64, "in_features": 20, "num_classes": 10, "activation": "sigmoid",
           "lr": 0.1, "momentum": 0.9, "batch_size": 64, "max_epochs": 10, "n_train": 4096, "n_val": 1024,
           "seed": 0, "log_every_n_steps": 20}


class DeepSigmoidMLP(nn.Module):
    def __init__(self, hp: dict) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width_in = hp["in_features"]
        for _ in range(hp["depth"]):
            layers += [nn.Linear(width_in, hp["width"]), nn.Sigmoid()]
            width_in = hp["width"]
        layers.append(nn.Linear(width_in, hp["num_classes"]))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def grad_norm(module: nn.Module, norm_type: float = 2.0) -> dict[str, float]:
    """What ``lightning.pytorch.utilities.grad_norm`` returns: one norm per parameter, then the total."""
    norms = {f"grad_{norm_type}_norm/{name}": p.grad.detach().norm(norm_type)
             for name, p in module.named_parameters() if p.grad is not None}
    if norms:
        norms[f"grad_{norm_type}_norm_total"] = torch.stack(list(norms.values())).norm(norm_type)
    return {k: zc.f32(v) for k, v in norms.items()}


def main(argv: list[str] | None = None) -> int:
    args = zc.parse_args(HERE, __doc__.splitlines()[0], argv)
    hp = HPARAMS
    zc.seed_everything(hp["seed"])
    x, y = zc.teacher_classification(hp["n_train"] + hp["n_val"], hp["in_features"], hp["num_classes"], seed=7)
    x_tr, y_tr, x_val, y_val = x[:hp["n_train"]], y[:hp["n_train"]], x[hp["n_train"]:], y[hp["n_train"]:]
    model = DeepSigmoidMLP(hp)
    opt = torch.optim.SGD(model.parameters(), lr=hp["lr"], momentum=hp["momentum"])
    logger = zc.LightningCSV(args.out)
    logger.log_hyperparams(hp)
    gen = torch.Generator().manual_seed(hp["seed"])
    bs = hp["batch_size"]
    step = 0
    for epoch in range(hp["max_epochs"]):
        perm = torch.randperm(hp["n_train"], generator=gen)
        epoch_losses: list[float] = []
        for start in range(0, hp["n_train"], bs):
            idx = perm[start:start + bs]
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norms = grad_norm(model)
            opt.step()
            epoch_losses.append(float(loss.detach()))
            if (step + 1) % hp["log_every_n_steps"] == 0:
                logger.log_metrics({"epoch": epoch, **norms, "train_loss_step": zc.f32(loss)}, step)
            step += 1
        with torch.no_grad():
            logits = model(x_val)
            val_loss = F.cross_entropy(logits, y_val)
            val_acc = (logits.argmax(1) == y_val).float().mean()
        logger.log_metrics({"epoch": epoch, "val_acc": zc.f32(val_acc), "val_loss": zc.f32(val_loss)}, step - 1)
        mean_loss = sum(epoch_losses) / len(epoch_losses)
        logger.log_metrics({"epoch": epoch, "train_loss_epoch": zc.f32(mean_loss)}, step - 1)
    logger.finalize()
    return 0


if __name__ == "__main__":
    sys.exit(main())
