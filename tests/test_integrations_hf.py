"""TraindxTrainerCallback in a real HuggingFace Trainer (a tiny GPT-2 built from a config: nothing is downloaded)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")
from torch import nn  # noqa: E402

import traindx  # noqa: E402
from traindx.integrations.hf import TraindxTrainerCallback  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet_transformers() -> None:
    transformers.logging.set_verbosity_error()
    logging.getLogger("accelerate").setLevel(logging.ERROR)


def _args(out: Path, **kw: object) -> object:
    base = dict(output_dir=str(out), per_device_train_batch_size=4, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True, seed=0)
    base.update(kw)
    return transformers.TrainingArguments(**base)


def _records(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_trainer_steps_losses_and_grad_norms_match_the_trainers_own(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(cfg)
    g = torch.Generator().manual_seed(0)
    data = [{"input_ids": torch.randint(0, 50, (16,), generator=g), "labels": torch.randint(0, 50, (16,), generator=g)} for _ in range(32)]
    cb = TraindxTrainerCallback(every=2)
    trainer = transformers.Trainer(model=model, args=_args(tmp_path / "out", max_steps=4, gradient_accumulation_steps=2), train_dataset=data, callbacks=[cb])
    trainer.train()
    log = tmp_path / "out" / "traindx_probe" / "probe-rank0.jsonl"
    recs = _records(log)
    assert recs[0]["framework"] == "hf" and recs[0]["gradient_accumulation_steps"] == 2
    steps = {r["step"]: r for r in recs if r["kind"] == "step"}
    hist = {h["step"]: h for h in trainer.state.log_history if "loss" in h and "grad_norm" in h}
    assert sorted(steps) == sorted(hist) == [1, 2, 3, 4]
    for s, h in hist.items():
        assert steps[s]["loss"] == pytest.approx(h["loss"], rel=1e-4)
        assert steps[s]["grad_norm"] == pytest.approx(h["grad_norm"], rel=1e-4)  # before clipping, as the Trainer logs it
        assert steps[s]["lr"][0] == pytest.approx(h["learning_rate"])
    assert [r for r in recs if r["kind"] == "event"] == []
    assert any(r["kind"] == "layers" and "transformer.h.0.attn.c_attn.weight" in r["grad_norm"] for r in recs)
    run = traindx.load_run(tmp_path / "out" / "traindx_probe")
    assert run.has("grad_norm/pre_clip") and run.has("loss/train")


class LogFeatures(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x)


class Regressor(nn.Module):
    """Any nn.Module that returns a dict with a loss works with the Trainer."""

    def __init__(self) -> None:
        super().__init__()
        self.feats = LogFeatures()
        self.fc = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.fc(self.feats(x)).squeeze(-1)
        return {"loss": nn.functional.mse_loss(out, labels), "logits": out}


def test_trainer_nan_origin_and_skip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    data = [{"x": torch.rand(4, generator=g) + 0.5, "labels": torch.rand((), generator=g)} for _ in range(16)]
    data[9]["x"] = torch.tensor([1.0, -1.0, 1.0, 1.0])  # in the third step's batch (batch 4, no shuffling below)
    model = Regressor()
    cb = TraindxTrainerCallback(on_nonfinite="skip")

    class InOrder(transformers.Trainer):
        def _get_train_sampler(self, *a: object, **k: object) -> object:
            return torch.utils.data.SequentialSampler(self.train_dataset)

    trainer = InOrder(model=model, args=_args(tmp_path / "out", max_steps=4, learning_rate=1e-2, max_grad_norm=0), train_dataset=data, callbacks=[cb])
    trainer.train()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    recs = _records(tmp_path / "out" / "traindx_probe" / "probe-rank0.jsonl")
    (e,) = [r for r in recs if r["kind"] == "event"]
    assert e["event"] == "nan_origin" and e["step"] == 3
    assert (e["data"]["module"], e["data"]["op"], e["data"]["phase"]) == ("feats", "torch.log", "forward")
    batch = torch.load(tmp_path / "out" / "traindx_probe" / e["data"]["batch_file"], weights_only=True)
    assert float(batch["kwargs"]["x"][1, 1]) == -1.0


def test_callback_says_what_to_install_when_transformers_is_missing() -> None:
    code = (
        "import sys\n"
        "sys.modules['transformers'] = None\n"
        "from traindx.integrations.hf import TraindxTrainerCallback\n"
        "from traindx.probe.errors import FrameworkMissing\n"
        "try:\n"
        "    TraindxTrainerCallback()\n"
        "except FrameworkMissing as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install transformers" in out
