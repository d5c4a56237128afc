"""npm-package and npm-lock on a real-format node_modules tree and lock files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck.catalog.npm import (
    NpmLockCataloger,
    NpmPackageCataloger,
    NpmProjectCataloger,
    installed_name,
)
from hullcheck.catalog.registry import CATALOGERS
from hullcheck.image.writer import whiteout
from hullcheck.model import Inventory, PackageType, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer

CATS = (NpmPackageCataloger(), NpmLockCataloger())
APP = "/srv/app"


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def test_installed_tree_and_lock(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("npm/app"))
    assert inv.unknowns == ()
    installed = {p.name: p for p in inv.packages if p.found_by == "npm-package"}
    # lodash/fp/package.json is not a package; the lock declares nothing that is not installed.
    assert sorted(installed) == ["@types/node", "debug", "jest", "lodash", "ms", "request"]
    assert [p.name for p in inv.packages if p.found_by == "npm-lock"] == []

    types = installed["@types/node"]
    assert types.purl == "pkg:npm/%40types/node@20.11.5"
    assert types.locations[0].path == f"{APP}/node_modules/@types/node/package.json"
    assert installed["ms"].locations[0].path == (
        f"{APP}/node_modules/debug/node_modules/ms/package.json")
    assert installed["lodash"].licenses == ("MIT",)
    assert installed["debug"].licenses == ("MIT",)  # {type, url} object
    assert installed["request"].licenses == ("Apache-2.0",)  # legacy licenses list
    assert installed["jest"].licenses == ("MIT OR Apache-2.0",)

    # The lock adds its evidence to each installed copy it describes: its location (second)
    # and what it knows that package.json does not.
    for p in installed.values():
        assert [loc.path for loc in p.locations[1:]] == [f"{APP}/package-lock.json"], p.name
    assert dict(installed["jest"].extras)["dev"] == "true"
    assert dict(installed["@types/node"].extras)["dev"] == "true"
    assert "dev" not in dict(installed["lodash"].extras)
    assert dict(installed["lodash"].extras)["resolved"].endswith("lodash-4.17.21.tgz")
    assert "declared" not in dict(installed["lodash"].extras)


def test_stock_express_app_lists_each_package_once(tmp_path: Path) -> None:
    """A real `npm install express@4.21.2` (its node_modules package.json files and its
    lock, copied unchanged): 72 installed packages and the app, not 72 twice."""
    inv = inventory_of(tmp_path, CATALOGERS, layer("npm/express"))
    npm = [p for p in inv.packages if p.type is PackageType.NPM]
    assert inv.unknowns == ()
    assert len(npm) == 73
    assert len({p.purl for p in npm}) == 73  # send's own ms and encodeurl are other versions
    assert sorted({p.found_by for p in npm}) == ["npm-package", "npm-project"]
    (app,) = [p for p in npm if p.found_by == "npm-project"]
    assert (app.name, app.version, app.purl) == ("hello-express", "1.0.0",
                                                 "pkg:npm/hello-express@1.0.0")
    assert app.locations[0].path == f"{APP}/package.json"
    assert dict(app.extras)["project"] == "true" and app.licenses == ("ISC",)
    # Every installed package carries the lock as its second location.
    installed = [p for p in npm if p.found_by == "npm-package"]
    assert {p.locations[1].path for p in installed} == {f"{APP}/package-lock.json"}
    nested = next(p for p in installed if p.locations[0].path.endswith(
        "send/node_modules/ms/package.json"))
    assert nested.version == "2.1.3" and dict(nested.extras)["integrity"].startswith("sha512-")


def test_a_lock_lists_what_is_declared_but_not_installed(tmp_path: Path) -> None:
    """Installed where the lock says, with the lock's version: one package (npm-package).
    Missing, or another version there: the lock's entry is listed, marked declared."""
    lock = {"name": "app", "version": "1.0.0", "lockfileVersion": 3, "packages": {
        "": {"name": "app", "version": "1.0.0"},
        "node_modules/here": {"version": "1.0.0"},
        "node_modules/gone": {"version": "2.0.0"},
        "node_modules/other": {"version": "3.0.0"},
    }}
    pj = {"app/node_modules/here/package.json": '{"name": "here", "version": "1.0.0"}',
          "app/node_modules/other/package.json": '{"name": "other", "version": "3.1.0"}'}
    inv = scan(tmp_path, {"app/package-lock.json": json.dumps(lock), **pj})
    got = sorted((p.name, p.version, p.found_by, dict(p.extras).get("declared", ""))
                 for p in inv.packages)
    assert got == [("gone", "2.0.0", "npm-lock", "true"),
                   ("here", "1.0.0", "npm-package", ""),
                   ("other", "3.0.0", "npm-lock", "true"),
                   ("other", "3.1.0", "npm-package", "")]
    here = next(p for p in inv.packages if p.name == "here")
    assert [loc.path for loc in here.locations] == ["/app/node_modules/here/package.json",
                                                    "/app/package-lock.json"]
    other = next(p for p in inv.packages if p.version == "3.1.0")
    assert len(other.locations) == 1  # the lock does not describe this copy


