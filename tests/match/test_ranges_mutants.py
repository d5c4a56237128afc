"""Range evaluation the interval model and the vectors left open, found by mutation testing
(``make mutate``): each test fails with a surviving mutant of ``match/ranges.py``."""

from __future__ import annotations

import pytest

from hullcheck.match.ranges import Hit, evaluate
from hullcheck.versions import key as vkey
from tests.match.test_ranges import IN, LA, F, L, aff


def check(a: object, version: str) -> Hit | None:
    return evaluate(a, version, lambda v: vkey("semver", v))  # type: ignore[arg-type]


def test_a_second_introduced_before_any_close_keeps_the_range_open() -> None:
    # OSV's walk: introduced 1.0.0 opened the range; introduced 5.0.0 is above 3.0.0 and ends
    # the walk, leaving it open (contains__mutmut_8 returned "not affected" there).
    a = aff((IN, "1.0.0"), (IN, "5.0.0"), (F, "6.0.0"))
    assert check(a, "3.0.0") == Hit(matched="introduced 1.0.0, introduced 5.0.0, fixed 6.0.0",
                                    fixed=("6.0.0",))
    assert check(a, "0.5.0") is None


def test_a_limit_is_not_a_fixed_version() -> None:
    hit = check(aff((IN, "0"), (L, "2.0.0")), "1.0.0")
    assert hit == Hit(matched="introduced 0, limit 2.0.0", fixed=())


@pytest.mark.parametrize("start", ["0", "0.5.0"], ids=["from-zero", "from-a-version"])
def test_last_affected_and_fixed_at_one_version_report_it(start: str) -> None:
    # A record that says both "1.0.0 is the last affected" and "fixed in 1.0.0": the walk
    # closes after it (last_affected before fixed at a tie), so 1.0.0 is reported.
    a = aff((IN, start), (F, "1.0.0"), (LA, "1.0.0"))
    assert check(a, "1.0.0") is not None
    assert check(a, "1.0.1") is None


def test_the_fix_offered_is_the_lowest_above_even_when_the_record_lists_it_last() -> None:
    # Two fixed versions in one range, highest first, and 10.0.0 < 9.0.0 as text.
    a = aff((IN, "9.5.0"), (F, "10.0.0"), (IN, "0"), (F, "9.0.0"))
    assert check(a, "1.0.0") == Hit(matched="introduced 9.5.0, fixed 10.0.0, introduced 0, "
                                            "fixed 9.0.0", fixed=("9.0.0",))
    assert check(a, "9.7.0") is not None and check(a, "9.7.0").fixed == ("10.0.0",)  # type: ignore[union-attr]


def test_a_listed_version_outside_the_ranges_is_affected_by_its_text() -> None:
    a = aff((IN, "5.0.0"), (F, "6.0.0"), versions=("1.0.0",))
    hit = check(a, "1.0.0")
    assert hit is not None and hit.matched == "version 1.0.0 listed"
    assert check(a, "2.0.0") is None
