"""javascript-yarn-lock and javascript-pnpm-lock on real-format lock files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hullcheck.catalog.javascript_locks import PnpmLockCataloger, YarnLockCataloger, pnpm_key
from hullcheck.catalog.npm import NpmPackageCataloger
from hullcheck.model import Inventory, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer

CATS = (YarnLockCataloger(), PnpmLockCataloger())


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def by_purl(inv: Inventory) -> dict[str, dict[str, str]]:
    return {p.purl: dict(p.extras) for p in inv.packages}


def test_yarn_v1(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("js/yarn1"))
    assert inv.unknowns == ()
    got = by_purl(inv)
    # git and file: entries are not registry packages; the alias installs string-width.
    assert sorted(got) == ["pkg:npm/%40babel/code-frame@7.22.13", "pkg:npm/chalk@2.4.2",
                           "pkg:npm/lodash@4.17.21", "pkg:npm/string-width@4.2.3"]
    lodash = got["pkg:npm/lodash@4.17.21"]
    assert lodash["declared"] == "true" and lodash["lockfile-version"] == "1"
    assert lodash["integrity"].startswith("sha512-v2kDEe57")
    assert lodash["resolved"].startswith("https://registry.yarnpkg.com/lodash/-/lodash-4.17.21")
    (p,) = [p for p in inv.packages if p.name == "chalk"]
    assert p.found_by == "javascript-yarn-lock" and p.locations[0].path == "/srv/web/yarn.lock"


def test_yarn_berry(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("js/berry"))
    assert inv.unknowns == ()
    got = by_purl(inv)
    # The workspace itself and the patch: copy of fsevents are not reported.
    assert sorted(got) == ["pkg:npm/%40types/node@20.10.5", "pkg:npm/fsevents@2.3.3",
                           "pkg:npm/semver@7.5.4"]
    assert got["pkg:npm/semver@7.5.4"]["lockfile-version"] == "berry-6"
    assert got["pkg:npm/fsevents@2.3.3"]["checksum"].startswith("11e6ea6f")


def test_pnpm_v5_v6_v9(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("js/pnpm"))
    assert inv.unknowns == ()
    found = {(p.locations[0].path.split("/")[2], p.name, p.version): dict(p.extras)
             for p in inv.packages}
    assert sorted(found) == [
        ("v5", "js-tokens", "4.0.0"), ("v5", "loose-envify", "1.4.0"),
        ("v5", "react", "18.2.0"), ("v5", "react-dom", "18.2.0"),
        ("v5", "scheduler", "0.23.0"), ("v5", "typescript", "5.0.4"),
        ("v6", "@tanstack/query-core", "5.8.3"), ("v6", "@tanstack/react-query", "5.8.4"),
        ("v6", "loose-envify", "1.4.0"), ("v6", "react", "18.2.0"), ("v6", "vitest", "1.0.0"),
        ("v9", "@tanstack/query-core", "5.8.3"), ("v9", "@tanstack/react-query", "5.8.4"),
        ("v9", "js-tokens", "4.0.0"), ("v9", "react", "18.2.0"),
    ]
    assert found[("v5", "typescript", "5.0.4")]["dev"] == "true"
    assert "dev" not in found[("v5", "react", "18.2.0")]
    assert found[("v6", "vitest", "1.0.0")]["dev"] == "true"
    assert found[("v5", "react", "18.2.0")]["lockfile-version"] == "5.4"  # a YAML float kept as text
    assert found[("v9", "react", "18.2.0")]["integrity"].startswith("sha512-/3IjMdb2")
    assert all(p.purl.startswith("pkg:npm/") for p in inv.packages)


@pytest.mark.parametrize(
    ("key", "major", "expected"),
    [
        ("/@babel/core/7.20.0_supports-color@5.5.0", 5, ("@babel/core", "7.20.0")),
        ("/ms/2.1.3", 5, ("ms", "2.1.3")),
        ("registry.example.com/ms/2.1.3", 5, None),
        ("/@babel/core@7.20.0(supports-color@5.5.0)", 6, ("@babel/core", "7.20.0")),
        ("@babel/core@7.20.0", 9, ("@babel/core", "7.20.0")),
    ],
)
def test_pnpm_keys(key: str, major: int, expected: tuple[str, str] | None) -> None:
    assert pnpm_key(key, major) == expected


def test_a_scoped_name_with_a_colon_is_an_unknown(tmp_path: Path) -> None:
    """The one npm name rule: ':' is refused in a scoped name too (it was only refused in
    unscoped ones here, and nowhere in npm's catalogers)."""
    text = ("lockfileVersion: '9.0'\npackages:\n"
            "  '@s/a:b@1.0.0': {resolution: {integrity: sha512-x}}\n"
            "  'ok@1.0.0': {resolution: {integrity: sha512-y}}\n")
    inv = scan(tmp_path, {"app/pnpm-lock.yaml": text})
    assert [p.name for p in inv.packages] == ["ok"]
    (u,) = inv.unknowns
    assert u.reason == "packages['@s/a:b@1.0.0']: unreadable package key"


def test_lock_replaced_in_later_layer(tmp_path: Path) -> None:
    v1 = '# yarn lockfile v1\n\nms@^2.1.1:\n  version "{v}"\n'
    inv = scan(tmp_path, {"app/yarn.lock": v1.format(v="2.1.1")},
               {"app/yarn.lock": v1.format(v="2.1.3")},
               {"app/node_modules/x/yarn.lock": v1.format(v="0.0.1")})
    got = {p.version: p for p in inv.packages}
    assert set(got) == {"2.1.1", "2.1.3"}  # a lock inside node_modules is a dependency's own
    assert got["2.1.1"].visibility is Visibility.HIDDEN
    assert got["2.1.3"].visibility is Visibility.VISIBLE and got["2.1.3"].layer == 1


LAUGHS = "lockfileVersion: '6.0'\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
) + "packages: *i\n"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("pnpm-lock.yaml", LAUGHS, "YAML alias at line 3: not allowed"),
        ("pnpm-lock.yaml", "lockfileVersion: '6.0'\npackages: " + "[" * 5000 + "]" * 5000,
         "YAML nested over 64 levels"),
        ("pnpm-lock.yaml", "lockfileVersion: '6.0'\npackages: {a: [}\n", "not valid YAML"),
        ("pnpm-lock.yaml", "- a\n- b\n", "not a YAML mapping"),
        ("pnpm-lock.yaml", "lockfileVersion: '3'\n", "unsupported lockfileVersion"),
        ("pnpm-lock.yaml", "lockfileVersion: '9.0'\npackages: [1]\n", "packages is not a mapping"),
        ("pnpm-lock.yaml", "lockfileVersion: '9.0'\npackages:\n  'not a name@1.0.0': {}\n",
         "no readable package"),
        ("yarn.lock", "__metadata:\n  version: 6\n\n'x@npm:1':\n  version: 1\n",
         "has no resolution"),
        ("yarn.lock", "# yarn lockfile v1\n\nbroken line without colon\n", "no readable name"),
        ("yarn.lock", b"\x00\x01" * 100, "binary data"),
    ],
)
def test_hostile_locks(tmp_path: Path, name: str, content: str | bytes, reason: str) -> None:
    inv = scan(tmp_path, {f"app/{name}": content})
    assert inv.packages == ()
    (u,) = inv.unknowns
    assert reason in u.reason


