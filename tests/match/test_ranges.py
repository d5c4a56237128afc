"""OSV range evaluation: the spec's walk over sorted events, against an interval model."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hullcheck.match.ranges import Unevaluable, evaluate
from hullcheck.versions import key as vkey
from hullcheck.vulndb.model import Affected, Event, EventKind, Range, RangeType

IN, F, L, LA = EventKind.INTRODUCED, EventKind.FIXED, EventKind.LIMIT, EventKind.LAST_AFFECTED


def aff(*events: tuple[EventKind, str], rtype: RangeType = RangeType.SEMVER,
        versions: tuple[str, ...] = ()) -> Affected:
    return Affected(ecosystem="npm", package="x", versions=versions,
                    ranges=(Range(type=rtype, events=tuple(Event(kind=k, value=v)
                                                           for k, v in events)),))


def hit(a: Affected, version: str, scheme: str = "semver") -> bool:
    return evaluate(a, version, lambda v: vkey(scheme, v)) is not None


def test_events_out_of_record_order_are_sorted() -> None:
    a = aff((F, "1.5.0"), (IN, "2.0.0"), (F, "2.3.0"), (IN, "1.0.0"))
    assert [hit(a, v) for v in ("0.9.0", "1.0.0", "1.4.9", "1.5.0", "1.9.0", "2.0.0", "2.2.9",
                                "2.3.0")] == [False, True, True, False, False, True, True, False]


def test_fixed_version_is_the_lowest_above_installed() -> None:
    a = aff((IN, "1.0.0"), (F, "1.5.0"), (IN, "2.0.0"), (F, "2.3.0"))
    assert evaluate(a, "2.1.0", lambda v: vkey("semver", v)).fixed == ("2.3.0",)  # type: ignore[union-attr]
    assert evaluate(a, "1.1.0", lambda v: vkey("semver", v)).fixed == ("1.5.0",)  # type: ignore[union-attr]


def test_last_affected_inclusive_and_limit_exclusive() -> None:
    a = aff((IN, "0"), (LA, "1.2.0"))
    assert hit(a, "1.2.0") and not hit(a, "1.2.1")
    assert evaluate(a, "1.0.0", lambda v: vkey("semver", v)).fixed == ()  # type: ignore[union-attr]
    b = aff((IN, "1.0.0"), (L, "2.0.0"))
    assert hit(b, "1.9.9") and not hit(b, "2.0.0")


def test_introduced_and_fixed_at_the_same_version_cover_nothing() -> None:
    a = aff((IN, "1.0.0"), (F, "1.0.0"))
    assert not hit(a, "1.0.0") and not hit(a, "0.1.0")


def test_go_versions_with_and_without_v() -> None:
    a = aff((IN, "0"), (F, "1.6.0"))
    assert hit(a, "v1.5.0", "go") and not hit(a, "v1.6.0", "go") and hit(a, "1.5.0", "go")


def test_unreadable_event_is_unevaluable_unless_listed() -> None:
    a = aff((IN, "0"), (F, "not-a-version"))
    with pytest.raises(Unevaluable, match="not-a-version"):
        hit(a, "1.0.0")
    listed = aff((IN, "0"), (F, "not-a-version"), versions=("1.0.0",))
    assert hit(listed, "1.0.0")


def test_git_ranges_are_not_evaluated_against_versions() -> None:
    a = aff((IN, "0"), (F, "c45d7c49ea75133e52ab22a8e9e13173938e36ff"), rtype=RangeType.GIT)
    assert not hit(a, "1.0.0")


_V = st.tuples(st.integers(0, 6), st.integers(0, 3)).map(lambda t: f"{t[0]}.{t[1]}.0")


@given(st.lists(_V, min_size=1, max_size=6, unique=True), _V, st.randoms())
def test_matches_the_interval_model(points: list[str], version: str, rnd) -> None:
    """Sorted distinct points alternate introduced/fixed; shuffled in the record, the walk
    agrees with 'inside some [introduced, fixed) interval'."""
    points.sort(key=lambda v: vkey("semver", v))
    kinds = [IN if i % 2 == 0 else F for i in range(len(points))]
    events = list(zip(kinds, points, strict=True))
    rnd.shuffle(events)
    k = vkey("semver", version)
    inside = any(
        vkey("semver", points[i]) <= k
        and (i + 1 >= len(points) or k < vkey("semver", points[i + 1]))
        for i in range(0, len(points), 2)
    )
    assert hit(aff(*events), version) is inside
