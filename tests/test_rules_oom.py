"""The out-of-memory rule: sizes from the traceback, fragmentation, and a batch size that would fit."""

from __future__ import annotations

from pathlib import Path

import traindx
from traindx.reasoning.rules.resources import batch_that_fits

OOM = (
    "Traceback (most recent call last):\n"
    '  File "train.py", line 88, in <module>\n'
    "    loss.backward()\n"
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 896.00 MiB. GPU 0 has a total capacity of 21.99 GiB "
    "of which 759.38 MiB is free. Including non-PyTorch memory, this process has 21.25 GiB memory in use. Of the allocated "
    "memory 20.52 GiB is allocated by PyTorch, and 102.08 MiB is reserved by PyTorch but unallocated.\n"
)


def test_batch_that_fits_scales_the_failed_batch() -> None:
    gib = 2**30
    assert batch_that_fits(16, {"allocated_by_pytorch": 20.5 * gib, "tried_to_allocate": 0.9 * gib, "total_capacity": 22 * gib}) == 8
    assert batch_that_fits(128, {"allocated_by_pytorch": 123 * gib, "tried_to_allocate": 15.6 * gib, "total_capacity": 139.8 * gib}) == 64
    assert batch_that_fits(1, {"allocated_by_pytorch": 20 * gib, "tried_to_allocate": gib, "total_capacity": 22 * gib}) is None
    assert batch_that_fits(16, {"tried_to_allocate": gib}) is None


def test_oom_with_a_config_names_the_key_and_a_batch(tmp_path: Path) -> None:
    (tmp_path / "stderr.log").write_text(OOM)
    (tmp_path / "config.yaml").write_text("per_device_train_batch_size: 16\nlearning_rate: 2.0e-4\n")
    d = traindx.diagnose([tmp_path])
    top = d.root_causes[0]
    assert top.id == "out_of_memory" and top.confidence >= 0.9
    assert "per_device_train_batch_size (now 16, config.yaml:1) to 8" in top.fix
    oom = next(s for s in d.symptoms if s.id == "oom_error")
    assert "tried to allocate 896.00 MiB" in oom.summary and oom.evidence[0].source == "stderr.log:4"


def test_fragmentation_points_at_the_allocator(tmp_path: Path) -> None:
    frag = OOM.replace("and 102.08 MiB is reserved", "and 1.50 GiB is reserved")
    (tmp_path / "stderr.log").write_text(frag)
    d = traindx.diagnose([tmp_path])
    assert "expandable_segments:True" in d.root_causes[0].fix


def test_fragmentation_only_when_the_reserved_memory_could_have_held_the_request(tmp_path: Path) -> None:
    # 600 MiB reserved but unused cannot hold an 896 MiB request: not fragmentation, the batch is the fix
    (tmp_path / "stderr.log").write_text(OOM.replace("and 102.08 MiB is reserved", "and 600.00 MiB is reserved"))
    (tmp_path / "config.yaml").write_text("per_device_train_batch_size: 16\n")
    d = traindx.diagnose([tmp_path])
    oom = next(s for s in d.symptoms if s.id == "oom_error")
    assert oom.data["fragmented"] is False and "fragmentation" not in oom.summary
    assert "expandable_segments" not in d.root_causes[0].fix and "to 8" in d.root_causes[0].fix
    # 1.5 GiB could: the allocator first, and the batch that fits still named for when that is not enough
    (tmp_path / "stderr.log").write_text(OOM.replace("and 102.08 MiB is reserved", "and 1.50 GiB is reserved"))
    fix = traindx.diagnose([tmp_path]).root_causes[0].fix
    assert fix.index("expandable_segments:True") < fix.index("per_device_train_batch_size (now 16, config.yaml:1) to 8")
