"""The printed-log reader: every common trainer format, events, Markdown, robustness, fast path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import traindx
from traindx.ingest import textlog
from traindx.ingest.part import Part, ReadError, Source

DATA = Path(__file__).parent / "data" / "textlog"


def read(path: Path) -> Part:
    return textlog.read(Source(path, path.name, path.stat().st_size))


def points(part: Part, raw: str) -> tuple[list[float], list[float], list[int]]:
    s = part.series[raw].build(canonical=raw, source="", step_unit="step", step_source="logged", reader="")
    return s.steps.tolist(), s.values.tolist(), s.lines.tolist()


def step_value(part: Part, raw: str) -> dict[float, float]:
    st, va, _ = points(part, raw)
    return dict(zip(st, va))


def events(part: Part, kind: str) -> list:
    return [e for e in part.events if e.kind == kind]


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    if isinstance(data, str):
        p.write_text(data, encoding="utf-8")
    else:
        p.write_bytes(data)
    return p


# -- formats -------------------------------------------------------------------------


def test_nanogpt_dense_and_eval_series():
    part = read(DATA / "nanogpt.log")
    assert part.format == "nanogpt" and part.step_source == "logged"
    steps, vals, lines = points(part, "loss")
    assert steps == [0, 10, 20, 30, 40, 50, 60, 70, 80]
    assert vals[:2] == [4.2654, 3.1461] and math.isnan(vals[7]) and math.isnan(vals[8])
    assert lines[0] == 10 and lines[7] == 19  # grep -n line numbers
    assert step_value(part, "train loss") == {0: 4.2874, 50: 2.5113}
    assert step_value(part, "val loss") == {0: 4.2823, 50: 2.5262}
    assert 0 not in step_value(part, "mfu")  # the -100% placeholder of the first iters is dropped
    assert all(v > 0 for v in step_value(part, "mfu").values())
    # header lines ("num decayed parameter tensors: 26, with ...") give no series
    assert set(part.series) == {"loss", "time", "mfu", "train loss", "val loss"}
    (ck,) = events(part, "checkpoint")
    assert ck.line == 16 and ck.step == 50


def test_nanogpt_canonical_names_prefer_dense_series():
    run = traindx.load_run(DATA / "nanogpt.log")
    assert run.series["loss/train"].source_name == "loss"
    assert len(run.series["loss/train"]) == 9
    assert run.series["loss/val"].source_name == "val loss"
    assert [a.source_name for a in run.alternates["loss/train"]] == ["train loss"]
    assert run.series["step_time_ms"].source_name == "time"


def test_llmc_steps_kept_as_printed():
    part = read(DATA / "llmc.log")
    assert part.format == "llmc"
    assert step_value(part, "loss")[1] == 11.010324  # 1-based, as printed
    assert math.isnan(step_value(part, "loss")[5]) and math.isnan(step_value(part, "norm")[5])
    assert step_value(part, "lr")[2] == 1.71e-06
    assert step_value(part, "ms")[2] == 144.76
    assert step_value(part, "tok/s")[3] == 3619847
    assert step_value(part, "val loss") == {3: 10.803318}  # printed after step 3
    run = traindx.load_run(DATA / "llmc.log")
    assert {"loss/train", "grad_norm", "lr", "loss/val", "throughput", "step_time_ms"} <= set(run.series)


def test_llmc_s_fork():
    run = traindx.load_run(DATA / "llmc_s.log")
    assert run.series["loss/train"].steps.tolist() == [0, 1, 2, 250]
    assert run.series["loss/val"].values.tolist() == [11.0092, 6.1710]
    assert run.series["grad_norm"].values[0] == 15.37


def test_hf_v4_console_dicts_take_the_tqdm_bar_step():
    part = read(DATA / "hf_v4_console.txt")
    assert part.format == "hf_trainer" and part.step_source == "logged"
    assert step_value(part, "loss") == {10: 2.3412, 20: 1.9873, 30: 1.7012}
    assert math.isnan(step_value(part, "grad_norm")[20])
    assert step_value(part, "eval_loss") == {20: 2.0511}
    assert part.summary["train_loss"].value == 2.0099  # the final dict is a summary, not a point
    assert "train_loss" not in part.series and "epoch" not in part.series
    s = part.series["loss"].build(canonical="loss/train", source="", step_unit="step", step_source="logged", reader="")
    assert s.epochs.tolist() == [0.33, 0.67, 1.0]
    run = traindx.load_run(DATA / "hf_v4_console.txt")
    assert {"loss/train", "loss/val", "grad_norm", "lr"} <= set(run.series)


def test_hf_v5_string_values_inferred_ordinal():
    part = read(DATA / "hf_v5.txt")
    assert part.step_source == "inferred"
    assert step_value(part, "loss") == {1: 4.33, 2: 4.112, 3: 3.981}
    assert math.isnan(step_value(part, "grad_norm")[3])
    assert step_value(part, "eval_loss") == {2: 4.322}  # an eval dict takes the ordinal of the train dict before it
    run = traindx.load_run(DATA / "hf_v5.txt")
    assert run.series["loss/train"].step_source == "inferred"


def test_keras_verbose2_epochs_and_evaluate():
    part = read(DATA / "keras_v2.log")
    assert part.format == "keras" and part.step_unit == "epoch"
    assert step_value(part, "loss") == {1: 0.7946, 2: 0.6817, 3: 0.6211}
    assert step_value(part, "val_loss")[3] == 0.5584
    run = traindx.load_run(DATA / "keras_v2.log")
    assert run.series["loss/val"].values.tolist() == [0.8264, 0.6471, 0.5584]
    assert run.series["loss/test"].values.tolist() == [0.5901]  # model.evaluate() after fit
    assert run.series["accuracy/train"].step_unit == "epoch"


def test_keras_verbose1_ansi_and_redraws():
    part = read(DATA / "keras_v1.log")
    assert step_value(part, "loss") == {1: 0.7946, 2: 0.6817}
    assert step_value(part, "val_accuracy") == {1: 0.4757, 2: 0.6505}


def test_lightning_tqdm_one_bar_line_for_the_whole_fit():
    part = read(DATA / "lightning_tqdm.log")
    assert part.format == "lightning"
    # epoch 0-based, 16 batches per epoch: the global step is epoch*16 + batch
    assert step_value(part, "train_loss_step") == {16: 1.430, 32: 1.120, 48: 0.870}
    assert step_value(part, "val_loss") == {16: 1.010, 32: 0.948, 48: 0.901}
    assert "v_num" not in part.series


def test_lightning_rich_wrapped_metrics():
    part = read(DATA / "lightning_rich.log")
    assert step_value(part, "train_loss_step") == {16: 1.430, 32: 1.120, 48: 0.548}
    assert step_value(part, "val_loss") == {16: 1.010, 32: 0.948, 48: 0.869}
    assert step_value(part, "train_loss_epoch") == {32: 0.990, 48: 0.857}
    _, _, lines = points(part, "val_loss")
    assert lines == [7, 11, 17]  # the bar line, not its continuation lines


def test_fairseq_json_num_updates_and_splits():
    part = read(DATA / "fairseq_json.log")
    assert part.format == "fairseq"
    assert step_value(part, "loss") == {2: 16.446, 100: 12.1, 200: 8.9}
    assert math.isnan(step_value(part, "gnorm")[100])
    assert step_value(part, "valid_loss") == {100: 9.1}
    (ov,) = events(part, "loss_scale_overflow")
    assert ov.step == 2 and ov.get("to") == 2.0
    run = traindx.load_run(DATA / "fairseq_json.log")
    assert run.series["loss/train"].source_name == "loss"
    assert run.series["loss/val"].values.tolist() == [9.1]
    assert run.series["grad_norm"].source_name == "gnorm"


def test_fairseq_pipe_formats_and_valid_line():
    part = read(DATA / "fairseq_pipe.log")
    assert step_value(part, "loss") == {190: 14.351, 290: 13.689, 9165: 3.976}
    run = traindx.load_run(DATA / "fairseq_pipe.log")
    assert run.series["loss/val"].values.tolist() == [9.329]
    assert run.series["loss/val"].steps.tolist() == [9165]
    ovs = events(part, "loss_scale_overflow")
    assert [e.get("to") for e in ovs] == [0.0625, 0.03125]
    assert ovs[1].step == 290
    (ck,) = events(part, "checkpoint")
    assert ck.step == 9165 and ck.get("epoch") == 28


def test_megatron_prefixes_wraps_nan_counter_and_validation():
    part = read(DATA / "megatron.log")
    assert part.format == "megatron"
    lm = step_value(part, "lm loss")
    assert list(lm) == [20, 30, 40, 50, 60]  # iteration 10 was skipped (no lm loss)
    assert lm[20] == 12.03115 and lm[40] == 12.55556 and lm[50] == 9.718885  # junk prefix, wrapped record
    assert math.isnan(lm[60])
    counter = step_value(part, "number of nan iterations")
    assert counter == {10: 0, 20: 0, 30: 0, 40: 0, 50: 0, 60: 1} and not any(map(math.isnan, counter.values()))
    assert step_value(part, "lm loss value") == {40: 8.017406}
    assert part.config["clip_grad"].value == 1.0 and part.config["fp16"].value is True
    (ck,) = events(part, "checkpoint")
    assert ck.step == 60
    (st,) = events(part, "run_status")
    assert st.get("status") == "cancelled"
    run = traindx.load_run(DATA / "megatron.log")
    assert run.series["loss/val"].values.tolist() == [8.017406]
    assert run.series["loss_scale"].values.tolist()[:3] == [8388608.0, 32768.0, 16384.0]
    assert run.series["lr"].source_name == "learning rate"


def test_deepspeed_overflows_and_minimum():
    part = read(DATA / "deepspeed.log")
    ovs = events(part, "loss_scale_overflow")
    assert [(e.get("from"), e.get("to")) for e in ovs] == [(65536, 65536), (65536, 32768), (32768, 16384), (1, 1)]
    assert ovs[0].get("hysteresis") == 1
    assert ovs[3].step == 20  # after "[Rank 0] step=20"
    (mn,) = events(part, "loss_scale_min")
    assert mn.line == 15 and mn.get("exc_type") == "Exception"
    assert step_value(part, "skipped") == {10: 3, 20: 3}


def test_caffe_rate_artifact_is_not_a_nan():
    part = read(DATA / "caffe.log")
    for b in part.series.values():
        assert not np.isnan(np.frombuffer(b.values, dtype=np.float64)).any()
    assert step_value(part, "loss") == {0: 6.91161, 20: 6.90501, 40: 6.90635}
    assert 0 not in step_value(part, "iter/s")
    run = traindx.load_run(DATA / "caffe.log")
    assert run.series["loss/val"].values.tolist() == [6.90776]
    assert run.series["accuracy/val"].steps.tolist() == [40]
    (ck,) = events(part, "checkpoint")
    assert ck.get("checkpoint_step") == 40


def test_python_logging_key_values():
    part = read(DATA / "logging_kv.log")
    loss = step_value(part, "loss")
    assert loss[10] == 2.3456 and math.isinf(loss[30]) and math.isnan(loss[40])
    assert step_value(part, "grad_norm")[40] == 12.5
    assert step_value(part, "val_loss") == {30: 2.2001}
    (w,) = events(part, "warning")
    assert w.get("category") == "UserWarning" and w.step == 20


def test_tqdm_within_epoch_steps_become_global():
    part = read(DATA / "tqdm_epochs.log")
    assert step_value(part, "Loss") == {0: 0.9741, 1: 1.3742, 7: 0.9610, 8: 0.9741, 9: 1.3742}
    s = part.series["Loss"].build(canonical="loss", source="", step_unit="step", step_source="logged", reader="")
    assert s.epochs.tolist() == [1, 1, 1, 2, 2]


def test_mmdetection_epoch_iteration():
    part = read(DATA / "mmdet.log")
    assert part.format == "mmdet"
    assert step_value(part, "loss") == {50: 2.1524, 100: 1.4161, 7380: 0.8501, 14710: 0.8}
    assert step_value(part, "bbox_mAP") == {7380: 0.374}
    assert "eta" not in part.series


def test_yolact_and_gpt2_simple():
    y = read(DATA / "yolact.log")
    assert {"B", "C", "M", "S", "T"} <= set(y.series)
    assert step_value(y, "M") == {1440: 6.919, 1450: 6.986, 1460: 7.028}
    s = y.series["T"].build(canonical="T", source="", step_unit="step", step_source="logged", reader="")
    assert s.epochs.tolist() == [1, 1, 1]
    (ov,) = events(y, "loss_scale_overflow")
    assert ov.step == 1450
    g = read(DATA / "gpt2simple.log")
    assert step_value(g, "loss") == {2010: 2.29, 2020: 2.59, 2030: 2.36}
    assert step_value(g, "avg")[2030] == 2.41


def test_pandas_epoch_blocks_and_val_lines():
    part = read(DATA / "r2c.log")
    assert part.step_unit == "epoch"
    assert step_value(part, "loss") == {0: 1.356284, 1: 1.386393}
    run = traindx.load_run(DATA / "r2c.log")
    assert run.series["loss/val"].values.tolist() == [1.386, 1.386]
    assert run.series["accuracy/val"].steps.tolist() == [0, 1]
    (lr,) = events(part, "lr_change")
    assert lr.get("lr") == 1e-4


def test_errors_log_event_kinds_and_lines():
    part = read(DATA / "errors.log")
    kinds = [(e.kind, e.line) for e in sorted(part.events, key=lambda e: e.line)]
    assert kinds == [
        ("warning", 2),
        ("zero_variance", 4),
        ("nan_anomaly", 12),
        ("oom", 16),
        ("oom", 17),
        ("oom", 18),
        ("dataloader_crash", 24),
        ("dataloader_crash", 35),
        ("nccl_timeout", 43),
        ("nccl_progress", 44),
        ("nccl_error", 45),
        ("gloo_timeout", 46),
        ("shape_error", 47),
        ("dtype_error", 48),
        ("index_error", 49),
        ("autograd_error", 50),
        ("shm_error", 51),
        ("dataloader_timeout", 52),
        ("lr_change", 53),
        ("killed", 63),
        ("killed", 67),
        ("run_status", 68),
        ("interrupted", 72),
        ("exception", 73),
    ]
    oom16 = next(e for e in part.events if e.line == 16)
    assert oom16.get("rank") == 1 and oom16.get("gpu") == 6 and oom16.step == 110
    assert next(e for e in part.events if e.line == 43).get("seq") == 6463
    assert next(e for e in part.events if e.line == 68).get("status") == "time_limit"


# -- Markdown ----------------------------------------------------------------------------


def test_markdown_strict_mode():
    part = read(DATA / "logbook.md")
    assert step_value(part, "lm loss") == {29040: 2.768131, 29050: 7.343709, 42780: 2.117073}
    assert step_value(part, "TFLOPs") == {42780: 149.10}  # wrapped record joined
    assert "learning_rate" not in part.series and "batch size" not in part.series  # no prose key/values
    assert [(e.kind, e.line) for e in part.events] == [("cuda_error", 13)]  # prose mentions are not events


# -- sniff ---------------------------------------------------------------------------------


def test_sniff_scores_stay_low_and_binary_is_zero(tmp_path):
    log = DATA / "nanogpt.log"
    score = textlog.sniff(log, log.read_bytes()[:8192])
    assert 0.1 <= score <= 0.3
    assert textlog.sniff(tmp_path / "x.json", b'{"a": 1}') < 0.1
    assert textlog.sniff(tmp_path / "events.out.tfevents.1.host", b"\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7fK\x22\t\x00\x00") == 0
    assert textlog.sniff(tmp_path / "notes.md", b"# notes\n") <= 0.15
    assert textlog.sniff(tmp_path / "output.log", b"iter 1: loss 2.0\n") > 0


# -- robustness ---------------------------------------------------------------------------


def test_empty_and_noise_files_are_skipped(tmp_path):
    e = write(tmp_path, "empty.log", "")
    assert read(e).is_empty
    noise = write(tmp_path, "noise.log", "Loading shards...\nDone.\n\nhello world\n=====\n")
    assert read(noise).is_empty
    run = traindx.load_run(noise)
    assert run.skipped and "no training data found" in run.skipped[0].reason


def test_truncated_last_line_and_crlf(tmp_path):
    p = write(tmp_path, "t.log", b"iter 0: loss 2.0, time 1.0ms, mfu 1.0%\r\r\niter 1: loss 1.9, time 1.0ms, mfu 1.0%\r\niter 2: loss 1.8, ti")
    part = read(p)
    assert step_value(part, "loss") == {0: 2.0, 1: 1.9, 2: 1.8}
    assert points(part, "loss")[2] == [1, 2, 3]


def test_non_utf8_bytes(tmp_path):
    p = write(tmp_path, "l1.log", b"step=1 loss=2.5 caf\xe9=1\nstep=2 loss=2.4\n")
    part = read(p)
    assert step_value(part, "loss") == {1: 2.5, 2: 2.4}
    assert any("Latin-1" in i.message for i in part.issues)


def test_utf16_log(tmp_path):
    p = write(tmp_path, "ps.log", "step=1 loss=2.5\nstep=2 loss=2.4\n".encode("utf-16"))
    assert step_value(read(p), "loss") == {1: 2.5, 2: 2.4}


def test_giant_single_line_is_skipped_with_located_issue(tmp_path):
    p = tmp_path / "giant.log"
    with open(p, "wb") as f:
        f.write(b"step=1 loss=2.0 lr=0.1\n")
        f.write(b"x" * (50 * 1024 * 1024))
        f.write(b"\nstep=3 loss=1.5 lr=0.1\n")
    part = read(p)
    assert step_value(part, "loss") == {1: 2.0, 3: 1.5}
    assert points(part, "loss")[2] == [1, 3]
    assert [(i.line, "longer than" in i.message) for i in part.issues] == [(2, True)]


def test_binary_file_raises_read_error(tmp_path):
    p = write(tmp_path, "b.log", b"\x00\x01\x02\x03" * 100)
    with pytest.raises(ReadError):
        read(p)


# -- fast path == line-by-line path ---------------------------------------------------


def _compare_paths(path: Path, monkeypatch) -> Part:
    fast = read(path)
    monkeypatch.setattr(textlog.fastpath, "ENABLED", False)
    slow = read(path)
    monkeypatch.setattr(textlog.fastpath, "ENABLED", True)
    assert set(fast.series) == set(slow.series)
    for raw in fast.series:
        a = fast.series[raw].build(canonical=raw, source="", step_unit="step", step_source="logged", reader="")
        b = slow.series[raw].build(canonical=raw, source="", step_unit="step", step_source="logged", reader="")
        assert np.array_equal(a.steps, b.steps), raw
        assert np.array_equal(a.values, b.values, equal_nan=True), raw
        assert np.array_equal(a.lines, b.lines), raw
    assert [(e.kind, e.line, e.step) for e in fast.events] == [(e.kind, e.line, e.step) for e in slow.events]
    assert fast.step_source == slow.step_source
    return fast


def test_fast_path_matches_line_rules_nanogpt(tmp_path, monkeypatch):
    lines = []
    for i in range(12000):
        if i % 1000 == 0:
            lines.append(f"step {i}: train loss {3 - i / 1e4:.4f}, val loss {3.1 - i / 1e4:.4f}")
            lines.append("saving checkpoint to out")
        loss = "nan" if i > 11500 else f"{3 - i / 1e4:.4f}"
        mfu = "-100.00" if i < 5 else f"{30 + (i % 7) / 10:.2f}"
        lines.append(f"iter {i}: loss {loss}, time {50 + i % 3:.2f}ms, mfu {mfu}%")
        if i == 7000:
            lines.append("/x/train.py:1: UserWarning: something")
            lines.append("iter 7000: loss 1e309, time 1ms")  # an odd line inside a chunk of template lines
    p = write(tmp_path, "big.log", "\n".join(lines) + "\n")
    part = _compare_paths(p, monkeypatch)
    loss = step_value(part, "loss")
    assert len(loss) == 12000 and math.isnan(loss[11999]) and loss[11500] == 3 - 11500 / 1e4
    assert step_value(part, "mfu").get(3) is None
    assert [e.step for e in events(part, "checkpoint")][:2] == [0, 1000]


def test_fast_path_matches_line_rules_megatron_and_hf(tmp_path, monkeypatch):
    meg = []
    for it in range(1, 6001):
        lm = "nan" if it == 4000 else f"{7 - it / 1e4:.6E}"
        meg.append(
            f" iteration {it:8d}/ 100000 | consumed samples: {it * 4:12d} | elapsed time per iteration (ms): {1000 + it % 9:.1f} | "
            f"learning rate: 1.500E-04 | global batch size:     4 | lm loss: {lm} | loss scale: 16384.0 | grad norm: {1 + it % 5 / 10:.3f} | "
            f"number of skipped iterations:   0 | number of nan iterations:   {int(it == 4000)} |"
        )
        if it % 1000 == 0:
            meg.append(f" validation loss at iteration {it} | lm loss value: {6.5:.6E} | lm loss PPL: {665.1:.6E} | ")
    part = _compare_paths(write(tmp_path, "meg.log", "\n".join(meg) + "\n"), monkeypatch)
    assert math.isnan(step_value(part, "lm loss")[4000])
    assert step_value(part, "number of nan iterations")[4000] == 1
    hf = [f"{{'loss': {2 - i / 1e4:.4f}, 'grad_norm': {0.5 + i % 3 / 10!r}, 'learning_rate': 5e-05, 'epoch': {i / 1000:.2f}}}" for i in range(1, 6001)]
    hf.insert(3000, "{'eval_loss': 1.5, 'eval_runtime': 2.0, 'epoch': 3.0}")
    part = _compare_paths(write(tmp_path, "hf.log", "\n".join(hf) + "\n"), monkeypatch)
    assert part.step_source == "inferred"
    assert step_value(part, "eval_loss") == {3000: 1.5}


# -- the real-run corpus --------------------------------------------------------------------


def test_corpus_09_nanogpt_nan(corpus):
    part = read(corpus / "09-nanogpt-termux-nan" / "train.log")
    loss = step_value(part, "loss")
    finite = [s for s, v in loss.items() if not math.isnan(v)]
    assert max(finite) == 420 and loss[420] == 3.5023
    assert min(s for s, v in loss.items() if math.isnan(v)) == 425
    assert 0 not in step_value(part, "mfu")  # mfu -100.00% placeholder
    run = traindx.load_run(corpus / "09-nanogpt-termux-nan")
    assert run.series["loss/train"].source_name == "loss" and len(run.series["loss/train"]) == 91
    assert run.series["loss/val"].values[-1] == 3.3687


def test_corpus_08_llmc_main_log_and_readme(corpus):
    run = traindx.load_run(corpus / "08-llmc-gpt2-124m-healthy")
    assert len(run.series["loss/train"]) == 19560
    assert run.series["loss/val"].values[0] == 11.0092 and run.series["loss/val"].values[-1] == 3.2722
    assert run.series["grad_norm"].values[run.series["grad_norm"].steps.tolist().index(9025)] == pytest.approx(2.02, abs=0.01)
    assert any(s.path.endswith("README.md") and "no training data found" in s.reason for s in run.skipped)


@pytest.mark.parametrize("case, low, high", [("10-wandb-nanogpt-enwik-healthy", 1.562, 1.5617), ("11-wandb-nanogpt-shakespeare-overfit", 4.92, 4.9221)])
def test_corpus_wandb_output_log(corpus, case, low, high):
    path = next((corpus / case).glob("run-*/files/output.log"))
    part = read(path)
    assert part.format == "nanogpt"
    val = step_value(part, "val loss")
    assert val[5000] == high
    assert len(step_value(part, "loss")) == 501


def test_corpus_20_megatron(corpus):
    part = read(corpus / "20-megatron-gpt2-bench-healthy-fp16-startup" / "meg_gpt2_base_n4_dp1_tp4_pp4-1809579.out")
    lm = step_value(part, "lm loss")
    assert lm[20] == pytest.approx(12.03115) and lm[200] == pytest.approx(7.365868)
    for b in part.series.values():
        assert not np.isnan(np.frombuffer(b.values, dtype=np.float64)).any()  # "number of nan iterations" is a counter
    assert step_value(part, "lm loss value")[200] == pytest.approx(7.487306)
    assert step_value(part, "loss scale")[10] == 8388608.0
    assert [e.get("status") for e in events(part, "run_status")] == ["cancelled", "cancelled"]
    assert not events(part, "exception")


def test_corpus_logbooks_read_strictly(corpus):
    p21 = read(corpus / "21-megatron-tr1-13B-logbook-spike-recovered" / "chronicles.md")
    lm = step_value(p21, "lm loss")
    assert lm[29040] == pytest.approx(2.768131) and lm[29050] == pytest.approx(7.343709)
    assert step_value(p21, "loss scale")[29050] == 8192
    p22 = read(corpus / "22-megatron-bloom176b-logbook-spike-throughput-drop" / "chronicles.md")
    assert step_value(p22, "TFLOPs")[42783] == pytest.approx(142.32)  # wrapped lines joined
    assert step_value(p22, "elapsed time per iteration (s)")[42783] == pytest.approx(110.17)
    p23 = read(corpus / "23-megatron-tr8-104B-logbook-divergence-nan" / "chronicles.md")
    assert step_value(p23, "grad norm")[7010] == pytest.approx(219645.978)
    run = traindx.load_run(corpus / "24-metaseq-opt175b-logbook-instability")
    assert not run.series and all("no training data found" in s.reason for s in run.skipped if s.path.endswith(".md"))


def test_corpus_fairseq_and_deepspeed_excerpts(corpus):
    p = read(corpus / "25-issue-fairseq-fp16-lossscale-crash" / "issue512_excerpt.txt")
    tos = [e.get("to") for e in events(p, "loss_scale_overflow") if e.line and e.line >= 10]
    assert tos[0] == 0.25 and tos[-1] == 0.0001220703125
    assert step_value(p, "valid_loss") == {10198: 8.30118}
    p = read(corpus / "25-issue-fairseq-fp16-lossscale-crash" / "issue1529_excerpt.txt")
    assert step_value(p, "loss")[9165] == 3.976
    p = read(corpus / "26-issue-deepspeed-fp16-overflow-storm" / "issue534_excerpt.txt")
    ovs = [(e.get("from"), e.get("to")) for e in events(p, "loss_scale_overflow") if e.get("from") is not None and e.line > 3]
    assert ovs == [(64, 32), (32, 16), (16, 8), (8, 4), (4, 2)]
    assert [e.step for e in events(p, "loss_scale_overflow")][:2] == [378, 379]  # the tqdm bar printed on the same line
    assert step_value(p, "loss") == {380: 2.0491}


def test_corpus_hf_console_excerpts(corpus):
    p = read(corpus / "29-issue-hf-console-loss0-gradnan" / "issue212_minicpmv_excerpt.txt")
    assert p.step_source == "inferred"
    loss = step_value(p, "loss")
    assert loss[1] == 1.0778 and loss[2] == 0.0 and math.isnan(step_value(p, "grad_norm")[2])
    p = read(corpus / "29-issue-hf-console-loss0-gradnan" / "issue9298_llamafactory_excerpt.txt")
    assert step_value(p, "grad_norm")[1] == pytest.approx(100.6954116821289) and math.isnan(step_value(p, "grad_norm")[2])
    p = read(corpus / "30-issue-hf-console-gemma4-gradnorm-spikes" / "issue5207_unsloth_excerpt.txt")
    gn = step_value(p, "grad_norm")
    assert gn[4] == 92.10 and gn[9] == 11140.0 and set(p.series) == {"loss", "grad_norm"}


def test_corpus_other_excerpts(corpus):
    p = read(corpus / "28-issue-apex-amp-lossscale-underflow-yolact" / "issue359_excerpt.txt")
    assert step_value(p, "M")[1530] == 8.920
    assert [e.step for e in events(p, "loss_scale_overflow")] == [1510, 1530]
    run = traindx.load_run(corpus / "31-issue-r2c-stuck-at-chance-ln4")
    assert run.series["loss/train"].values.tolist()[:2] == [1.356284, 1.386393]
    assert run.series["loss/val"].values.tolist() == [1.386] * 4
    p = read(corpus / "32-issue-caffe-mobilenetv3-stuck-ln1000" / "issue1_excerpt.txt")
    for b in p.series.values():
        assert not np.isnan(np.frombuffer(b.values, dtype=np.float64)).any()  # "-nan iter/s"
    assert step_value(p, "train net output loss")[20] == 6.90776
    p = read(corpus / "33-issue-caffe-pspnet-loss-87.3365" / "issue63_excerpt.txt")
    assert step_value(p, "loss") == {0: 21.4058, 20: 87.3365}
    p = read(corpus / "35-issue-trace-loss-identical-every-epoch" / "issue5_excerpt.txt")
    loss = step_value(p, "Loss")
    assert loss[0] == loss[8] == 0.9741 and loss[7] == 0.9610 and max(loss) == 13
    p = read(corpus / "36-issue-cuda-oom-mistral-finetune" / "issue69_excerpt.txt")
    oom = [e for e in events(p, "oom") if e.get("tried_to_allocate") is not None]
    assert len(oom) == 1 and oom[0].get("tried_to_allocate") == 896 * 2**20
    assert oom[0].get("allocated_by_pytorch") == round(20.52 * 2**30)
    p = read(corpus / "38-issue-gpt2simple-degenerate-output" / "issue35_excerpt.txt")
    assert step_value(p, "avg")[5000] == 1.95


def test_corpus_text_files_read_without_crash(corpus):
    files = [p for p in sorted(corpus.glob("*/*")) if p.suffix in (".txt", ".log", ".out", ".md")]
    files += sorted(corpus.glob("*/run-*/files/output.log"))
    assert len(files) > 30
    for p in files:
        part = read(p)
        for b in part.series.values():
            st = np.frombuffer(b.steps, dtype=np.float64)
            assert np.isfinite(st).all(), (p, b.name)
            assert (np.frombuffer(b.lines, dtype=np.int64) > 0).all(), (p, b.name)


def test_fast_path_matches_line_rules_keras_fairseq_llmc_and_kv(tmp_path, monkeypatch):
    # Keras verbose=2: an "Epoch N/M" header before every epoch line
    ker = []
    for e in range(1, 3001):
        ker.append(f"Epoch {e}/3000")
        loss = "nan" if e == 2500 else f"{1 / e:.4f}"
        ker.append(f"13/13 - 0s - 4ms/step - accuracy: {0.5 + e / 1e4:.4f} - loss: {loss} - val_accuracy: 0.5000 - val_loss: {2 / e:.4f}")
    ker.append("4/4 - 0s - loss: 0.5901 - accuracy: 0.7200")  # model.evaluate() after fit
    part = _compare_paths(write(tmp_path, "keras.log", "\n".join(ker) + "\n"), monkeypatch)
    assert part.step_unit == "epoch" and step_value(part, "val_loss")[3000] == round(2 / 3000, 4)
    assert math.isnan(step_value(part, "loss")[2500])
    # fairseq json lines, with a key missing, a renamed key and a NaN
    fs = []
    for i in range(1, 5001):
        rec = f'{{"epoch": {1 + i // 1000}, "update": {i / 1000:.3f}, "loss": "{10 - i / 1000:.3f}", "ppl": "{2 ** (10 - i / 1000):.1f}", "num_updates": "{i}", "lr": "0.0005", "gnorm": "{1 + i % 7 / 10:.3f}"}}'
        if i == 2000:
            rec = rec.replace('"ppl"', '"ppx"')
        elif i == 3000:
            rec = rec.replace('"gnorm": "1.4"', '"gnorm": "nan"')
        elif i == 4000:
            rec = rec.replace(', "lr": "0.0005"', "")
        fs.append(f"2021-03-08 12:{i // 60 % 60:02d}:{i % 60:02d} | INFO | train_inner | {rec}")
    part = _compare_paths(write(tmp_path, "fs.log", "\n".join(fs) + "\n"), monkeypatch)
    assert 2000 not in step_value(part, "ppl") and part.config["log.ppx"].line == 2000  # a one-off key: no curve
    assert 4000 not in step_value(part, "lr") and len(step_value(part, "loss")) == 5000
    # llm.c: a literal holding digits ("bf16 MFU") and signed z-scores
    llmc = [
        f"step {s:4d}/6000 | loss {5 - s / 1e4:7.6f} ({(-1) ** s * 0.5:+.2f}z)| norm {1.5:6.4f} ({0.1:+.2f}z)| lr 6.00e-04 | 85.00 ms | 42.1% bf16 MFU | 598000 tok/s"
        for s in range(1, 6001)
    ]
    llmc[3000] = llmc[3000].replace("bf16", "fp16")
    part = _compare_paths(write(tmp_path, "llmc.log", "\n".join(llmc) + "\n"), monkeypatch)
    assert step_value(part, "lr")[6000] == 6e-4 and len(step_value(part, "loss")) == 6000
    # python logging key=value lines with a timestamp prefix; one line holds an extra word
    kv = [f"2024-01-01 12:00:{i % 60:02d},{i % 1000:03d} - INFO - train - step={i} loss={2 - i / 1e4:.4f} lr=1.0e-04" for i in range(1, 5001)]
    kv[2500] = kv[2500].replace("loss=", "val loss=")
    part = _compare_paths(write(tmp_path, "kv.log", "\n".join(kv) + "\n"), monkeypatch)
    assert step_value(part, "lr")[5000] == 1e-4 and 2501 not in step_value(part, "loss")


def test_header_prose_gives_no_series_and_no_step():
    """A settings line in prose: `at step 800` is no step, `to 5.000e-01` no value."""
    prose = (
        "optimizer: sgd momentum=0.9 weight_decay=0.0; lr schedule: linear warmup to 5.000e-01 over 400 steps, "
        "cosine to 1.000e-03 at step 800"
    )
    rec = textlog.pairs.pairs(prose)
    assert rec.step is None
    assert [(k, v) for k, v, _ in rec.pairs] == [("sgd momentum", 0.9), ("weight_decay", 0.0)]
    # with two pairs in that many words the line reads as prose: the reader takes nothing from it
    part = Part(source=Source(Path("t.log"), "t.log"), reader="textlog")
    reader = textlog.reader.Reader(part)
    assert reader._block_or_generic(4, prose, textlog.normalize.normalize(prose)) is None
    # the same words with numbers of their own and no key=value pair are still read
    rec = textlog.pairs.pairs("step 100 loss 2.5 lr 1e-4")
    assert rec.step == 100 and [k for k, _, _ in rec.pairs] == ["loss", "lr"]
    rec = textlog.pairs.pairs("step 100 loss=2.5 lr=1e-4")
    assert rec.step == 100 and [k for k, _, _ in rec.pairs] == ["loss", "lr"]


def test_bundled_example_header_line_is_no_series():
    run = traindx.load_run(Path(__file__).resolve().parent.parent / "examples" / "lr_schedule_divergence" / "train.log")
    names = {s.source_name for s in run.series.values()} | {a.source_name for alts in run.alternates.values() for a in alts}
    assert not names & {"linear warmup", "over", "cosine", "linear warmup to", "cosine to"}
    assert not any(k.startswith(("log.linear", "log.over", "log.cosine")) for k in run.config)
    assert run.series["loss/train"].steps[0] == 1 and 800 not in run.series["lr"].steps[:1]


def test_quick_blanking_never_eats_numbers():
    from traindx.ingest.textlog.blanking import Blanker, parse_numbers

    lits = [b"epoch", b"| exp -", b"| rate.", b"| e", b"|"]
    blanker = Blanker.for_literals(lits)
    line = b"epoch 1e-05 | exp - -2.5E+03 | rate. .5 | e 5. | 7 |"
    # every literal e, '.' and '-' is gone, every number is whole
    assert parse_numbers(blanker.blank(line).tobytes()).tolist() == [1e-05, -2500.0, 0.5, 5.0, 7.0]
    # a nan value loses the letters that literals use ('a' of "rate"): it cannot pass as a number
    assert parse_numbers(blanker.blank(line.replace(b"| 7 |", b"| nan |")).tobytes()) is None
    blanker.expected = blanker.blanked_bytes(b"epoch 1 | exp - 2 | rate. 3 | e 4 | 5 |")
    ok_line = b"epoch 7 | exp - 8 | rate. 9 | e 1 | 2 |"
    renamed = b"epoch 7 | exp - 8 | rote. 9 | e 1 | 2 |"
    extra = b"epoch 7 | exp - 8 | rate. 9 | e 1 | 2 | each"  # letters the literals use: blanked, and seen
    buf = ok_line + b"\n" + renamed + b"\n" + extra + b"\n"
    w = np.frombuffer(buf, dtype=np.uint8)
    starts = np.array([0, len(ok_line) + 1, len(ok_line) + len(renamed) + 2])
    assert blanker.check(w, blanker.blank(buf), starts).tolist() == [True, False, False]


def test_series_builder_bulk_and_single_points_keep_their_order():
    from array import array

    from traindx.ingest.part import SeriesBuilder

    b = SeriesBuilder("loss")
    b.add(1.0, 0.5, 10)
    assert isinstance(b.steps, array) and list(b.epochs) == []  # points added one by one: array buffers
    steps = np.array([2.0, 3.0])
    lines = np.array([11, 12])
    b.extend(steps, np.array([0.4, 0.3]), lines)
    b.add(4.0, 0.2, 13, epoch=1.0)
    assert len(b) == 4 and b.has_epochs
    assert b.steps.tolist() == [1, 2, 3, 4] and b.values.tolist() == [0.5, 0.4, 0.3, 0.2]
    assert b.lines.tolist() == [10, 11, 12, 13]
    assert np.isnan(b.epochs[:3]).all() and b.epochs[3] == 1.0
    s = b.build(canonical="loss/train", source="x", step_unit="step", step_source="logged", reader="t")
    assert s.steps.tolist() == [1, 2, 3, 4] and s.epochs is not None and s.epochs[3] == 1.0
    with pytest.raises(ValueError):
        b.extend(steps, np.array([1.0]), lines)
    # two series given the same step and line arrays share one joined copy
    shared: dict = {}
    x, y = SeriesBuilder("a"), SeriesBuilder("b")
    for lo in (0, 5):
        st = np.arange(lo, lo + 5, dtype=np.float64)
        ln = np.arange(lo + 1, lo + 6)
        x.extend(st, st * 2, ln)
        y.extend(st, st * 3, ln)
    x.compact(shared)
    y.compact(shared)
    assert x.steps is y.steps and x.lines is y.lines and x.values is not y.values
    assert y.values.tolist() == [3.0 * i for i in range(10)]
    x.reorder(np.arange(9, -1, -1))
    assert x.steps.tolist() == list(range(9, -1, -1)) and y.steps.tolist() == list(range(10))


def test_fast_path_series_share_steps_and_lines(tmp_path):
    lines = [f"iter {i}: loss {3 - i / 1e4:.4f}, time {50 + i % 3:.2f}ms, mfu {30 + i % 7 / 10:.2f}%" for i in range(6000)]
    part = read(write(tmp_path, "n.log", "\n".join(lines) + "\n"))
    loss, time_ = part.series["loss"], part.series["time"]
    assert len(loss) == 6000 and loss.steps is time_.steps and loss.lines is time_.lines
    assert loss.lines[-1] == 6000
