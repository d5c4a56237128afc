"""Comparisons the public vectors did not pin down, found by mutation testing (``make mutate``):
each case below fails with one surviving mutant of ``versions/`` (named in the comment) and
states what the reference tool says."""

from __future__ import annotations

import pytest

from hullcheck.versions import SCHEMES, InvalidVersion, UnknownScheme, compare, scheme


@pytest.mark.parametrize("name, a, b, expected", [
    # dpkg --compare-versions 1.0a eq 1.0a0: a missing digit run counts as 0
    # (dpkg.x__part__mutmut_18 read it as 1).
    ("dpkg", "1.0a", "1.0a0", 0),
    ("dpkg", "1.0a", "1.0a1", -1),
    # Maven's ComparableVersion (maven-artifact 3.x, run by hand: "1-ga.1 > 1",
    # "1-ga.alpha < 1"): a release qualifier inside a list compares equal to padding, so the
    # item after it decides (maven.x__cmp_null__mutmut_8 and _9 decided at the qualifier).
    ("maven", "1-ga.1", "1", 1),
    ("maven", "1-ga.alpha", "1", -1),
    ("maven", "1-final.1", "1-ga", 1),
    # PHP's version_compare: any word that is not a special form is below "dev"
    # (packagist.x__word_order__mutmut_2 put it beside "alpha").
    ("packagist", "1.0-foo", "1.0-dev", -1),
    ("packagist", "1.0-foo", "1.0-alpha", -1),
])
def test_reference_order(name: str, a: str, b: str, expected: int) -> None:
    assert compare(name, a, b) == expected
    assert compare(name, b, a) == -expected
    assert SCHEMES[name].compare(a, b) == expected  # the Scheme method says the same


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_a_non_string_version_is_named_under_its_scheme(name: str) -> None:
    with pytest.raises(InvalidVersion) as exc:
        SCHEMES[name].key(5)  # type: ignore[arg-type]
    assert str(exc.value) == f"invalid {name} version '5': not a string"
    assert (exc.value.scheme, exc.value.version, exc.value.reason) == (name, "5", "not a string")
    assert exc.value.hint == InvalidVersion.default_hint


def test_an_invalid_version_keeps_the_hint_it_was_given() -> None:
    err = InvalidVersion("dpkg", "x y", "contains whitespace", hint="quote it")
    assert err.hint == "quote it"


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(UnknownScheme) as exc:
        scheme("cobol")
    assert exc.value.name == "cobol"
    assert str(exc.value) == "unknown version scheme 'cobol'"
    assert exc.value.hint == "known schemes: " + ", ".join(SCHEMES)
    with pytest.raises(UnknownScheme):
        compare("cobol", "1", "2")


@pytest.mark.parametrize("name", sorted(SCHEMES))
@pytest.mark.parametrize("text, shown, reason", [
    ("", "''", "empty"),
    ("1.0 ", "'1.0 '", "contains whitespace or control characters"),
    ("1.0\x1b[2J", "'1.0\\x1b[2J'", "contains whitespace or control characters"),
], ids=["empty", "space", "escape"])
def test_text_no_scheme_reads_says_why(name: str, text: str, shown: str, reason: str) -> None:
    with pytest.raises(InvalidVersion) as exc:
        SCHEMES[name].key(text)
    assert str(exc.value) == f"invalid {name} version {shown}: {reason}"
    assert exc.value.reason == reason


def test_maven_keys_hash_by_their_value() -> None:
    # Equal versions hash alike and different ones apart: the matcher keeps (key, text) sets
    # of fixed versions (maven.xǁMavenKeyǁ__hash____mutmut_1 hashed every key alike, which
    # keeps sets right but turns each into a linear scan).
    distinct = [SCHEMES["maven"].key(v) for v in ("1.0", "1.0.1", "2", "1-alpha", "1-sp", "1.0-1")]
    assert len({hash(k) for k in distinct}) == len(distinct)
    same = [SCHEMES["maven"].key(v) for v in ("1", "1.0", "1-ga", "1.0.0-final")]
    assert len({hash(k) for k in same}) == 1 and len(set(same)) == 1
