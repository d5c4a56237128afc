"""deadline: one bound for a whole command, carried into threads."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hullcheck import deadline
from hullcheck.errors import DeadlineExceeded, UsageError


@pytest.mark.parametrize(("text", "seconds"), [("20s", 20), ("5m", 300), ("1h30m", 5400),
                                                ("500ms", 0.5), ("90", 90), ("1.5s", 1.5)])
def test_parse_duration(text: str, seconds: float):
    assert deadline.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-1s", "5x", "s", "5m garbage", "8d", "99999999h"])
def test_parse_duration_refuses(text: str):
    with pytest.raises(UsageError):
        deadline.parse_duration(text)


def test_no_deadline_means_no_limit():
    assert deadline.remaining() is None
    assert deadline.clamp(30.0) == 30.0
    deadline.check("anything")


def test_check_raises_once_passed():
    with deadline.within(0.01, "sbom img"):
        assert deadline.clamp(30.0) <= 0.01
        time.sleep(0.02)
        with pytest.raises(DeadlineExceeded, match=r"^sbom img: gave up after 0.01s .* while reading"):
            deadline.check("reading a layer")
    deadline.check("after the block")  # the deadline ended with its block


def test_inner_deadline_cannot_extend_outer():
    with deadline.within(1.0, "outer"), deadline.within(100.0, "inner"):
        left = deadline.remaining()
        assert left is not None and left <= 1.0


def test_carry_into_threads():
    with deadline.within(5.0, "outer"):
        fn = deadline.carry(deadline.remaining)
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda _: fn(), range(4)))
        plain = ThreadPoolExecutor(1).submit(deadline.remaining).result()
    assert all(r is not None and 0 < r <= 5.0 for r in results)
    assert plain is None  # without carry, a thread has no deadline