def test_node_modules_deleted_later_leaves_the_lock_declaring(tmp_path: Path) -> None:
    """node_modules removed by a later layer: the installed copies are hidden, and what the
    image still shows is the lock's declaration."""
    lock = {"lockfileVersion": 3, "packages": {"": {}, "node_modules/ms": {"version": "2.1.3"}}}
    inv = scan(tmp_path, {"app/package-lock.json": json.dumps(lock),
                          "app/node_modules/ms/package.json": '{"name":"ms","version":"2.1.3"}'},
               [whiteout("app/node_modules")])
    got = sorted((p.found_by, p.visibility.value) for p in inv.packages)
    assert got == [("npm-lock", "visible"), ("npm-package", "shipped-not-visible")]


def test_lockfile_v1_installed_copies_are_found_by_their_nested_paths(tmp_path: Path) -> None:
    inv = scan(tmp_path, {
        "app/package-lock.json": json.dumps(lock_v1()),
        "app/node_modules/express/package.json": '{"name":"express","version":"4.17.1"}',
        "app/node_modules/express/node_modules/debug/package.json":
            '{"name":"debug","version":"2.6.9"}',
    })
    by = {(p.name, p.version): p for p in inv.packages}
    assert by[("express", "4.17.1")].found_by == "npm-package"
    assert by[("debug", "2.6.9")].found_by == "npm-package"
    assert by[("debug", "2.6.9")].locations[1].path == "/app/package-lock.json"
    assert by[("debug", "4.3.4")].found_by == "npm-lock"  # declared at the top, not installed
    assert dict(by[("express", "4.17.1")].extras)["resolved"] == "https://r/express-4.17.1.tgz"


@pytest.mark.parametrize(("path", "doc"), [
    ("srv/app/src/package.json", {"type": "module"}),  # a folder's module type
    ("srv/app/package.json", {"name": "app"}),  # no version
    ("srv/app/package.json", {"name": "Not A Name!", "version": "1.0.0"}),
    ("srv/app/package.json", ["not", "an", "object"]),
])
def test_package_json_that_names_no_package_is_no_project(tmp_path: Path, path: str,
                                                          doc: object) -> None:
    inv = inventory_of(tmp_path, (NpmProjectCataloger(),), {path: json.dumps(doc)})
    assert inv.packages == () and inv.unknowns == ()


def test_project_outside_node_modules_only(tmp_path: Path) -> None:
    inv = inventory_of(tmp_path, (NpmProjectCataloger(),), {
        "srv/app/package.json": '{"name": "@acme/web", "version": "2.0.0", "private": true}',
        "srv/app/node_modules/x/package.json": '{"name": "x", "version": "1.0.0"}',
        "srv/app/node_modules/x/lib/package.json": '{"name": "x-lib", "version": "1.0.0"}',
        "srv/app/broken/package.json": "{not json",
    })
    (p,) = inv.packages
    assert (p.name, p.purl, p.found_by) == ("@acme/web", "pkg:npm/%40acme/web@2.0.0",
                                            "npm-project")
    assert dict(p.extras)["private"] == "true" and inv.unknowns == ()


