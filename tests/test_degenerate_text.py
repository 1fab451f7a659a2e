"""Degenerate generated text quoted in logs becomes an event; banners, bars, hashes and tensors do not."""

from __future__ import annotations

import pytest

from traindx.ingest.logevents import line_events


@pytest.mark.parametrize(
    "line, token",
    [
        ('the response of the model are: "' + "!" * 80 + '", always many "!".', "!"),
        ("assistant<end header idl>ininIt It ItIt It It It It It It It It It It It It It It It It It", "It"),
        ("sample at step 900: " + ":" * 40, ":"),
    ],
)
def test_degenerate_text_is_an_event(line: str, token: str) -> None:
    (f,) = line_events(line)
    assert f.kind == "degenerate_text" and f.data["token"] == token


@pytest.mark.parametrize(
    "line",
    [
        "!" * 80,  # a banner
        "=" * 60 + " epoch 3 " + "=" * 60,
        " 40%|████████████████████████████████████      | 200/500 [01:23<02:05,  2.40it/s, loss=0.123]",
        "commit deadbeefdeadbeefdeadbeefdeadbeefdeadbeef ffffffffffffffffffffffffffffffffffff",
        "tensor([nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan])",
        "tensor([0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.])",
        "the the the quick brown fox",
    ],
)
def test_ordinary_lines_are_not_degenerate_text(line: str) -> None:
    assert all(f.kind != "degenerate_text" for f in line_events(line))
