"""Event signatures and traceback blocks, on messages as the tools print them."""

from __future__ import annotations

import pytest

from traindx.ingest.logevents import TracebackTracker, line_events, strip_rank, to_bytes

GiB = 2**30
MiB = 2**20


def one(text: str):
    found = line_events(text)
    assert len(found) == 1, found
    return found[0]


def test_plain_lines_state_nothing():
    for text in (
        "iter 120: loss 3.2100, time 45.20ms, mfu 31.2%",
        " iteration 20/ 1000 | lm loss: 1.203115E+01 | loss scale: 32768.0 | number of nan iterations:   0 |",
        "{'loss': 2.0491, 'learning_rate': 0.0001961913563176343, 'epoch': 0.28}",
        "Killing subprocess 7949",
        "",
    ):
        assert line_events(text) == []


def test_cuda_oom_torch_2_2_sizes_in_bytes():
    f = one(
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 6 has a total capacity of 94.97 GiB "
        "of which 1.21 GiB is free. Process 2203 has 93.75 GiB memory in use. Of the allocated memory 91.23 GiB is "
        "allocated by PyTorch, and 1.40 GiB is reserved by PyTorch but unallocated."
    )
    assert f.kind == "oom"
    d = f.data
    assert d["tried_to_allocate"] == 2 * GiB
    assert d["gpu"] == 6
    assert d["total_capacity"] == round(94.97 * GiB)
    assert d["free"] == round(1.21 * GiB)
    assert d["allocated_by_pytorch"] == round(91.23 * GiB)
    assert d["reserved_unallocated"] == round(1.40 * GiB)
    assert d["torch_generation"] == ">=2.2"


def test_cuda_oom_torch_2_1_misspelled_capacity():
    f = one(
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacty of "
        "11.17 GiB of which 11.81 MiB is free. Including non-PyTorch memory, this process has 11.15 GiB memory in use. "
        "Of the allocated memory 10.67 GiB is allocated by PyTorch, and 176.31 MiB is reserved by PyTorch but unallocated."
    )
    assert f.data["torch_generation"] == "2.1"
    assert f.data["tried_to_allocate"] == 20 * MiB
    assert f.data["process_in_use"] == round(11.15 * GiB)
    assert f.data["reserved_unallocated"] == round(176.31 * MiB)


def test_cuda_oom_torch_2_0_parenthesised_sizes():
    f = one(
        "RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 11.17 GiB total capacity; 10.67 GiB "
        "already allocated; 11.81 MiB free; 10.84 GiB reserved in total by PyTorch)"
    )
    d = f.data
    assert d["torch_generation"] == "<=2.0"
    assert d["allocated_by_pytorch"] == round(10.67 * GiB)
    assert d["reserved_by_pytorch"] == round(10.84 * GiB)
    assert d["reserved_unallocated"] == round(10.84 * GiB) - round(10.67 * GiB)
    assert d["free"] == round(11.81 * MiB)


def test_to_bytes_units():
    assert to_bytes("896.00", "MiB") == 896 * MiB
    assert to_bytes("0", "bytes") == 0
    assert to_bytes("1", "parsecs") is None


@pytest.mark.parametrize(
    "text, frm, to",
    [
        ("[2023-06-07 22:16:00,018] [INFO] [loss_scaler.py:181:update_scale] [deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 64, reducing to 32", 64.0, 32.0),
        ("[deepspeed] fp16 dynamic loss scale overflow! Rank 0 Skipping step. Attempted loss scale: 4294967296, reducing to 2147483648", 4294967296.0, 2147483648.0),
        ("[deepspeed] OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536, but hysteresis is 2. Reducing hysteresis to 1", 65536.0, 65536.0),
    ],
)
def test_deepspeed_overflow(text, frm, to):
    f = one(text)
    assert f.kind == "loss_scale_overflow"
    assert f.data["from"] == frm and f.data["to"] == to