def lock_v1() -> dict:
    return {
        "name": "old-app", "version": "1.0.0", "lockfileVersion": 1, "requires": True,
        "dependencies": {
            "express": {"version": "4.17.1", "resolved": "https://r/express-4.17.1.tgz",
                        "dependencies": {"debug": {"version": "2.6.9"}}},
            "debug": {"version": "4.3.4"},
            "mocha": {"version": "10.2.0", "dev": True},
            "@babel/core": {"version": "7.23.0", "dev": True},
            "local-thing": {"version": "file:../local-thing"},
            "string-width-cjs": {"version": "npm:string-width@4.2.3"},
        },
    }


def test_lockfile_v1_nested_dependencies(tmp_path: Path) -> None:
    inv = scan(tmp_path, {"app/package-lock.json": json.dumps(lock_v1())})
    got = {(p.name, p.version): p for p in inv.packages}
    assert set(got) == {("express", "4.17.1"), ("debug", "2.6.9"), ("debug", "4.3.4"),
                        ("mocha", "10.2.0"), ("@babel/core", "7.23.0"),
                        ("string-width", "4.2.3")}  # file: dependencies are not packages
    assert dict(got[("mocha", "10.2.0")].extras)["dev"] == "true"
    assert got[("@babel/core", "7.23.0")].purl == "pkg:npm/%40babel/core@7.23.0"
    assert all(p.found_by == "npm-lock" for p in inv.packages)


def test_lockfile_v2_prefers_packages_and_skips_links(tmp_path: Path) -> None:
    doc = {
        "name": "ws", "lockfileVersion": 2,
        "packages": {
            "": {"name": "ws", "workspaces": ["packages/*"]},
            "node_modules/a": {"version": "1.0.0"},
            "node_modules/b": {"version": "2.0.0", "devOptional": True},
            "node_modules/my-lib": {"resolved": "packages/my-lib", "link": True},
            "packages/my-lib": {"name": "my-lib", "version": "0.1.0"},
            "node_modules/alias": {"name": "real-name", "version": "3.0.0"},
        },
        "dependencies": {"stale": {"version": "9.9.9"}},
    }
    inv = scan(tmp_path, {"app/package-lock.json": json.dumps(doc)})
    assert sorted((p.name, p.version) for p in inv.packages) == [
        ("a", "1.0.0"), ("b", "2.0.0"), ("real-name", "3.0.0")]
    b = next(p for p in inv.packages if p.name == "b")
    assert dict(b.extras)["dev"] == "true" and dict(b.extras)["lockfile-version"] == "2"


def test_same_package_at_two_lock_paths_is_dev_only_if_every_copy_is(tmp_path: Path) -> None:
    doc = {"lockfileVersion": 3, "packages": {
        "": {}, "node_modules/ms": {"version": "2.1.3", "dev": True},
        "node_modules/x/node_modules/ms": {"version": "2.1.3"}}}
    inv = scan(tmp_path, {"app/package-lock.json": json.dumps(doc)})
    (ms,) = inv.packages
    assert "dev" not in dict(ms.extras)


def test_removed_node_modules_are_hidden(tmp_path: Path) -> None:
    pj = json.dumps({"name": "left-pad", "version": "1.3.0", "license": "WTFPL"})
    inv = scan(tmp_path, {"app/node_modules/left-pad/package.json": pj},
               [whiteout("app/node_modules")])
    (p,) = inv.packages
    assert p.visibility is Visibility.HIDDEN and p.layer == 0
    assert p.licenses == ("WTFPL",)


def test_lock_inside_node_modules_is_ignored(tmp_path: Path) -> None:
    doc = {"lockfileVersion": 3, "packages": {"": {}, "node_modules/z": {"version": "1.0.0"}}}
    inv = scan(tmp_path, {"app/node_modules/dep/package-lock.json": json.dumps(doc),
                          "app/node_modules/dep/package.json": '{"name":"dep","version":"1.0.0"}'})
    assert [(p.name, p.found_by) for p in inv.packages] == [("dep", "npm-package")]


