"""Who owns which file: the packages' paths resolved to their canonical place (a merged /usr's
``/bin -> usr/bin``) a directory at a time, as each path alone resolves."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.catalog import _apply_ownership, _Resolver
from hullcheck.filetree import View
from hullcheck.image.writer import file, symlink
from hullcheck.model import Location, Package, PackageType, RelationshipType
from tests.fixtures.images import tree_of

PATHS = ["/bin/a", "/bin/b", "/usr/bin/a", "/usr/lib/x/c", "/usr/lib/x/d", "/lib/x/c",
         "/nowhere/e", "/etc/", "rel", "/", "/loop/f", "/bin/../lib/x/c"]


@pytest.fixture
def view(tmp_path: Path) -> View:
    layer = [symlink("bin", "usr/bin"), symlink("lib", "usr/lib"), symlink("loop", "loop"),
             file("usr/bin/a", "a"), file("usr/bin/b", "b"), file("usr/lib/x/c", "c"),
             file("etc/e", "e")]
    return tree_of(tmp_path, layer).view()


def _package(kind: PackageType, name: str, evidence: str, files: tuple[str, ...]) -> Package:
    return Package(type=kind, name=name, version="1", purl=f"pkg:{kind.value}/{name}@1",
                   found_by="test", locations=(Location(path=evidence),), files=files)


def test_many_gives_what_each_path_alone_gives(view: View) -> None:
    alone = [_Resolver(view)(path) for path in PATHS]
    assert alone[:6] == ["/usr/bin/a", "/usr/bin/b", "/usr/bin/a", "/usr/lib/x/c",
                         "/usr/lib/x/d", "/usr/lib/x/c"]
    resolver = _Resolver(view)
    assert resolver.many(PATHS) == alone
    assert resolver.many(PATHS) == alone  # again, every directory known now
    assert resolver.many([]) == []


def test_ownership_resolves_a_directory_once_not_each_file(
        view: View, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    one_by_one = _Resolver.__call__

    def counted(self: _Resolver, path: str) -> str:
        calls.append(path)
        return one_by_one(self, path)

    monkeypatch.setattr(_Resolver, "__call__", counted)
    files = tuple(f"/usr/lib/x/f{i}" for i in range(200))
    deb = _package(PackageType.DEB, "libx", "/var/lib/dpkg/status", (*files, "/bin/a"))
    wheel = _package(PackageType.PYTHON, "a", "/bin/a", ("/lib/x/c", "/usr/lib/x/f7"))
    kept, relationships, owned = _apply_ownership([deb, wheel], view)
    # One call for each directory met first (and for each file of a directory that is not
    # its own canonical path), not one per file: 200 files of /usr/lib/x made 200 before.
    assert len(calls) <= 6
    assert owned == {*files, "/usr/bin/a", "/usr/lib/x/c"}
    assert kept[1].owned_by == deb.purl  # its evidence /bin/a is /usr/bin/a, the deb's
    assert [(r.source, r.target, r.type) for r in relationships] == [
        (wheel.purl, deb.purl, RelationshipType.OWNED_BY)]


def test_a_file_two_packages_own_is_the_first_ones(view: View) -> None:
    first = _package(PackageType.DEB, "one", "/var/lib/dpkg/status", ("/bin/a", "/bin/b"))
    second = _package(PackageType.DEB, "two", "/var/lib/dpkg/status", ("/usr/bin/a",))
    wheel = _package(PackageType.PYTHON, "w", "/usr/bin/a", ())
    kept, _, _ = _apply_ownership([first, second, wheel], view)
    assert kept[2].owned_by == first.purl