def test_apex_and_fairseq_overflow_and_minimum():
    a = one("Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale to 1.52587890625e-05")
    assert a.kind == "loss_scale_overflow" and a.data["to"] == 1.52587890625e-05 and a.data["source"] == "apex"
    f = one("2021-03-08 12:32:40 | INFO | fairseq.trainer | NOTE: gradient overflow detected, ignoring gradient, setting loss scale to: 64.0")
    assert f.data == {"source": "fairseq", "to": 64.0}
    m = one("FloatingPointError: Minimum loss scale reached (0.0001). Your loss is probably exploding.")
    assert m.kind == "loss_scale_min" and m.data["min_scale"] == 0.0001
    assert one("Exception: Current loss scale already at minimum - cannot decrease scale anymore. Exiting run.").kind == "loss_scale_min"


def test_numerics_and_distributed():
    f = one("RuntimeError: Function 'DivBackward0' returned nan values in its 1th output.")
    assert f.kind == "nan_anomaly" and f.data == {"function": "DivBackward0", "output": 1}
    assert one("UserWarning: var(): degrees of freedom is <= 0. Correction should be strictly less").kind == "zero_variance"
    t = one(
        "[Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=6463, OpType=ALLREDUCE, NumelIn=1, "
        "NumelOut=1, Timeout(ms)=1800000) ran for 1800017 milliseconds before timing out."
    )
    assert t.kind == "nccl_timeout"
    assert t.data == {"rank": 1, "seq": 6463, "op_type": "ALLREDUCE", "numel_in": 1, "numel_out": 1, "timeout_ms": 1800000, "ran_ms": 1800017}
    g = one("RuntimeError: [/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 3000ms for recv operation to complete")
    assert g.kind == "gloo_timeout" and g.data == {"timeout_ms": 3000, "op": "recv"}
    n = one("ncclUnhandledCudaError: Call to CUDA function failed.")
    assert n.kind == "nccl_error" and n.data["code"] == "ncclUnhandledCudaError"


def test_dataloader_and_host_kills():
    d = one("RuntimeError: DataLoader worker (pid 3095) is killed by signal: Killed.")
    assert d.kind == "dataloader_crash" and d.data == {"pid": 3095, "signal": "Killed"}
    b = one("RuntimeError: DataLoader worker (pid 30882) is killed by signal: Bus error. It is possible that dataloader's workers are out of shared memory.")
    assert b.data["signal"] == "Bus error"
    assert one("ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).").kind == "shm_error"
    assert one("RuntimeError: DataLoader timed out after 1 seconds").data == {"seconds": 1}
    k = one("  traceback : Signal 9 (SIGKILL) received by PID 8158")
    assert k.kind == "killed" and k.data["pid"] == 8158 and k.data["signal"] == 9
    assert one("Killed").kind == "killed"
    assert one("train.sh: line 12: 12345 Killed                  python train.py").kind == "killed"
    assert one("Out of memory: Killed process 4242 (python)").data == {"pid": 4242, "oom": True}


def test_shape_dtype_index_autograd():
    assert one("RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x8 and 16x1)").data == {"what": "matmul", "a": "4x8", "b": "16x1"}
    s = one("RuntimeError: The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1")
    assert s.kind == "shape_error" and s.data["dim"] == 1
    assert one("RuntimeError: shape '[4]' is invalid for input of size 6").data["size"] == 6
    assert one("ValueError: Expected input batch_size (4) to match target batch_size (5).").data == {"what": "batch_size", "input": 4, "target": 5}
    assert one("RuntimeError: expected m1 and m2 to have the same dtype, but got: c10::BFloat16 != c10::Half").kind == "dtype_error"
    assert one("IndexError: Target 12 is out of bounds.").data == {"target": 12}
    assert one("IndexError: index out of range in self").kind == "index_error"
    a = one(
        "RuntimeError: one of the variables needed for gradient computation has been modified by an inplace operation: "
        "[torch.FloatTensor [3]], which is output 0 of ExpBackward0, is at version 1; expected version 0 instead."
    )
    assert a.kind == "autograd_error" and a.data["op"] == "ExpBackward0"
    assert one("RuntimeError: Trying to backward through the graph a second time").kind == "autograd_error"


