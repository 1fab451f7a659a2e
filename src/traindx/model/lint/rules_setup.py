"""Training setup: seeds and determinism, gradient clipping for recurrent and transformer models,
dropout rates, learning rates outside the range their optimizer family uses.

The thresholds are the checks' defaults (UMLAUT, CHI 2021: dropout above 0.5,
LR outside [1e-7, 0.01] for adaptive optimizers; SGD's range is wider, see
``SGD_RANGE``), so a finding states the value it saw.
"""

from __future__ import annotations

import ast
import re

from .findings import Finding
from .index import OPTIMIZER_CLASSES, Index, in_autograd_backward
from .names import call_name, dotted, kwarg, last, number, snippet

MAX_DROPOUT = 0.5
ADAPTIVE_RANGE = (1e-7, 1e-2)
SGD_RANGE = (1e-5, 10.0)
ADAPTIVE = frozenset({"Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "SparseAdam", "Lion", "AdamW8bit", "Adam8bit", "PagedAdamW", "PagedAdamW8bit", "FusedAdam", "Sophia", "SophiaG"})
SGD_LIKE = frozenset({"SGD", "ASGD"})
SEQUENCE_MODULES = re.compile(r"^(?:LSTM|GRU|RNN|LSTMCell|GRUCell|RNNCell|Transformer|TransformerEncoder|TransformerDecoder|TransformerEncoderLayer|TransformerDecoderLayer|MultiheadAttention)$")
SEQUENCE_CLASS = re.compile(r"GPT|Transformer|Attention|LSTM|GRU|RNN|Llama", re.IGNORECASE)
CLIP_WORDS = re.compile(r"clip_grad|clip_gradients|gradient_clip|max_grad_norm|grad_clip|clipnorm|clipvalue|clip_norm|max_norm", re.IGNORECASE)
DROPOUT_KEYS = re.compile(r"^(?:p|dropout|dropout_p|dropout_rate|dropout_prob|p_dropout|drop_rate|drop_prob|attn_drop|proj_drop|drop_path_rate|attn_pdrop|resid_pdrop|embd_pdrop|hidden_dropout_prob|attention_probs_dropout_prob|hidden_dropout|attention_dropout|classifier_dropout|rate)$")
DROPOUT_CALLS = re.compile(r"^(?:Dropout\w*|AlphaDropout|FeatureAlphaDropout|dropout\w*)$")
LR_NAMES = frozenset({"lr", "learning_rate", "base_lr", "max_lr", "LR", "LEARNING_RATE", "peak_lr", "init_lr"})
SEED_CALL = re.compile(r"seed", re.IGNORECASE)
RNG_USE = {"numpy": re.compile(r"^(?:numpy|np)\.random\.(?!seed|default_rng|RandomState|Generator|SeedSequence)\w+$"), "random": re.compile(r"^random\.(?!seed|Random|SystemRandom)\w+$")}
DETERMINISM = re.compile(r"use_deterministic_algorithms|cudnn\.deterministic|enable_full_determinism|deterministic", re.IGNORECASE)


def _has_training(ix: Index) -> tuple[bool, int]:
    """Whether the file trains (a backward pass, a Trainer or a fit call), and the first such line."""
    for n in sorted((n for n in ast.walk(ix.tree) if isinstance(n, ast.Call)), key=lambda c: c.lineno):
        name = last(call_name(n, ix.imports))
        if name in ("backward", "manual_backward") and not in_autograd_backward(ix, n):
            return True, n.lineno
        if name in ("fit",) and ix.lightning_trainer_calls():
            return True, n.lineno
    return False, 0


def seeds(ix: Index) -> list[Finding]:
    trains, line = _has_training(ix)
    if not trains or ix.uses_trainer():
        return []  # HF's Trainer seeds from TrainingArguments.seed (42 by default)
    calls = [n for n in ast.walk(ix.tree) if isinstance(n, ast.Call)]
    seeded = {"torch": False, "numpy": False, "random": False, "all": False}
    for c in calls:
        name = call_name(c, ix.imports)
        if not SEED_CALL.search(last(name)) and not (last(name) == "default_rng" and (c.args or c.keywords)):
            continue
        if name.startswith("torch.") or last(name) == "manual_seed":
            seeded["torch"] = True
        elif name.startswith(("numpy.random", "np.random")):
            seeded["numpy"] = True
        elif name.startswith("random."):
            seeded["random"] = True
        else:
            seeded["all"] = True  # set_seed, seed_everything, a helper of the project
    if seeded["all"]:
        return []
    out = []
    if not any(seeded.values()):
        out.append(Finding("no_seed", f"no random seed is set anywhere in the file (no torch.manual_seed, numpy or random seed, set_seed or seed_everything), though it trains (line {line}): runs are not reproducible", line))
        return out
    for lib, pat in RNG_USE.items():
        if seeded[lib]:
            continue
        use = next((c for c in sorted(calls, key=lambda c: c.lineno) if pat.match(call_name(c, ix.imports))), None)
        if use is not None:
            out.append(Finding("no_seed", f"{snippet(use, 50)} (line {use.lineno}) draws from {lib}'s global generator, which is never seeded (the torch seed does not cover it)", use.lineno))
    if not out and _asks_determinism(ix) and not _sets_determinism(ix):
        out.append(Finding("no_deterministic", f"the script asks for reproducibility ({_asks_determinism(ix)}) but never sets torch.use_deterministic_algorithms(True) or cudnn.deterministic: GPU kernels stay nondeterministic", line))
    return out


def _asks_determinism(ix: Index) -> str:
    for n in ast.walk(ix.tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and re.search(r"reproduc|determinis", n.value, re.IGNORECASE) and len(n.value) < 80:
            return repr(n.value)
    return ""


def _sets_determinism(ix: Index) -> bool:
    for n in ast.walk(ix.tree):
        if isinstance(n, ast.Call) and DETERMINISM.search(call_name(n, ix.imports)):
            return True
        if isinstance(n, ast.Assign) and any(DETERMINISM.search(dotted(t) or "") for t in n.targets):
            return True
        if isinstance(n, ast.keyword) and n.arg == "deterministic":
            return True
    return False


def grad_clipping(ix: Index) -> list[Finding]:
    """Recurrent or transformer models trained from scratch in an explicit loop (or by Lightning) without clipping.

    A pretrained model fine-tuned at a small LR (``from_pretrained``) is left alone: HF's
    own no-Trainer examples fine-tune without clipping.
    """
    if ix.uses_trainer():
        return []  # HF Trainer clips at max_grad_norm=1.0 by default
    seq = None
    for n in ast.walk(ix.tree):
        if isinstance(n, ast.Call):
            name = call_name(n, ix.imports)
            # torch's recurrent/attention modules, or an HF model built from a config (trained from scratch)
            if SEQUENCE_MODULES.match(last(name)) and (name.startswith("torch") or "." not in name) or last(name) == "from_config":
                seq = n
                break
    if seq is None:
        for name in ix.classes:
            if SEQUENCE_CLASS.search(name) and any(f.cls == name for f in ix.funcs.get("forward", [])):
                seq = ix.classes[name]
                break
    if seq is None:
        return []
    text = ast.unparse(ix.tree)
    if CLIP_WORDS.search(text):
        return []
    backward = next((n for n in ast.walk(ix.tree) if isinstance(n, ast.Call) and last(call_name(n, ix.imports)) in ("backward", "manual_backward") and not in_autograd_backward(ix, n)), None)
    trainer = ix.lightning_trainer_calls()
    where = backward if backward is not None else (trainer[0] if trainer else None)
    if where is None:
        return []
    what = snippet(seq, 40) if isinstance(seq, ast.Call) else f"class {seq.name}"  # type: ignore[attr-defined]
    how = "torch.nn.utils.clip_grad_norm_" if backward is not None else "Trainer(gradient_clip_val=...)"
    return [Finding("no_grad_clip", f"a recurrent/transformer model ({what}, line {seq.lineno}) is trained (line {where.lineno}) without gradient clipping ({how} appears nowhere)", where.lineno)]


def dropout(ix: Index) -> list[Finding]:
    out = []
    seen: set[int] = set()
    for n in ast.walk(ix.tree):
        if isinstance(n, ast.Call):
            lname = last(call_name(n, ix.imports))
            vals: list[tuple[str, ast.expr]] = []
            if DROPOUT_CALLS.match(lname):
                if lname.startswith("Dropout") or lname.endswith("Dropout"):
                    if n.args:
                        vals.append(("p", n.args[0]))
                elif len(n.args) > 1:
                    vals.append(("p", n.args[1]))
            for k in n.keywords:
                if k.arg and DROPOUT_KEYS.match(k.arg) and (k.arg not in ("p", "rate") or DROPOUT_CALLS.match(lname)):
                    vals.append((k.arg, k.value))
            if lname == "add_argument" and n.args and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str) and "dropout" in n.args[0].value.lower():
                d = kwarg(n, "default")
                if d is not None:
                    vals.append((n.args[0].value.lstrip("-"), d))
            for key, v in vals:
                p = number(v)
                if p is not None and MAX_DROPOUT < p < 1.0 and n.lineno not in seen:
                    seen.add(n.lineno)
                    out.append(Finding("dropout_too_high", f"{snippet(n, 60)} sets a dropout probability of {p:g} (value {p:g}): more than half of the units are dropped", n.lineno))
        elif isinstance(n, (ast.Assign, ast.AnnAssign)) and not isinstance(getattr(n, "value", None), ast.Call):
            tg = n.targets if isinstance(n, ast.Assign) else [n.target]
            for t in tg:
                if isinstance(t, ast.Name) and DROPOUT_KEYS.match(t.id) and t.id not in ("p", "rate"):
                    p = number(n.value)
                    if p is not None and MAX_DROPOUT < p < 1.0 and n.lineno not in seen:
                        seen.add(n.lineno)
                        out.append(Finding("dropout_too_high", f"{snippet(n, 60)} sets a dropout probability of {p:g} (value {p:g}): more than half of the units are dropped", n.lineno))
    return out


def _optimizer_family(ix: Index) -> str:
    """``adaptive``, ``sgd`` or '' (unknown or mixed) from the optimizers the file builds."""
    fams = set()
    for n in ast.walk(ix.tree):
        if isinstance(n, ast.Call):
            lname = last(call_name(n, ix.imports))
            if lname in ADAPTIVE:
                fams.add("adaptive")
            elif lname in SGD_LIKE:
                fams.add("sgd")
            elif lname in OPTIMIZER_CLASSES:
                fams.add("other")
            elif lname in ("TrainingArguments", "Seq2SeqTrainingArguments", "SFTConfig", "DPOConfig", "GRPOConfig"):
                optim = kwarg(n, "optim")
                fams.add("adaptive" if optim is None or "adam" in snippet(optim).lower() else "other")
    return fams.pop() if len(fams) == 1 and "other" not in fams else ""


def _out_of_range(v: float, fam: str) -> tuple[float, float] | None:
    lo, hi = ADAPTIVE_RANGE if fam == "adaptive" else SGD_RANGE
    return (lo, hi) if not (lo <= v <= hi) else None


def learning_rate(ix: Index) -> list[Finding]:
    """LR literals in optimizer constructors; the indirect ones (a config variable, an argparse
    default, a parameter default) only when no constructor has a literal LR of its own."""
    out = []
    fam_file = _optimizer_family(ix)
    if any(
        isinstance(n, ast.Call) and last(call_name(n, ix.imports)) in OPTIMIZER_CLASSES and number(kwarg(n, "lr") or (n.args[1] if len(n.args) > 1 else None)) is not None
        for n in ast.walk(ix.tree)
    ):
        fam_file = ""
    for n in ast.walk(ix.tree):
        found: list[tuple[float, str, str, int]] = []  # value, family, text, line
        if isinstance(n, ast.Call):
            lname = last(call_name(n, ix.imports))
            fam = "adaptive" if lname in ADAPTIVE else "sgd" if lname in SGD_LIKE else ""
            if lname in OPTIMIZER_CLASSES and fam:
                v = kwarg(n, "lr")
                if v is None and len(n.args) > 1:
                    v = n.args[1]
                val = number(v)
                if val is not None:
                    found.append((val, fam, snippet(n, 60), n.lineno))
            elif lname in ("TrainingArguments", "Seq2SeqTrainingArguments", "SFTConfig", "DPOConfig", "GRPOConfig"):
                val = number(kwarg(n, "learning_rate"))
                if val is not None and fam_file == "adaptive":
                    found.append((val, "adaptive", snippet(n, 60), n.lineno))
            elif lname == "add_argument" and fam_file and n.args and isinstance(n.args[0], ast.Constant) and str(n.args[0].value).lstrip("-").replace("-", "_") in LR_NAMES:
                val = number(kwarg(n, "default"))
                if val is not None:
                    found.append((val, fam_file, snippet(n, 60), n.lineno))
        elif isinstance(n, ast.Assign) and fam_file and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and n.targets[0].id in LR_NAMES:
            val = number(n.value)
            if val is not None:
                found.append((val, fam_file, snippet(n, 60), n.lineno))
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and fam_file:
            args = n.args.args[len(n.args.args) - len(n.args.defaults) :]
            for a, d in zip(args, n.args.defaults):
                if a.arg in LR_NAMES:
                    val = number(d)
                    if val is not None:
                        found.append((val, fam_file, f"def {n.name}(..., {a.arg}={snippet(d)})", n.lineno))
        for val, fam, text, line in found:
            rng = _out_of_range(val, fam)
            if rng is None:
                continue
            side = "above" if val > rng[1] else "below"
            label = "adaptive optimizers (Adam family)" if fam == "adaptive" else "SGD"
            out.append(Finding("lr_out_of_range", f"{text} sets a learning rate of {val:g} (value {val:g}), {side} the range [{rng[0]:g}, {rng[1]:g}] used with {label}", line))
    return out
