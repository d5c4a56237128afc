"""Matching reads the store in batches when it can, and says the same as one-by-one lookups."""

from __future__ import annotations

from pathlib import Path

from hullcheck.match import Matcher, match
from hullcheck.model import PackageType
from hullcheck.vulndb import VulnStore
from hullcheck.vulndb.model import KevEntry
from hullcheck.vulndb.store import AffectedRecord
from tests.match.support import BOOKWORM, inventory, pkg

PY, NPM, DEB = PackageType.PYTHON, PackageType.NPM, PackageType.DEB


class OneByOne:
    """A store with only the protocol's ``lookup`` and ``kev`` (no ``lookup_many``)."""

    def __init__(self, store: VulnStore) -> None:
        self.store = store
        self.lookups: list[tuple[str, str]] = []

    def lookup(self, ecosystem: str, name: str) -> tuple[AffectedRecord, ...]:
        self.lookups.append((ecosystem, name))
        return self.store.lookup(ecosystem, name)

    def kev(self, cve: str) -> KevEntry | None:
        return self.store.kev(cve)


PACKAGES = (
    pkg(PY, "requests", "2.19.0"), pkg(PY, "Requests", "2.19.0"), pkg(PY, "urllib3", "1.24.1"),
    pkg(PY, "requests", "2.31.0"), pkg(PY, "not-in-any-advisory", "1.0"),
    pkg(DEB, "libsope1", "5.8.0-1", source=("sope", "5.8.0-1")),
    pkg(DEB, "sudo", "1.9.5p1-1", source=("sudo", "1.9.5p1-1")),
    pkg(DEB, "libtiff6", "4.5.0-6+deb12u1", source=("tiff", "4.5.0-6+deb12u1")),
)


def test_batched_and_one_by_one_agree(match_db: Path) -> None:
    inv = inventory(*PACKAGES, distro=BOOKWORM)
    with VulnStore.open(match_db) as store:
        batched = match(inv, store)
    with VulnStore.open(match_db) as store:
        plain = OneByOne(store)
        single = match(inv, plain)
    assert batched == single
    assert {(f.package.name, f.id) for f in batched.findings} >= {
        ("requests", "CVE-2018-18074"), ("Requests", "CVE-2018-18074"),
        ("urllib3", "CVE-2019-11324"), ("libsope1", "CVE-2025-53603"),
        ("sudo", "CVE-2021-3156"), ("libtiff6", "CVE-2023-52356")}
    # one lookup per searched name: "Requests" and "requests" are separate names
    assert ("PyPI", "requests") in plain.lookups and len(plain.lookups) == len(
        set(plain.lookups))


def test_a_matcher_reuses_what_it_read(match_db: Path) -> None:
    inv = inventory(*PACKAGES, distro=BOOKWORM)
    with VulnStore.open(match_db) as store:
        plain = OneByOne(store)
        matcher = Matcher(plain)
        first = matcher.match(inv)
        asked = len(plain.lookups)
        assert matcher.match(inv) == first and len(plain.lookups) == asked
