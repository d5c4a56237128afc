"""Order laws for every scheme (hypothesis): reflexive, antisymmetric, transitive, and
``key`` consistent with ``compare`` (equal versions have equal, equally hashed keys)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hullcheck.versions import SCHEMES, compare, key
from tests.conftest import MUTATING

_SEMVER = (
    r"(0|[1-9][0-9]?)\.(0|[1-9])\.(0|[1-9][0-9]?)"
    r"(-(0|[1-9][0-9]?|[a-zA-Z-][a-zA-Z0-9-]{0,3})(\.(0|[1-9]|[a-zA-Z-]{1,3})){0,2})?"
    r"(\+[a-z0-9]{1,3})?"
)
PATTERNS: dict[str, str] = {
    "dpkg": r"([0-9]{1,2}:)?[0-9][0-9a-zA-Z.+~]{0,6}(-[0-9a-zA-Z.+~]{1,5})?",
    "apk": r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}[a-z]?"
    r"(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]{0,2}){0,2}(~[0-9a-f]{1,4})?(-r[0-9]{1,2})?",
    "rpm": r"([0-9]{0,2}:)?[0-9a-zA-Z.^~_+]{1,8}(-[0-9a-zA-Z.^~_]{0,5})?",
    "pep440": r"([0-9]!)?[0-9]{1,2}(\.[0-9]{1,2}){0,3}((a|b|rc)[0-9])?(\.post[0-9])?(\.dev[0-9])?"
    r"(\+[a-z0-9]{1,3}(\.[a-z0-9]{1,3})?)?",
    "semver": r"v?" + _SEMVER,
    "go": r"v?(0|[1-9][0-9]?)(\.(0|[1-9]))?|v?" + _SEMVER + r"|v0\.0\.0-20[0-9]{12}-[0-9a-f]{12}",
    # Maven's ComparableVersion is not transitive for versions that start with a qualifier
    # (0 < a < 0a0 < 0, in Maven itself too); real versions start with a number.
    "maven": r"[0-9][0-9a-zA-Z]{0,2}([.-][0-9a-zA-Z]{0,4}){0,4}",
    "rubygems": r"[0-9]{1,2}(\.([0-9]{1,2}|[a-zA-Z]{1,3})){0,4}(-[0-9a-z]{1,3})?",
    "nuget": r"[0-9]{1,2}(\.[0-9]{1,2}){0,3}(-[0-9A-Za-z]{1,3}(\.[0-9A-Za-z]{1,3}){0,2})?"
    r"(\+[a-z]{1,2})?",
    "packagist": r"[vV]?[0-9]{1,2}(\.[0-9]{1,2}){0,3}"
    r"([-_.+]?(dev|alpha|a|beta|b|RC|rc|pl|p|patch|stable|foo)[0-9]?)?|dev-[a-z]{1,5}",
}


def versions(scheme: str) -> st.SearchStrategy[str]:
    pattern = rf"\A(?:{PATTERNS[scheme]})\Z"
    return st.from_regex(pattern).filter(SCHEMES[scheme].is_valid)


def test_every_scheme_has_a_strategy() -> None:
    assert set(PATTERNS) == set(SCHEMES)


# Under mutmut these run for every mutant that survives the vectors: fewer examples there.
_SETTINGS = settings(
    max_examples=30 if MUTATING else 150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@pytest.mark.parametrize("scheme", sorted(PATTERNS))
@_SETTINGS
@given(data=st.data())
def test_order_laws(scheme: str, data: st.DataObject) -> None:
    vs = versions(scheme)
    a, b, c = data.draw(vs), data.draw(vs), data.draw(vs)
    assert compare(scheme, a, a) == 0
    ab, bc, ac = compare(scheme, a, b), compare(scheme, b, c), compare(scheme, a, c)
    assert compare(scheme, b, a) == -ab
    if ab <= 0 and bc <= 0:
        assert ac <= 0, (a, b, c)
    if ab == 0 and bc == 0:
        assert ac == 0, (a, b, c)
    ka, kb = key(scheme, a), key(scheme, b)
    assert ((ka > kb) - (ka < kb)) == ab
    assert (ka == kb) == (ab == 0)
    if ab == 0:
        assert hash(ka) == hash(kb), (a, b)


@pytest.mark.parametrize("scheme", sorted(PATTERNS))
@_SETTINGS
@given(data=st.data())
def test_sorting_by_key_agrees_with_compare(scheme: str, data: st.DataObject) -> None:
    vs = data.draw(st.lists(versions(scheme), min_size=2, max_size=8))
    ordered = sorted(vs, key=lambda v: key(scheme, v))
    for x, y in itertools.pairwise(ordered):
        assert compare(scheme, x, y) <= 0, (x, y)
