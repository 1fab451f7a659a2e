"""The live probe on real tiny trainings: results unchanged, errors contained, NaN origins traced, invariants seen."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import traindx  # noqa: E402
from traindx.probe import NonFiniteError  # noqa: E402
from traindx.probe import torch_stats  # noqa: E402


class Net(nn.Module):
    """Dropout and batch norm, so that random state and buffers are part of what must not change."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, 16)
        self.bn = nn.BatchNorm1d(16)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(16, 3)
        self.sig = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sig(self.fc2(self.drop(self.act(self.bn(self.fc1(x))))))


def batches(n: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(12, 6, generator=g), torch.rand(12, 3, generator=g)) for _ in range(n)]


def train(steps: int = 12, probe_dir: Path | None = None, **settings: object) -> tuple[list[float], dict[str, torch.Tensor]]:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    probe = traindx.watch(model, opt, log_dir=probe_dir, **settings) if probe_dir is not None else None
    losses = []
    for x, y in batches(steps):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        if probe is not None:
            probe.step(loss)
        losses.append(loss.item())
    if probe is not None:
        probe.close()
    return losses, {k: v.clone() for k, v in model.state_dict().items()}


def records(log_dir: Path, rank: int = 0) -> list[dict]:
    with open(log_dir / f"probe-rank{rank}.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def events(log_dir: Path, kind: str | None = None) -> list[dict]:
    return [r for r in records(log_dir) if r["kind"] == "event" and (kind is None or r["event"] == kind)]


@pytest.mark.parametrize("detail", ["default", "full"])
def test_losses_and_weights_are_bit_identical(tmp_path: Path, detail: str) -> None:
    plain_losses, plain_state = train()
    probed_losses, probed_state = train(probe_dir=tmp_path / "p", detail=detail, every=3)
    assert probed_losses == plain_losses
    assert plain_state.keys() == probed_state.keys()
    for k in plain_state:
        assert torch.equal(plain_state[k], probed_state[k]), k
    recs = records(tmp_path / "p")
    kinds = {r["kind"] for r in recs}
    assert {"header", "step", "layers", "acts", "end"} <= kinds
    steps = [r for r in recs if r["kind"] == "step"]
    assert [r["step"] for r in steps] == list(range(12))
    assert [r["loss"] for r in steps] == pytest.approx(plain_losses, rel=1e-6)


def test_an_error_inside_the_probe_is_logged_once_and_turns_that_part_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    calls = {"n": 0}

    def broken(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls["n"] += 1
        raise ValueError("injected failure")

    monkeypatch.setattr(torch_stats, "mean_std", broken)
    plain_losses, plain_state = train()
    with caplog.at_level(logging.WARNING, logger="traindx.probe"):
        losses, state = train(probe_dir=tmp_path / "p", detail="full")
    assert losses == plain_losses
    assert all(torch.equal(state[k], plain_state[k]) for k in state)
    assert calls["n"] == 1  # disabled after the first failure
    msgs = [r.getMessage() for r in caplog.records if "disabled" in r.getMessage()]
    assert len(msgs) == 1 and "activations" in msgs[0] and "injected failure" in msgs[0]
    recs = records(tmp_path / "p")
    notes = [r for r in recs if r["kind"] == "probe" and r.get("what") == "disabled"]
    assert [n["part"] for n in notes] == ["activations"]
    assert recs[-1]["kind"] == "end" and recs[-1]["disabled"] == {"activations": "ValueError: injected failure"}
    # the rest of the probe kept working
    assert sum(1 for r in recs if r["kind"] == "step") == 12
    assert any(r["kind"] == "layers" for r in recs)
    run = traindx.load_run(tmp_path / "p")
    assert any(e.kind == "probe_note" and "activations" in e.text for e in run.events)


class LogOfInput(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(x)


class RowNorm(nn.Module):
    """The L2 norm of each row: its backward is infinite for a zero row."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((x * x).sum(-1, keepdim=True))


class NanNet(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.logx = LogOfInput()
        self.fc = nn.Linear(4, 4)
        self.norm = RowNorm()
        self.out = nn.Linear(4 if kind == "forward" else 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "forward":
            return self.out(self.fc(self.logx(x)))
        return self.out(self.norm(self.fc(x)))


def nan_run(tmp_path: Path, kind: str, action: str, steps: int = 6, bad_step: int = 3) -> tuple[NanNet, list[float], object]:
    """Train NanNet; at ``bad_step`` the batch makes a real NaN (log of a negative) or inf (sqrt backward at 0)."""
    torch.manual_seed(0)
    model = NanNet(kind)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    probe = traindx.watch(model, opt, log_dir=tmp_path, on_nonfinite=action)
    g = torch.Generator().manual_seed(3)
    losses = []
    try:
        for i in range(steps):
            x = torch.rand(8, 4, generator=g) + 0.5
            if i == bad_step:
                x = x.clone()
                if kind == "forward":
                    x[0, 1] = -2.0  # log of a negative: NaN in the forward
                else:
                    with torch.no_grad():  # every row of fc's output is 0: d sqrt(s)/ds is infinite at s = 0
                        model.fc.weight.zero_()
                        model.fc.bias.zero_()
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
            opt.zero_grad()
            probe.step(loss)
            losses.append(loss.item())
    finally:
        probe.close()
    return model, losses, probe


def test_forward_nan_origin_named_and_batch_saved(tmp_path: Path) -> None:
    model, losses, _ = nan_run(tmp_path, "forward", "warn")
    evs = events(tmp_path, "nan_origin")
    assert len(evs) == 1
    e = evs[0]
    assert e["step"] == 3
    d = e["data"]
    assert (d["phase"], d["module"], d["module_type"], d["op"]) == ("forward", "logx", "LogOfInput", "torch.log")
    assert "1 negative" in d["detail"]
    saved = tmp_path / d["batch_file"]
    assert saved.name == "nan-batch-step3-rank0.pt"
    batch = torch.load(saved, weights_only=True)
    assert batch["step"] == 3
    assert float(batch["args"][0][0, 1]) == -2.0
    # warn lets the optimizer apply the NaN: the weights are corrupted, the loop went on
    assert not all(torch.isfinite(p).all() for p in model.parameters())
    assert len(losses) == 6


def test_backward_nan_origin_named(tmp_path: Path) -> None:
    nan_run(tmp_path, "backward", "warn")
    (e,) = events(tmp_path, "nan_origin")
    d = e["data"]
    assert (d["phase"], d["module"], d["module_type"], d["op"], d["node"]) == ("backward", "norm", "RowNorm", "torch.sqrt", "SqrtBackward0")
    assert e["step"] == 3


def test_stop_raises_before_the_update(tmp_path: Path) -> None:
    with pytest.raises(NonFiniteError) as info:
        nan_run(tmp_path, "forward", "stop")
    assert info.value.step == 3
    assert "the optimizer step was not applied" in str(info.value)
    assert info.value.origin["module"] == "logx"
    assert info.value.batch_file == "nan-batch-step3-rank0.pt"
    steps = [r for r in records(tmp_path) if r["kind"] == "step"]
    assert steps[-1]["step"] == 3 and steps[-1].get("skipped") == 1 and math.isnan(steps[-1]["grad_norm"])


def test_stop_leaves_the_weights_finite(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = NanNet("forward")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    probe = traindx.watch(model, opt, log_dir=tmp_path, on_nonfinite="stop")
    x = torch.rand(8, 4) + 0.5
    x[0, 0] = -1.0
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model(x).pow(2).mean().backward()
    with pytest.raises(NonFiniteError):
        opt.step()
    probe.close()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_skip_drops_the_bad_batch_and_training_goes_on(tmp_path: Path) -> None:
    model, losses, _ = nan_run(tmp_path, "forward", "skip")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert math.isnan(losses[3]) and all(math.isfinite(v) for i, v in enumerate(losses) if i != 3)
    steps = {r["step"]: r for r in records(tmp_path) if r["kind"] == "step"}
    assert steps[3].get("skipped") == 1 and "skipped" not in steps[4]
    (e,) = events(tmp_path, "nan_origin")
    assert e["data"]["action"] == "skip"


def test_diagnose_names_the_module_as_direct_evidence(tmp_path: Path) -> None:
    nan_run(tmp_path, "backward", "skip")
    d = traindx.diagnose(tmp_path)
    origin = next(s for s in d.symptoms if s.id == "nan_origin")
    assert origin.data["module"] == "norm" and origin.step == 3
    top = d.root_causes[0]
    assert top.id == "numerical_instability" and top.confidence >= 0.9
    assert "torch.sqrt" in top.fix and "'norm'" in top.fix
    assert any(ev.source.startswith("probe-rank0.jsonl:") for ev in top.evidence)
    assert any(s.path.endswith(".pt") and "replay" in s.reason for s in d.run.skipped)


def test_missing_zero_grad_is_seen(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    probe = traindx.watch(model, opt, log_dir=tmp_path)
    for x, y in batches(5):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()  # no zero_grad
        probe.step(loss)
    probe.close()
    (e,) = events(tmp_path, "grad_not_cleared")
    assert e["step"] == 1
    d = traindx.diagnose(tmp_path)
    h = next(h for h in d.root_causes if h.id == "missing_zero_grad")
    assert h.confidence >= 0.9 and "grad_not_cleared" in h.explains


def test_gradient_accumulation_is_not_a_missing_zero_grad(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    probe = traindx.watch(model, opt, log_dir=tmp_path, every=2)
    data = batches(12)
    for i in range(0, 12, 3):
        for x, y in data[i : i + 3]:
            (nn.functional.mse_loss(model(x), y) / 3).backward()
        opt.step()
        opt.zero_grad()
        probe.step()
    probe.close()
    assert events(tmp_path) == []
    steps = [r for r in records(tmp_path) if r["kind"] == "step"]
    assert len(steps) == 4 and all("loss" not in r for r in steps)


def test_frozen_and_disconnected_layers(tmp_path: Path) -> None:
    class Extra(Net):
        def __init__(self) -> None:
            super().__init__()
            self.unused = nn.Linear(3, 3)  # defined, never called

    torch.manual_seed(0)
    model = Extra()
    model.fc2.bias.requires_grad_(False)  # frozen, yet given to the optimizer below
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    probe = traindx.watch(model, opt, log_dir=tmp_path, every=1, frozen_after=3)
    for x, y in batches(4):
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        opt.zero_grad()
        probe.step()
    probe.close()
    (e,) = events(tmp_path, "frozen_params")
    assert e["data"]["disconnected"] == ["unused.bias", "unused.weight"]
    assert e["data"]["frozen_in_optimizer"] == ["fc2.bias"]
    d = traindx.diagnose(tmp_path)
    s = next(s for s in d.symptoms if s.id == "frozen_params")
    assert s.data["disconnected"] == ["unused.bias", "unused.weight"]


def test_eval_mode_during_training(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    probe = traindx.watch(model, opt, log_dir=tmp_path)
    model.eval()  # an evaluation that never switched back
    for x, y in batches(3):
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        opt.zero_grad()
        probe.step()
    probe.close()
    (e,) = events(tmp_path, "eval_mode_in_training")
    assert e["step"] == 0 and e["data"]["scope"] == "model"
    d = traindx.diagnose(tmp_path)
    h = next(h for h in d.root_causes if h.id == "eval_mode_bug")
    assert h.confidence >= 0.9


def test_batch_norm_left_in_eval_is_named(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    probe = traindx.watch(model, opt, log_dir=tmp_path, every=1)
    model.bn.eval()
    for x, y in batches(2):
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        opt.zero_grad()
    probe.close()
    (e,) = events(tmp_path, "eval_mode_in_training")
    assert e["data"] == {"scope": "modules", "modules": ["bn"]}


def test_optimizer_of_another_copy_leaves_parameters_unchanged(tmp_path: Path) -> None:
    import copy

    torch.manual_seed(0)
    model = Net()
    stale = copy.deepcopy(model)
    opt = torch.optim.SGD(list(stale.parameters()) + [model.fc1.weight], lr=1e-2)  # only fc1.weight is the model's own
    probe = traindx.watch(model, opt, log_dir=tmp_path, every=1)
    for x, y in batches(4):
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        opt.zero_grad()
        model.zero_grad()
    probe.close()
    (e,) = events(tmp_path, "params_not_updated")
    assert e["step"] == 1
    assert "fc1.weight" not in e["data"]["params"] and "fc2.weight" in e["data"]["params"]
    assert e["data"]["reasons"]["fc2.weight"] == "not in the optimizer"
    d = traindx.diagnose(tmp_path)
    h = next(h for h in d.root_causes if h.id == "no_parameter_update")
    assert h.confidence >= 0.9


def test_healthy_run_has_no_probe_findings(tmp_path: Path) -> None:
    train(probe_dir=tmp_path, every=2)
    assert events(tmp_path) == []
    d = traindx.diagnose(tmp_path)
    probe_ids = {"nan_origin", "grad_not_cleared", "frozen_params", "params_not_updated", "eval_mode_in_training", "rank_drift"}
    assert not probe_ids & {s.id for s in d.symptoms}


def test_loss_scaler_overflows_are_not_nan(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**24)
    probe = traindx.watch(model, opt, log_dir=tmp_path, scaler=scaler)
    for x, y in batches(10):
        with torch.autocast("cpu", dtype=torch.float16):
            loss = model(x[:, :4]).float().sub(y[:, :1]).pow(2).mean()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
        probe.step(loss)
    probe.close()
    assert events(tmp_path, "nan_origin") == []
    steps = [r for r in records(tmp_path) if r["kind"] == "step"]
    skipped = [r for r in steps if r.get("skipped")]
    assert skipped and all("grad_norm" not in r for r in skipped)
    assert steps[0]["loss_scale"] == 2.0**24
    scales = [r["loss_scale"] for r in steps]
    assert scales == sorted(scales, reverse=True) and scales[-1] < scales[0]
    run = traindx.load_run(tmp_path)
    assert run.has("loss_scale") and run.has("grad_norm/pre_clip")


def test_compiled_model_works_and_says_what_it_cannot_see(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = NanNet("forward")
    compiled = torch.compile(model, backend="aot_eager")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    probe = traindx.watch(compiled, opt, log_dir=tmp_path, every=1)
    g = torch.Generator().manual_seed(3)
    for i in range(4):
        x = torch.rand(8, 4, generator=g) + 0.5
        if i == 2:
            x[1, 1] = -3.0
        compiled(x).pow(2).mean().backward()
        opt.step()
        opt.zero_grad()
        probe.step()
    probe.close()
    recs = records(tmp_path)
    header = recs[0]
    assert header["compiled"] is True and "activation statistics" in header["blind"][0]
    assert not any(r["kind"] == "acts" for r in recs)
    layers = [r for r in recs if r["kind"] == "layers"]
    assert layers and "fc.weight" in layers[0]["grad_norm"]  # names without the _orig_mod. prefix
    (e,) = events(tmp_path, "nan_origin")
    assert e["data"]["module"] == "logx" and e["step"] == 2


def test_log_is_readable_while_the_run_is_still_writing(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    probe = traindx.watch(model, opt, log_dir=tmp_path, every=2)
    for x, y in batches(5):
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        probe.step(loss)
    probe.flush()
    with open(tmp_path / "probe-rank0.jsonl", "a", encoding="utf-8") as f:
        f.write('{"kind":"step","step":5,"grad_no')  # a record cut in the middle of its write
    run = traindx.load_run(tmp_path)
    probe.close()
    loss = run.get("loss/train")
    assert loss is not None and list(loss.steps) == [0, 1, 2, 3, 4]
    assert run.issues == []
    assert run.summary["probe.ended"].value is False
    assert "still being written" in run.formats["probe-rank0.jsonl"]


def test_import_traindx_stays_light() -> None:
    code = (
        "import sys, traindx, traindx.probe, traindx.integrations.hf, traindx.integrations.lightning\n"
        "traindx.watch\n"
        "heavy = [m for m in ('torch', 'transformers', 'lightning', 'pytorch_lightning') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_parallel_wrapper_is_seen_through(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Net()
    wrapped = nn.DataParallel(model)  # on a CPU-only machine it calls the module directly
    opt = torch.optim.SGD(wrapped.parameters(), lr=1e-2)
    probe = traindx.watch(wrapped, opt, log_dir=tmp_path, every=1)
    for x, y in batches(3):
        loss = nn.functional.mse_loss(wrapped(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        probe.step(loss)
    probe.close()
    recs = records(tmp_path)
    assert recs[0]["wrapped"] == "DataParallel" and recs[0]["model"] == "Net"
    layers = [r for r in recs if r["kind"] == "layers"]
    assert len(layers) == 3 and set(layers[0]["grad_norm"]) == {"fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight", "fc2.bias"}
    acts = [r for r in recs if r["kind"] == "acts"]
    assert acts and acts[0]["dead_frac"].keys() == {"act"} and acts[0]["saturated_frac"].keys() == {"sig"}


def test_a_probe_dropped_without_close_closes_its_log_quietly(tmp_path: Path) -> None:
    import gc

    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2)
    probe = traindx.watch(model, opt, log_dir=tmp_path)
    x, y = batches(1)[0]
    nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    probe.flush()
    del probe, opt, model
    gc.collect()  # a ResourceWarning here would fail the test (warnings are errors)
    assert records(tmp_path)[0]["kind"] == "header"
