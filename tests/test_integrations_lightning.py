"""TraindxCallback in a real PyTorch Lightning Trainer on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning.pytorch")
from torch import nn  # noqa: E402

import traindx  # noqa: E402
from traindx.integrations.lightning import TraindxCallback  # noqa: E402

# Lightning's own deprecation notices are not ours to fail on
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning")


class LogFeatures(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x)


class Module(L.LightningModule):
    def __init__(self, log_features: bool = False) -> None:
        super().__init__()
        self.feats = LogFeatures() if log_features else nn.Identity()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        self.seen_losses: list[float] = []
        self.seen_norms: list[float] = []

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(self.feats(x)), y)
        self.log("train_loss", loss)
        self.seen_losses.append(float(loss))
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if grads:  # a batch the probe dropped has none
            self.seen_norms.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader(bad_index: int | None = None) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 4, generator=g) + 0.5, torch.randn(48, 1, generator=g)
    if bad_index is not None:
        x[bad_index, 2] = -1.0
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def _trainer(tmp_path: Path, cb: TraindxCallback, **kw: object) -> object:
    return L.Trainer(
        max_steps=6,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        accelerator="cpu",
        **kw,
    )


def _records(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_lightning_steps_loss_and_unclipped_grad_norm(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = Module()
    cb = TraindxCallback(every=2)
    assert isinstance(cb, L.Callback) and isinstance(cb, TraindxCallback)
    _trainer(tmp_path, cb, gradient_clip_val=0.01).fit(module, _loader())
    recs = _records(tmp_path / "traindx_probe" / "probe-rank0.jsonl")
    assert recs[0]["framework"] == "lightning"
    steps = [r for r in recs if r["kind"] == "step"]
    assert [r["step"] for r in steps] == list(range(6))
    assert [r["loss"] for r in steps] == pytest.approx(module.seen_losses, rel=1e-6)
    # the norm before Lightning clips it to 0.01
    assert [r["grad_norm"] for r in steps] == pytest.approx(module.seen_norms, rel=1e-5)
    assert all(r["grad_norm"] > 0.01 for r in steps)
    assert any(r["kind"] == "acts" and "net.1" in r["dead_frac"] for r in recs)
    assert [r for r in recs if r["kind"] == "event"] == []


def test_lightning_nan_origin_replays_training_step(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = Module(log_features=True)
    cb = TraindxCallback(on_nonfinite="skip")
    _trainer(tmp_path, cb).fit(module, _loader(bad_index=19))  # batch 2 holds a negative value
    assert all(torch.isfinite(p).all() for p in module.parameters())
    recs = _records(tmp_path / "traindx_probe" / "probe-rank0.jsonl")
    (e,) = [r for r in recs if r["kind"] == "event"]
    assert e["event"] == "nan_origin" and e["step"] == 2
    assert (e["data"]["module"], e["data"]["op"], e["data"]["phase"]) == ("feats", "torch.log", "forward")
    steps = {r["step"]: r for r in recs if r["kind"] == "step"}
    assert steps[2].get("skipped") == 1 and "skipped" not in steps[3]
    d = traindx.diagnose(tmp_path / "traindx_probe")
    assert d.root_causes[0].id == "numerical_instability" and "'feats'" in d.root_causes[0].fix


def test_callback_says_what_to_install_when_lightning_is_missing() -> None:
    code = (
        "import sys\n"
        "sys.modules['lightning'] = None\n"
        "sys.modules['lightning.pytorch'] = None\n"
        "sys.modules['pytorch_lightning'] = None\n"
        "from traindx.integrations.lightning import TraindxCallback\n"
        "from traindx.probe.errors import FrameworkMissing\n"
        "try:\n"
        "    TraindxCallback()\n"
        "except FrameworkMissing as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install lightning" in out
