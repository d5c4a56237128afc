"""Range evaluation the interval model and the vectors left open, found by mutation testing
(``make mutate``): each test fails with a surviving mutant of ``match/ranges.py``."""

from __future__ import annotations

import pytest

from hullcheck.match.ranges import Hit, Unevaluable, evaluate
from hullcheck.versions import key as vkey
from hullcheck.vulndb.model import Affected, Event, Range, RangeType
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


def test_every_range_that_holds_the_version_is_named_and_each_gives_its_fix() -> None:
    a = Affected(ecosystem="npm", package="x", ranges=(
        Range(type=RangeType.SEMVER, events=(Event(kind=IN, value="0"), Event(kind=F, value="2.0.0"))),
        Range(type=RangeType.SEMVER, events=(Event(kind=IN, value="1.0.0"), Event(kind=F, value="3.0.0"))),
    ))
    assert check(a, "1.5.0") == Hit(
        matched="introduced 0, fixed 2.0.0; introduced 1.0.0, fixed 3.0.0", fixed=("2.0.0", "3.0.0"))


def test_a_listed_version_is_offered_the_lowest_fix_above_it_never_itself() -> None:
    a = Affected(ecosystem="npm", package="x", versions=("1.0.0", "6.0.0"), ranges=(
        Range(type=RangeType.SEMVER, events=(Event(kind=IN, value="5.0.0"), Event(kind=F, value="6.0.0"))),
        Range(type=RangeType.SEMVER, events=(Event(kind=IN, value="7.0.0"), Event(kind=F, value="8.0.0"))),
    ))
    assert check(a, "1.0.0") == Hit(matched="version 1.0.0 listed", fixed=("6.0.0",))
    # Listed although a range says it is fixed: reported (listed), with the next fix above.
    assert check(a, "6.0.0") == Hit(matched="version 6.0.0 listed", fixed=("8.0.0",))


def test_when_no_range_is_readable_listed_versions_match_by_key_and_name_the_listed_text() -> None:
    # PyPI: 1.0 == 1.0.0. The range cannot be read, so the versions list decides.
    a = Affected(ecosystem="PyPI", package="x", versions=("0.9", "1.0"), ranges=(
        Range(type=RangeType.ECOSYSTEM, events=(Event(kind=IN, value="0"),
                                                Event(kind=F, value="not a version"))),))
    hit = evaluate(a, "1.0.0", lambda v: vkey("pep440", v))
    assert hit == Hit(matched="version 1.0 listed", fixed=())
    with pytest.raises(Unevaluable, match="fixed version 'not a version' is not readable"):
        evaluate(a, "2.0", lambda v: vkey("pep440", v))


def _semver_ranges(*pairs: tuple[str, str], versions: tuple[str, ...] = (),
                   ecosystem: str = "npm") -> Affected:
    """One range per (introduced, fixed) pair."""
    return Affected(ecosystem=ecosystem, package="x", versions=versions, ranges=tuple(
        Range(type=RangeType.ECOSYSTEM, events=(Event(kind=IN, value=i), Event(kind=F, value=f)))
        for i, f in pairs))


def test_a_listed_version_is_offered_the_lowest_fix_by_version_not_by_text() -> None:
    # "10.0.0" < "9.0.0" as text (compile_affected__mutmut_14 sorted the fixes by their text).
    a = _semver_ranges(("9.5.0", "10.0.0"), ("5.0.0", "9.0.0"), versions=("1.0.0",))
    assert check(a, "1.0.0") == Hit(matched="version 1.0.0 listed", fixed=("9.0.0",))


def test_of_two_spellings_of_one_fix_the_record_s_first_is_offered_whatever_the_hash_seed() -> None:
    # Maven: these all name version 2. The entry's fixes were deduplicated through a set, so
    # which spelling a listed version was offered changed with PYTHONHASHSEED from run to run.
    # Each order of the record is tried: a set's order cannot follow them all.
    spellings = ("2.0-final", "2", "2.0", "2.0.0", "2-ga", "2-release", "2.0.0-ga", "2.0.0.0")
    for n in range(len(spellings)):
        record = spellings[n:] + spellings[:n]
        a = Affected(ecosystem="Maven", package="x", versions=("1",), ranges=tuple(
            Range(type=RangeType.ECOSYSTEM, events=(Event(kind=IN, value="5"),
                                                    Event(kind=F, value=s)))
            for s in record))
        assert evaluate(a, "1", lambda v: vkey("maven", v)) == Hit(matched="version 1 listed",
                                                                   fixed=(record[0],))


def test_with_a_readable_range_a_listed_version_matches_by_its_text_only() -> None:
    # PyPI: 1.0 == 1.0.0. The range is readable and says 1.0.0 is not affected; the record
    # lists "1.0" (the versions its ranges cover, as the record's source wrote them), so
    # "1.0.0" installed is not a listed version (CompiledAffected.__init__ mutmut_10 and _14
    # matched listed versions by key even then).
    a = _semver_ranges(("2.0", "3.0"), versions=("1.0",), ecosystem="PyPI")
    assert evaluate(a, "1.0.0", lambda v: vkey("pep440", v)) is None
    assert evaluate(a, "1.0", lambda v: vkey("pep440", v)) == Hit(matched="version 1.0 listed",
                                                                  fixed=("3.0",))


def test_range_versions_whose_keys_cannot_be_ordered_make_the_range_unevaluable() -> None:
    # A key function whose keys do not compare (an int and a str) is refused, never guessed:
    # the range cannot be evaluated, and the record says why.
    def mixed(v: str) -> object:
        return int(v) if v.isdigit() else v

    a = Affected(ecosystem="npm", package="x", ranges=(Range(type=RangeType.ECOSYSTEM, events=(
        Event(kind=IN, value="1"), Event(kind=F, value="b"), Event(kind=F, value="c"))),))
    with pytest.raises(Unevaluable, match=r"^range versions cannot be ordered$"):
        evaluate(a, "2", mixed)


def test_within_one_range_the_record_s_first_spelling_of_a_fix_is_offered() -> None:
    # compile_range__mutmut_48 sorted (key, text) pairs: equal keys then went by text.
    spellings = ("2.0-final", "2", "2.0")
    for n in range(len(spellings)):
        record = spellings[n:] + spellings[:n]
        a = Affected(ecosystem="Maven", package="x", ranges=(Range(
            type=RangeType.ECOSYSTEM,
            events=(Event(kind=IN, value="0"), *(Event(kind=F, value=s) for s in record))),))
        hit = evaluate(a, "1", lambda v: vkey("maven", v))
        assert hit is not None and hit.fixed == (record[0],)
