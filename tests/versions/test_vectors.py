"""Public comparison vectors (osv-scalibr, osv.dev): every line holds, or is listed as refused."""

from __future__ import annotations

import pytest
from packaging.version import InvalidVersion as PackagingInvalid
from packaging.version import Version

from hullcheck.versions import InvalidVersion, compare, is_valid
from tests.versions._vectors import (
    FILES,
    OPS,
    expected_invalid,
    expected_wrong,
    vectors,
    version_list,
)

INVALID = expected_invalid()
WRONG = expected_wrong()


def _refused(scheme: str, v: str) -> bool:
    if scheme == "pep440":  # the rule, not a list: refused exactly when packaging refuses
        try:
            Version(v)
        except PackagingInvalid:
            return True
        return False
    return (scheme, v) in INVALID


@pytest.mark.parametrize("scheme", sorted(FILES))
def test_vectors(scheme: str) -> None:
    cases = vectors(scheme)
    assert len(cases) >= 30, "vector files went missing"
    failures = []
    refused = 0
    for c in cases:
        if _refused(scheme, c.a) or _refused(scheme, c.b):
            refused += 1
            with pytest.raises(InvalidVersion):
                compare(scheme, c.a, c.b)
            continue
        if (scheme, c.line) in WRONG:
            assert compare(scheme, c.a, c.b) != OPS[c.op], f"{c.line} passes now: unlist it"
            continue
        try:
            got = compare(scheme, c.a, c.b)
        except InvalidVersion as e:
            failures.append(f"{c.file}:{c.lineno}: {c.line}: refused ({e.reason})")
            continue
        if got != OPS[c.op]:
            failures.append(f"{c.file}:{c.lineno}: {c.line}: got {got}")
    assert not failures, "\n".join(failures[:50])
    # Refusals stay the exception, not the way vectors are made to pass.
    assert refused <= max(45, len(cases) // 100)


def test_expected_lists_are_used() -> None:
    """Every listed refusal names a version that occurs in some vector (no stale entries)."""
    seen = {(s, v) for s in FILES for c in vectors(s) for v in (c.a, c.b)}
    seen |= {("apk", v) for v in version_list("osv.dev/alpine-valid-versions.txt")}
    assert INVALID - seen == set()
    assert {(s, line) for s, line in WRONG} <= {(s, c.line) for s in FILES for c in vectors(s)}


def test_alpine_valid_versions() -> None:
    versions = version_list("osv.dev/alpine-valid-versions.txt")
    assert len(versions) > 150
    for v in versions:
        assert is_valid("apk", v) is not (("apk", v) in INVALID), v


def test_alpine_invalid_versions() -> None:
    versions = version_list("osv.dev/alpine-invalid-versions.txt")
    assert len(versions) >= 10
    for v in versions:
        with pytest.raises(InvalidVersion, match="invalid apk version"):
            compare("apk", v, "1.0-r0")
