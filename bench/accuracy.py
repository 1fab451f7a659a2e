"""Accuracy of traindx's diagnoses against labelled runs: the failure zoo and the real-run corpus.

Prints, for each labelled set:
- per-class precision and recall (a class is found when its symptom is reported at medium
  severity or above, or its root cause is named);
- top-1 root-cause accuracy (the first cause is one the labels allow);
- false alarms: healthy runs with any high or critical finding;
- calibration: of the causes reported with confidence above 0.9, the share that the labels allow
  (DESIGN.md: at least nine in ten).

Usage::

    python bench/accuracy.py [--corpus ../shared/corpus] [--zoo tests/zoo --zoo tests/zoo_gpu] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import traindx

ROOT = Path(__file__).resolve().parent.parent

# corpus label -> (symptom ids that show it, root causes that explain it)
CLASSES: dict[str, tuple[set[str], set[str]]] = {
    "loss_divergence": ({"loss_divergence"}, {"lr_too_high", "lr_schedule", "exploding_gradients", "mixed_precision_overflow", "numerical_instability"}),
    "loss_spike": ({"loss_spike"}, {"exploding_gradients", "lr_too_high", "mixed_precision_overflow", "numerical_instability"}),
    "nan_inf": ({"nan_inf"}, {"numerical_instability", "mixed_precision_overflow", "exploding_gradients", "lr_too_high", "lr_schedule"}),
    "plateau_never_learning": ({"loss_plateau", "slow_convergence"}, {"data_pipeline_bug", "no_parameter_update", "underfitting", "lr_too_low", "vanishing_gradients", "dead_relu", "lr_too_high"}),
    "overfitting": ({"val_loss_rising", "train_val_gap", "loss_at_zero"}, {"overfitting", "insufficient_data"}),
    "exploding_gradients": ({"gradient_explosion"}, {"exploding_gradients"}),
    "vanishing_gradients/no_update": ({"gradient_vanishing", "loss_plateau"}, {"vanishing_gradients", "no_parameter_update"}),
    "lr_problem": (set(), {"lr_too_high", "lr_too_low", "lr_schedule"}),
    "fp16_loss_scale_overflow": ({"loss_scale_collapse"}, {"mixed_precision_overflow"}),
    "oom": ({"oom_error"}, {"out_of_memory"}),
    "mode_collapse": ({"degenerate_outputs"}, {"mode_collapse"}),
    "throughput_drop": ({"throughput_drop"}, {"dataloader_bottleneck"}),
}
SIGNIFICANT = ("medium", "high", "critical")
ALARM = ("high", "critical")


# causes that by themselves say a class is present (for classes judged by cause, not by symptom)
DETECT_BY_CAUSE = {"lr_problem": {"lr_too_high", "lr_too_low", "lr_schedule"}, "vanishing_gradients/no_update": {"vanishing_gradients", "no_parameter_update"}}


def found_classes(d: dict) -> set[str]:
    syms = {s["id"] for s in d["symptoms"] if s["severity"] in SIGNIFICANT}
    causes = {c["id"] for c in d["root_causes"] if c["confidence"] >= 0.7}
    out = set()
    for cls, (sy, _) in CLASSES.items():
        if cls in DETECT_BY_CAUSE:
            if causes & DETECT_BY_CAUSE[cls] or (syms & sy - {"loss_plateau"}):
                out.add(cls)
        elif syms & sy:
            out.add(cls)
    return out


def allowed_causes(labels: list[str]) -> set[str]:
    out: set[str] = set()
    for lab in labels:
        out |= CLASSES.get(lab.rstrip("?"), (set(), set()))[1]
    return out


def corpus_cases(corpus: Path) -> list[dict]:
    cases = []
    for c in json.loads((corpus / "labels.json").read_text()):
        labels = [lab for lab in c["labels"] if not lab.endswith("?")]
        cases.append({"name": c["case"], "path": corpus / c["case"], "labels": labels, "high_conf": c["confidence"].startswith("high"), "cause": None})
    return cases


def zoo_cases(zoo: Path) -> list[dict]:
    import yaml

    cases = []
    for label_file in sorted(zoo.glob("*/label.yaml")):
        lab = yaml.safe_load(label_file.read_text())
        run = label_file.parent / "run"
        cause = lab.get("cause")
        syms = lab.get("symptoms") or []
        cases.append({"name": label_file.parent.name, "path": run, "labels": ["healthy"] if cause is None and not syms else [], "symptoms": set(syms), "cause": cause, "high_conf": True})
    return cases


def evaluate(cases: list[dict], kind: str) -> dict:
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    top1 = top1_n = 0
    alarms: list[str] = []
    healthy_n = 0
    calib_total = calib_right = 0
    rows = []
    for case in cases:
        d = traindx.diagnose([case["path"]]).to_dict()
        causes = [c for c in d["root_causes"]]
        top = causes[0]["id"] if causes else None
        if kind == "zoo":
            expect_syms = case["symptoms"]
            got_syms = {s["id"] for s in d["symptoms"] if s["severity"] in SIGNIFICANT}
            for s in expect_syms:
                (tp if s in got_syms else fn)[s] += 1
            for s in got_syms - expect_syms:
                fp[s] += 1
            allowed = {case["cause"]} if case["cause"] else set()
            healthy = case["cause"] is None and not expect_syms
        else:
            labels = case["labels"]
            healthy = labels == ["healthy"]
            got = found_classes(d)
            for cls in CLASSES:
                actual = cls in labels
                pred = cls in got
                if actual and pred:
                    tp[cls] += 1
                elif actual:
                    fn[cls] += 1
                elif pred:
                    fp[cls] += 1
            allowed = allowed_causes(labels)
        if healthy:
            healthy_n += 1
            bad = [f"{s['id']}:{s['severity']}" for s in d["symptoms"] if s["severity"] in ALARM]
            if bad:
                alarms.append(f"{case['name']} ({', '.join(bad)})")
            ok = not causes or causes[0]["confidence"] < 0.7
        else:
            ok = top in allowed
        if case["high_conf"] and (healthy or allowed):
            top1_n += 1
            top1 += int(ok)
        for c in causes:
            if c["confidence"] > 0.9:
                calib_total += 1
                calib_right += int(c["id"] in allowed)
        rows.append((case["name"], d["status"], top, causes[0]["confidence"] if causes else None, "ok" if ok else "WRONG"))
    classes = sorted(set(tp) | set(fp) | set(fn))
    per_class = {}
    for c in classes:
        p = tp[c] / (tp[c] + fp[c]) if tp[c] + fp[c] else None
        r = tp[c] / (tp[c] + fn[c]) if tp[c] + fn[c] else None
        per_class[c] = {"tp": tp[c], "fp": fp[c], "fn": fn[c], "precision": p, "recall": r}
    return {
        "cases": len(cases),
        "per_class": per_class,
        "top1": (top1, top1_n),
        "false_alarms": alarms,
        "healthy": healthy_n,
        "calibration": (calib_right, calib_total),
        "rows": rows,
    }


def show(name: str, res: dict) -> None:
    print(f"\n## {name}: {res['cases']} runs\n")
    print("| case | status | top cause | confidence | top-1 |")
    print("|---|---|---|---|---|")
    for r in res["rows"]:
        print(f"| {r[0]} | {r[1]} | {r[2] or '-'} | {'' if r[3] is None else f'{r[3]:.2f}'} | {r[4]} |")
    print("\n| class | precision | recall | tp | fp | fn |")
    print("|---|---|---|---|---|---|")
    for c, v in res["per_class"].items():
        p = "-" if v["precision"] is None else f"{v['precision']:.2f}"
        rc = "-" if v["recall"] is None else f"{v['recall']:.2f}"
        print(f"| {c} | {p} | {rc} | {v['tp']} | {v['fp']} | {v['fn']} |")
    t, n = res["top1"]
    cr, ct = res["calibration"]
    print(f"\ntop-1 root cause: {t}/{n} = {t / n:.0%}" if n else "\ntop-1 root cause: n/a")
    print(f"false alarms on healthy runs: {len(res['false_alarms'])} of {res['healthy']}" + (f" ({'; '.join(res['false_alarms'])})" if res["false_alarms"] else ""))
    print(f"calibration: causes above 0.9 right {cr}/{ct}" + (f" = {cr / ct:.0%}" if ct else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--zoo", type=Path, action="append", help="a folder of labelled runs (<case>/label.yaml, <case>/run/); default tests/zoo and tests/zoo_gpu")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args()
    t0 = time.perf_counter()
    results = {}
    zoo_dirs = args.zoo or [ROOT / "tests" / "zoo", ROOT / "tests" / "zoo_gpu"]
    zoo = [c for z in zoo_dirs if z.is_dir() for c in zoo_cases(z)]
    if zoo:
        results["zoo"] = evaluate(zoo, "zoo")
        show("failure zoo", results["zoo"])
    if (args.corpus / "labels.json").is_file():
        results["corpus"] = evaluate(corpus_cases(args.corpus), "corpus")
        show("real-run corpus", results["corpus"])
    if not results:
        print("nothing to evaluate: no zoo labels and no corpus found", file=sys.stderr)
        return 2
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=list))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