def test_bookkeeping_events():
    c = one("saving checkpoint at iteration   33241 to /ckpt/tr1-13B/checkpoints")
    assert c.kind == "checkpoint" and c.data["checkpoint_step"] == 33241
    assert one("Saving model checkpoint to ./out/checkpoint-500").data["checkpoint_step"] == 500
    assert line_events("  successfully saved checkpoint at iteration   33241 to /ckpt") == []
    lr = one("Epoch     2: reducing learning rate of group 0 to 1.0000e-04.")
    assert lr.kind == "lr_change" and lr.data == {"group": 0, "lr": 1e-4}
    s = one("slurmstepd: error: *** JOB 1809579 ON r8i3n1 CANCELLED AT 2021-05-23T08:45:57 ***")
    assert s.kind == "run_status" and s.data["status"] == "cancelled" and s.data["source"] == "slurm"
    w = one("/x/train.py:218: FutureWarning: `torch.cuda.amp.GradScaler(args...)` is deprecated.")
    assert w.kind == "warning" and w.data["category"] == "FutureWarning"


def test_strip_rank():
    assert strip_rank("[rank6]: RuntimeError: boom") == ("RuntimeError: boom", 6)
    assert strip_rank("[default7]: iteration 5/ 10 |") == ("iteration 5/ 10 |", 7)
    assert strip_rank("[INFO] x") == ("[INFO] x", None)


def feed_all(lines: list[str]):
    tb = TracebackTracker()
    out = []
    inside = []
    for i, line in enumerate(lines, 1):
        ins, done = tb.feed(i, line)
        inside.append(ins)
        out.extend(done)
    out.extend(tb.close())
    return out, inside


def test_traceback_block_innermost_and_chain():
    lines = [
        "Traceback (most recent call last):",
        '  File "dataloader.py", line 1133, in _try_get_data',
        "    data = self._data_queue.get(timeout=timeout)",
        "RuntimeError: DataLoader worker (pid 3095) is killed by signal: Killed. ",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        '  File "train.py", line 40, in <module>',
        "RuntimeError: DataLoader worker (pid(s) 3095) exited unexpectedly",
        "iter 5: loss 1.0, time 1.0ms, mfu 1.0%",
    ]
    found, inside = feed_all(lines)
    assert len(found) == 1
    f = found[0]
    assert f.kind == "dataloader_crash" and f.line == 4 and f.data["pid"] == 3095
    assert f.data["chain"] == "RuntimeError -> RuntimeError"
    assert inside[:10] == [True] * 10 and inside[10] is False


def test_traceback_original_traceback_and_generic_exception():
    lines = [
        "Traceback (most recent call last):",
        '  File "train.py", line 41, in <module>',
        "ValueError: Caught ValueError in DataLoader worker process 1.",
        "Original Traceback (most recent call last):",
        '  File "dataset.py", line 12, in __getitem__',
        "ValueError: bad label -1",
        "Traceback (most recent call last):",
        '  File "train.py", line 9, in <module>',
        "KeyError: 'labels'",
    ]
    found, _ = feed_all(lines)
    assert [f.kind for f in found] == ["dataloader_crash", "exception"]
    assert found[1].data["exc_type"] == "KeyError" and found[1].line == 9


def test_truncated_traceback_still_reported():
    found, _ = feed_all(["Traceback (most recent call last):", '  File "train.py", l'])
    assert len(found) == 1 and found[0].kind == "exception" and found[0].line == 1


def test_repeated_lines_give_the_same_events():
    text = "/x/train.py:3: UserWarning: this overload is deprecated"
    a, b = line_events(text), line_events(text)
    assert a == b and a[0].kind == "warning" and a[0].data["category"] == "UserWarning"
    other = line_events(text.replace("UserWarning", "FutureWarning"))
    assert other[0].data["category"] == "FutureWarning" and a[0].data["category"] == "UserWarning"
    # the table of remembered lines stays bounded
    from traindx.ingest import logevents

    for i in range(logevents._CACHE_SIZE + 10):
        line_events(f"UserWarning: message {i}")
    assert len(logevents._cache) <= logevents._CACHE_SIZE
