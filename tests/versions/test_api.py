"""The public surface: registry, errors, and the decisions each scheme documents."""

from __future__ import annotations

import pytest

from hullcheck.ecosystem import ECOSYSTEMS
from hullcheck.errors import FormatError
from hullcheck.versions import SCHEMES, InvalidVersion, UnknownScheme, compare, is_valid, key


def test_registry_covers_every_ecosystem_scheme() -> None:
    wanted = {e.version_scheme for e in ECOSYSTEMS.values() if e.version_scheme}
    assert wanted <= set(SCHEMES)
    assert all(name == s.name for name, s in SCHEMES.items())


def test_unknown_scheme_is_a_clear_format_error() -> None:
    with pytest.raises(UnknownScheme, match="unknown version scheme 'cran'") as info:
        compare("cran", "1", "2")
    assert isinstance(info.value, FormatError)
    assert not isinstance(info.value, KeyError)
    assert "dpkg" in info.value.hint
    with pytest.raises(UnknownScheme):
        key("", "1")


@pytest.mark.parametrize(
    ("scheme", "version"),
    [
        ("dpkg", "abc"),  # upstream must start with a digit
        ("dpkg", "1.0-"),  # empty revision
        ("dpkg", "a:1.0"),  # non-numeric epoch
        ("dpkg", "1.0_1"),  # '_' not allowed
        ("apk", "1.0-r"),
        ("apk", "1.0_foo1"),
        ("pep440", "1.0-bulbasaur"),
        ("semver", "1.2"),
        ("semver", "=1.2.3"),
        ("semver", "1.2.3-01"),
        ("go", "v1.2-pre"),
        ("go", "v01.2.3"),
        ("nuget", "v1.0.0"),
        ("nuget", "1.2.3.4.5"),
        ("rubygems", "1..2"),
        ("packagist", "1.0 beta"),
        ("rpm", ""),
        ("maven", " 1.0"),
    ],
)
def test_invalid_versions_raise_never_guess(scheme: str, version: str) -> None:
    with pytest.raises(InvalidVersion, match=f"invalid {scheme} version") as info:
        key(scheme, version)
    assert isinstance(info.value, FormatError)
    assert info.value.scheme == scheme and info.value.version == version
    assert not is_valid(scheme, version)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("scheme", "a", "b", "want"),
    [
        ("dpkg", "1.2.3-1~deb12u1", "1.2.3-1", -1),
        ("dpkg", "1:0.9", "2.0", 1),
        ("dpkg", "1.0", "1.0-0", 0),
        ("apk", "1.2_rc1-r0", "1.2-r0", -1),
        ("apk", "1.2_p1-r0", "1.2-r0", 1),
        ("apk", "1.2-r10", "1.2-r9", 1),
        ("apk", "1.02", "1.1", -1),
        ("rpm", "1.0~rc1-1.el9", "1.0-1.el9", -1),
        ("rpm", "1.0^git1-1", "1.0-1", 1),
        ("rpm", "1:1.0-1", "2.0-1", 1),
        ("rpm", "1.0", "1.0-1", -1),
        ("semver", "1.0.0-rc.1", "1.0.0", -1),
        ("semver", "v1.0.0+build.1", "1.0.0+build.2", 0),
        ("go", "v1.2.3", "1.2.3", 0),
        ("go", "v2.0.0+incompatible", "v2.0.0", 0),
        ("go", "v0.0.0-20191109021931-daa7c04131f5", "v0.0.0", -1),
        ("go", "v1.2.4-0.20191109021931-daa7c04131f5", "v1.2.3", 1),
        ("go", "v1.2", "v1.2.0", 0),
        ("maven", "1.0-alpha-1", "1.0-beta-1", -1),
        ("maven", "1.0-SNAPSHOT", "1.0", -1),
        ("maven", "1.0-RC1", "1.0-cr1", 0),
        ("maven", "1.0", "1.0-sp1", -1),
        ("maven", "1.0.Final", "1.0", 0),
        ("rubygems", "1.0.0.pre", "1.0.0", -1),
        ("rubygems", "1.0-rc1", "1.0.pre.rc1", 0),
        ("nuget", "1.0.0-BETA", "1.0.0-beta", 0),
        ("nuget", "1.0.0.1", "1.0.0", 1),
        ("packagist", "1.0.0-beta2", "1.0.0-RC1", -1),
        ("packagist", "v2.0.0", "2.0.0", 0),
        ("packagist", "1.0-patch1", "1.0", 1),
        ("packagist", "dev-main", "0.0.1", -1),
        ("pep440", "1.0.post1", "1.0", 1),
    ],
)
def test_documented_orderings(scheme: str, a: str, b: str, want: int) -> None:
    assert compare(scheme, a, b) == want
    assert compare(scheme, b, a) == -want


def test_keys_sort_a_mixed_list() -> None:
    vs = ["1.10-1", "1.9-1", "1.9-1~bpo1", "1:0.1-1", "1.9-1+b1"]
    assert sorted(vs, key=lambda v: key("dpkg", v)) == [
        "1.9-1~bpo1", "1.9-1", "1.9-1+b1", "1.10-1", "1:0.1-1",
    ]  # fmt: skip
