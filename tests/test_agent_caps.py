"""Size caps: results over the cap are shortened, longest lists first, and the cut is described."""

from __future__ import annotations

from traindx.agent import caps


def test_fit_leaves_a_small_result_alone() -> None:
    obj = {"a": [1, 2, 3], "b": "x"}
    assert caps.fit(obj, 1000) == []
    assert obj == {"a": [1, 2, 3], "b": "x"}


def test_fit_halves_the_longest_lists_until_it_fits() -> None:
    obj = {"big": list(range(5000)), "small": list(range(10)), "nested": {"rows": [{"v": i} for i in range(300)]}}
    notes = caps.fit(obj, 4000)
    assert caps.json_size(obj) <= 4000
    assert len(obj["small"]) == 10  # never the biggest, never cut
    assert any(n.startswith("big: 5000 -> ") for n in notes)
    assert len(obj["big"]) < 5000 and obj["big"][:5] == [0, 1, 2, 3, 4]  # the head is kept
