"""The training-code lint: the healthy scripts (HF Trainer, Lightning, accelerate, DeepSpeed, plain
loops in the style of well-known public scripts) give no finding; each buggy twin gives exactly
its bugs; every rule has a snippet it must fire on and one it must not."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from traindx.model.lint import lint

CODE = Path(__file__).resolve().parent / "data" / "code"
EXPECTED = {k: v for k, v in json.loads((CODE / "expected.json").read_text()).items() if not k.startswith("_")}
HEALTHY = sorted(p.name for p in (CODE / "healthy").glob("*.py"))


def kinds(src: str) -> list[str]:
    rep = lint(textwrap.dedent(src))
    assert not rep.errors, rep.errors
    return sorted(f.kind for f in rep.findings)


@pytest.mark.parametrize("name", HEALTHY)
def test_healthy_scripts_give_nothing(name: str) -> None:
    rep = lint((CODE / "healthy" / name).read_text())
    assert rep.style, "the script was not recognised as training code"
    assert rep.findings == [], [(f.kind, f.line, f.text) for f in rep.findings]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_buggy_twins_give_their_bugs(name: str) -> None:
    rep = lint((CODE / "buggy" / name).read_text())
    assert sorted(f.kind for f in rep.findings) == EXPECTED[name]
    lines = (CODE / "buggy" / name).read_text().splitlines()
    for f in rep.findings:
        assert 1 <= f.line <= len(lines) and lines[f.line - 1].strip(), f"{f.kind} points at an empty line {f.line}"


def test_every_buggy_twin_has_a_healthy_twin_and_every_rule_is_exercised() -> None:
    assert set(EXPECTED) <= set(HEALTHY)
    from traindx.model.lint import RULES

    assert len(RULES) == 13
    kinds_found = {k for v in EXPECTED.values() for k in v}
    assert kinds_found == {
        "no_zero_grad", "zero_grad_after_backward", "step_before_backward", "tensor_accumulation", "eval_without_no_grad", "eval_mode_missing",
        "train_mode_not_restored", "eval_on_train_data", "test_used_for_selection", "softmax_before_ce", "log_softmax_before_ce",
        "sigmoid_before_bce", "wrong_loss_for_output", "no_seed", "no_deterministic", "no_grad_clip", "fit_before_split",
        "dropout_too_high", "lr_out_of_range",
    }


HEAD = """
import torch
import torch.nn as nn
import torch.nn.functional as F
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 4))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
"""

# rule kind -> (fires, must not fire): each pair differs only in the pattern the rule is about
PAIRS: dict[str, tuple[str, str]] = {
    "no_zero_grad": (
        "for x, y in loader:\n    F.cross_entropy(model(x), y).backward()\n    opt.step()\n",
        "for x, y in loader:\n    opt.zero_grad(set_to_none=True)\n    F.cross_entropy(model(x), y).backward()\n    opt.step()\n",
    ),
    "zero_grad_after_backward": (
        "for x, y in loader:\n    loss = F.cross_entropy(model(x), y)\n    loss.backward()\n    opt.zero_grad()\n    opt.step()\n",
        "for x, y in loader:\n    loss = F.cross_entropy(model(x), y)\n    loss.backward()\n    opt.step()\n    opt.zero_grad()\n",
    ),
    "step_before_backward": (
        "for x, y in loader:\n    opt.zero_grad()\n    opt.step()\n    F.cross_entropy(model(x), y).backward()\n",
        "for x, y in loader:\n    opt.step()\n    opt.zero_grad()\n    F.cross_entropy(model(x), y).backward()\n",
    ),
    "tensor_accumulation": (
        "total = 0\nfor x, y in loader:\n    opt.zero_grad()\n    loss = F.cross_entropy(model(x), y)\n    loss.backward()\n    opt.step()\n    total += loss\n",
        "total = 0\nfor x, y in loader:\n    opt.zero_grad()\n    loss = F.cross_entropy(model(x), y)\n    loss.backward()\n    opt.step()\n    total += loss.item()\n",
    ),
    "eval_without_no_grad": (
        "def evaluate(model, loader):\n    model.eval()\n    return sum(F.cross_entropy(model(x), y).item() for x, y in loader)\n",
        "@torch.no_grad()\ndef evaluate(model, loader):\n    model.eval()\n    return sum(F.cross_entropy(model(x), y).item() for x, y in loader)\n",
    ),
    "eval_mode_missing": (
        "def validate(model, loader):\n    with torch.no_grad():\n        return [model(x) for x, _ in loader]\n",
        "def validate(model, loader):\n    model.eval()\n    with torch.no_grad():\n        return [model(x) for x, _ in loader]\n",
    ),
    "train_mode_not_restored": (
        "def evaluate(model):\n    model.eval()\n    with torch.no_grad():\n        return model(xv)\n"
        "model.train()\nfor epoch in range(3):\n    for x, y in loader:\n        opt.zero_grad()\n        F.cross_entropy(model(x), y).backward()\n        opt.step()\n    evaluate(model)\n",
        "def evaluate(model):\n    model.eval()\n    with torch.no_grad():\n        return model(xv)\n"
        "for epoch in range(3):\n    model.train()\n    for x, y in loader:\n        opt.zero_grad()\n        F.cross_entropy(model(x), y).backward()\n        opt.step()\n    evaluate(model)\n",
    ),
    "eval_on_train_data": (
        "val_loss = evaluate(model, train_loader)\n",
        "val_loss = evaluate(model, val_loader)\ntrain_loss = evaluate(model, train_loader)\n",
    ),
    "test_used_for_selection": (
        "best = 0\nfor epoch in range(3):\n    for x, y in loader:\n        opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()\n"
        "    acc = accuracy(model, test_loader)\n    if acc > best:\n        best = acc\n",
        "best = 0\nfor epoch in range(3):\n    for x, y in loader:\n        opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()\n"
        "    acc = accuracy(model, val_loader)\n    if acc > best:\n        best = acc\n",
    ),
    "softmax_before_ce": (
        "for x, y in loader:\n    opt.zero_grad()\n    probs = F.softmax(model(x), dim=1)\n    nn.CrossEntropyLoss()(probs, y).backward()\n    opt.step()\n",
        "for x, y in loader:\n    opt.zero_grad()\n    logits = model(x)\n    probs = F.softmax(logits, dim=1)\n    nn.CrossEntropyLoss()(logits, y).backward()\n    opt.step()\n",
    ),
    "log_softmax_before_ce": (
        "crit = nn.CrossEntropyLoss()\nfor x, y in loader:\n    opt.zero_grad()\n    crit(torch.log_softmax(model(x), -1), y).backward()\n    opt.step()\n",
        "crit = nn.NLLLoss()\nfor x, y in loader:\n    opt.zero_grad()\n    crit(torch.log_softmax(model(x), -1), y).backward()\n    opt.step()\n",
    ),
    "sigmoid_before_bce": (
        "crit = nn.BCEWithLogitsLoss()\nfor x, y in loader:\n    opt.zero_grad()\n    crit(torch.sigmoid(model(x)), y).backward()\n    opt.step()\n",
        "crit = nn.BCELoss()\nfor x, y in loader:\n    opt.zero_grad()\n    crit(torch.sigmoid(model(x)), y).backward()\n    opt.step()\n",
    ),
    "wrong_loss_for_output": (
        "net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))\nfor x, y in loader:\n    opt.zero_grad()\n    F.cross_entropy(net(x), y).backward()\n    opt.step()\n",
        "net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))\nfor x, y in loader:\n    opt.zero_grad()\n    F.binary_cross_entropy_with_logits(net(x), y).backward()\n    opt.step()\n",
    ),
    "no_seed": (
        "import numpy as np\nfor x, y in loader:\n    idx = np.random.permutation(8)\n    opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()\n",
        "import numpy as np\nnp.random.seed(0)\nfor x, y in loader:\n    idx = np.random.permutation(8)\n    opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()\n",
    ),
    "no_deterministic": (
        "parser.add_argument('--deterministic', action='store_true')\nfor x, y in loader:\n    opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()\n",
        "parser.add_argument('--deterministic', action='store_true')\ntorch.use_deterministic_algorithms(True)\nfor x, y in loader:\n    opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()\n",
    ),
    "no_grad_clip": (
        "rnn = nn.LSTM(8, 16)\nfor x, y in loader:\n    opt.zero_grad(); F.mse_loss(rnn(x)[0], y).backward(); opt.step()\n",
        "rnn = nn.LSTM(8, 16)\nfor x, y in loader:\n    opt.zero_grad(); F.mse_loss(rnn(x)[0], y).backward()\n    nn.utils.clip_grad_norm_(rnn.parameters(), 1.0); opt.step()\n",
    ),
    "fit_before_split": (
        "from sklearn.preprocessing import StandardScaler\nfrom sklearn.model_selection import train_test_split\nX = StandardScaler().fit_transform(X)\nXtr, Xte = train_test_split(X)\n",
        "from sklearn.preprocessing import StandardScaler\nfrom sklearn.model_selection import train_test_split\nXtr, Xte = train_test_split(X)\nXtr = StandardScaler().fit_transform(Xtr)\n",
    ),
    "dropout_too_high": (
        "drop = nn.Dropout(p=0.8)\n",
        "drop = nn.Dropout(p=0.3)\nkeep_prob = 0.8\n",
    ),
    "lr_out_of_range": (
        "opt2 = torch.optim.AdamW(model.parameters(), lr=0.5)\n",
        "opt2 = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)\n",
    ),
}


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_rule_fires_on_its_pattern_and_not_on_the_fixed_one(kind: str) -> None:
    fires, quiet = PAIRS[kind]
    train = "\nfor x, y in loader:\n    opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()\n"
    extra = train if "backward" not in fires else ""
    assert kind in kinds(HEAD + fires + extra), f"{kind} did not fire"
    assert kind not in kinds(HEAD + quiet + extra), f"{kind} fired on the fixed code"


SLICE_SPLITS = {
    # fires: the scaler saw the rows that the slices then hold out
    "tuple": ("X = StandardScaler().fit_transform(X)\nX_train, X_test = X[:800], X[800:]\n", True),
    "list": ("X = StandardScaler().fit_transform(X)\n[X_tr, X_val] = [X[:800], X[800:]]\n", True),
    "pairs": ("X = StandardScaler().fit_transform(X)\n(X_train, y_train), (X_test, y_test) = (X[:800], y[:800]), (X[800:], y[800:])\n", True),
    # must not fire: split first, fitted on the training slice only
    "split_then_fit": ("X_train, X_test = X[:800], X[800:]\nsc = StandardScaler().fit(X_train)\nX_train, X_test = sc.transform(X_train), sc.transform(X_test)\n", False),
    # must not fire: shifted windows of one normalized series are inputs and targets, not a split
    "shifted_windows": ("X = StandardScaler().fit_transform(X)\ninputs, targets = X[:-1], X[1:]\n", False),
}


@pytest.mark.parametrize("case", sorted(SLICE_SPLITS))
def test_fit_before_a_tuple_of_slices(case: str) -> None:
    src, leaks = SLICE_SPLITS[case]
    train = "\nfor x, y in loader:\n    opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()\n"
    got = lint(textwrap.dedent(HEAD + "from sklearn.preprocessing import StandardScaler\n" + src + train))
    fits = [f for f in got.findings if f.kind == "fit_before_split"]
    assert bool(fits) == leaks, [(f.line, f.text) for f in fits]
    if leaks:
        lines = (HEAD + "from sklearn.preprocessing import StandardScaler\n" + src).splitlines()
        fit_line = next(i for i, ln in enumerate(lines, 1) if "fit_transform" in ln)
        assert fits[0].line == fit_line and f"(line {fit_line + 1}) splits it" in fits[0].text


def test_frameworks_that_own_the_loop_say_nothing_about_zero_grad() -> None:
    hf = "from transformers import Trainer, TrainingArguments\ntrainer = Trainer(model=m, args=TrainingArguments(output_dir='o'), train_dataset=ds)\ntrainer.train()\n"
    assert kinds(hf) == []
    light = (
        "import lightning as L\nimport torch\nclass M(L.LightningModule):\n    def training_step(self, batch, i):\n        return self.net(batch).sum()\n"
        "    def configure_optimizers(self):\n        return torch.optim.Adam(self.parameters(), lr=1e-3)\nL.seed_everything(0)\nL.Trainer().fit(M())\n"
    )
    assert kinds(light) == []


def test_accumulation_and_accelerate_backward_count() -> None:
    src = HEAD + (
        "from accelerate import Accelerator\nacc = Accelerator()\nfor i, (x, y) in enumerate(loader):\n"
        "    acc.backward(F.cross_entropy(model(x), y) / 4)\n    if (i + 1) % 4 == 0:\n        opt.step()\n        model.zero_grad()\n"
    )
    assert kinds(src) == []


def test_unknown_helpers_hold_the_rule_back() -> None:
    src = HEAD + "from utils import reset_grads\nfor x, y in loader:\n    F.cross_entropy(model(x), y).backward()\n    opt.step()\n    reset_grads(model)\n"
    assert "no_zero_grad" not in kinds(src)


def test_findings_are_deterministic_and_located() -> None:
    src = (CODE / "buggy" / "tabular_mlp.py").read_text()
    a, b = lint(src), lint(src)
    assert [(f.kind, f.line, f.text) for f in a.findings] == [(f.kind, f.line, f.text) for f in b.findings]
    fit = next(f for f in a.findings if f.kind == "fit_before_split")
    assert "scaler.fit_transform(X) (line 18)" in fit.text and "train_test_split" in fit.text


def test_syntax_error_is_raised_for_the_reader() -> None:
    with pytest.raises(SyntaxError):
        lint("def broken(:\n")