def test_yarn_and_pnpm_locks_add_evidence_to_installed_copies(tmp_path: Path) -> None:
    """Installed anywhere under the project's node_modules with the locked version: reported
    once, by npm-package, the lock its second location (yarn and pnpm record no install
    paths); the lock's other entries stay, marked declared."""
    installed = {
        "srv/web/node_modules/lodash/package.json": '{"name":"lodash","version":"4.17.21"}',
        "srv/web/node_modules/x/node_modules/chalk/package.json":
            '{"name":"chalk","version":"2.4.2"}',
        "srv/v9/node_modules/.pnpm/react@18.2.0/node_modules/react/package.json":
            '{"name":"react","version":"18.2.0"}',
    }
    cats = (*CATS, NpmPackageCataloger())
    inv = inventory_of(tmp_path, cats, layer("js/yarn1"), layer("js/pnpm"), installed)
    by = {(p.locations[0].path.split("/")[2], p.name): p for p in inv.packages}
    lodash, chalk, react = by["web", "lodash"], by["web", "chalk"], by["v9", "react"]
    assert {p.found_by for p in (lodash, chalk, react)} == {"npm-package"}
    assert [loc.path for loc in lodash.locations] == [
        "/srv/web/node_modules/lodash/package.json", "/srv/web/yarn.lock"]
    assert dict(lodash.extras)["integrity"].startswith("sha512-v2kDEe57")
    assert "declared" not in dict(lodash.extras)
    assert react.locations[1].path == "/srv/v9/pnpm-lock.yaml"
    assert dict(by["web", "string-width"].extras)["declared"] == "true"
    assert by["web", "string-width"].found_by == "javascript-yarn-lock"
    # pnpm's v5 and v6 projects hold no node_modules: their react is declared there.
    assert {(k[0], p.found_by) for k, p in by.items() if k[1] == "react"} == {
        ("v5", "javascript-pnpm-lock"), ("v6", "javascript-pnpm-lock"), ("v9", "npm-package")}