@pytest.mark.parametrize(
    ("path", "content", "reason"),
    [
        ("app/node_modules/x/package.json", b"{not json", "not valid JSON"),
        ("app/node_modules/x/package.json", b"[1, 2]", "not a JSON object"),
        ("app/node_modules/x/package.json", b'{"name": "x"}', "no version"),
        ("app/node_modules/x/package.json", b'{"name": 5, "version": "1"}', "not a string"),
        ("app/node_modules/x/package.json", b"\xff\xfe\x00\x01", "not valid JSON"),
        ("app/package-lock.json", b'{"lockfileVersion": 99}', "unsupported lockfileVersion"),
        ("app/package-lock.json", b'{"lockfileVersion": 3, "packages": {"node_modules/a": 1}}',
         "not an object"),
        ("app/package-lock.json", b"\x00" * 100, "not valid JSON"),
    ],
)
def test_hostile_json_is_an_unknown(tmp_path: Path, path: str, content: bytes,
                                    reason: str) -> None:
    inv = scan(tmp_path, {path: content})
    assert inv.packages == ()
    (u,) = inv.unknowns
    assert reason in u.reason and u.location.path == "/" + path


def test_a_name_with_a_colon_is_no_registry_package(tmp_path: Path) -> None:
    """npm refuses names that are not URL-safe: a package.json named with a ':' is an
    Unknown, a lock entry so named is not a registry package (the yarn and pnpm catalogers
    share the rule)."""
    lock = {"lockfileVersion": 3, "packages": {
        "": {"name": "app"},
        "node_modules/@s/a:b": {"version": "1.0.0"},
        "node_modules/ok": {"version": "1.0.0"}}}
    inv = scan(tmp_path, {
        "app/node_modules/x/package.json": json.dumps({"name": "x:y", "version": "1.0.0"}),
        "app/node_modules/ok/package.json": json.dumps({"name": "ok", "version": "1.0.0"}),
        "app/package-lock.json": json.dumps(lock),
    })
    (ok,) = inv.packages  # installed where the lock says: reported once
    assert (ok.found_by, ok.name, len(ok.locations)) == ("npm-package", "ok", 2)
    (u,) = inv.unknowns
    assert u.location.path == "/app/node_modules/x/package.json"
    assert "implausible package name" in u.reason


def test_deeply_nested_v1_lock_is_refused_not_crashed(tmp_path: Path) -> None:
    deps: dict = {"version": "1.0.0"}
    for _ in range(300):
        deps = {"version": "1.0.0", "dependencies": {"x": deps}}
    text = json.dumps({"lockfileVersion": 1, "dependencies": {"x": deps}})
    inv = scan(tmp_path, {"app/package-lock.json": text})
    assert inv.unknowns and "nested too deeply" in inv.unknowns[0].reason


def test_json_nested_past_the_recursion_limit_is_an_unknown(tmp_path: Path) -> None:
    inv = scan(tmp_path, {"app/node_modules/x/package.json": "[" * 200_000 + "]" * 200_000})
    assert inv.packages == ()
    assert "nested too deeply" in inv.unknowns[0].reason


def test_installed_name_from_path() -> None:
    assert installed_name("/a/node_modules/x/package.json") == "x"
    assert installed_name("/a/node_modules/@s/x/package.json") == "@s/x"
    assert installed_name("/a/node_modules/x/lib/package.json") is None
    assert installed_name("/a/node_modules/@s/package.json") is None


def test_debians_module_folders_hold_installed_packages(tmp_path: Path) -> None:
    """Debian's nodejs ships @types/node in /usr/share/nodejs; node-* packages their modules
    there too: installed packages (as in node_modules), never "the project"."""
    pj = '{"name": "@types/node", "version": "18.19.4", "license": "MIT"}'
    inv = inventory_of(tmp_path, CATALOGERS, {
        "usr/share/nodejs/@types/node/package.json": pj,
        "usr/share/nodejs/acorn/package.json": '{"name": "acorn", "version": "8.8.1"}',
        "usr/lib/x86_64-linux-gnu/nodejs/ws/package.json": '{"name": "ws", "version": "8.11.0"}',
        "usr/share/nodejs/acorn/dist/package.json": '{"name": "x", "version": "1.0.0"}',
    })
    got = sorted((p.name, p.version, p.found_by) for p in inv.packages)
    assert got == [("@types/node", "18.19.4", "npm-package"), ("acorn", "8.8.1", "npm-package"),
                   ("ws", "8.11.0", "npm-package")]
    assert installed_name("/usr/share/nodejs/@types/node/package.json") == "@types/node"
    assert installed_name("/usr/share/nodejs/acorn/dist/package.json") is None
