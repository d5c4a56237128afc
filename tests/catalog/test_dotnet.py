"""dotnet-deps on a real-format deps.json of a self-contained .NET 8 application."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hullcheck.catalog.dotnet import DotnetDepsCataloger
from hullcheck.model import Inventory, Visibility
from tests.fixtures.images import inventory_of
from tests.fixtures.rootfs import layer

CATS = (DotnetDepsCataloger(),)


def scan(tmp: Path, *layers: object) -> Inventory:
    return inventory_of(tmp, CATS, *layers)  # type: ignore[arg-type]


def test_published_app(tmp_path: Path) -> None:
    inv = scan(tmp_path, layer("dotnet/app"))
    assert inv.unknowns == ()
    pkgs = {p.name: p for p in inv.packages}
    # Projects (MyWebApp, MyWebApp.Core) are the app's own code, not packages.
    assert sorted(pkgs) == ["Microsoft.NET.ILLink.Tasks", "Microsoft.NETCore.App.Runtime.linux-x64",
                            "Newtonsoft.Json", "SQLitePCLRaw.lib.e_sqlite3", "Serilog"]
    nj = pkgs["Newtonsoft.Json"]
    assert nj.purl == "pkg:nuget/Newtonsoft.Json@13.0.3"
    assert nj.locations[0].path == "/app/MyWebApp.deps.json"
    assert nj.files == ("/app/Newtonsoft.Json.dll",)  # lib/net6.0/ flattened by publish
    assert dict(nj.extras)["sha512"].startswith("sha512-HrC5")
    assert dict(nj.extras)["framework"] == ".NETCoreApp,Version=v8.0/linux-x64"
    assert pkgs["SQLitePCLRaw.lib.e_sqlite3"].files == (
        "/app/runtimes/linux-x64/native/libe_sqlite3.so",)
    rt = pkgs["Microsoft.NETCore.App.Runtime.linux-x64"]
    assert rt.purl == "pkg:nuget/Microsoft.NETCore.App.Runtime.linux-x64@8.0.1"
    assert rt.files == ("/app/System.Private.CoreLib.dll", "/app/libSystem.Native.so")
    assert dict(rt.extras)["library-type"] == "runtimepack"
    assert pkgs["Microsoft.NET.ILLink.Tasks"].files == ()
    # Package assemblies and the deps.json count as owned; the app's own two dlls do not.
    assert (inv.files_owned, inv.files_total) == (6, 8)


def test_app_replaced_in_later_layer(tmp_path: Path) -> None:
    def deps(version: str) -> str:
        return json.dumps({"libraries": {f"Serilog/{version}": {"type": "package"}}})

    inv = scan(tmp_path, {"srv/Api.deps.json": deps("2.10.0")}, {"srv/Api.deps.json": deps("3.1.1")})
    got = {p.version: p for p in inv.packages}
    assert got["2.10.0"].visibility is Visibility.HIDDEN and got["2.10.0"].layer == 0
    assert got["3.1.1"].visibility is Visibility.VISIBLE and got["3.1.1"].layer == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
        (b"[]", "not a JSON object"),
        (b'{"targets": {}}', "no libraries object"),
        (b'{"libraries": []}', "no libraries object"),
    ],
)
def test_hostile_deps_json(tmp_path: Path, content: bytes, reason: str) -> None:
    inv = scan(tmp_path, {"app/x.deps.json": content})
    assert inv.packages == ()
    (u,) = inv.unknowns
    assert u.cataloger == "dotnet-deps" and reason in u.reason


def test_bad_entries_beside_good_ones(tmp_path: Path) -> None:
    doc = {
        "targets": {"t": {"Good/1.0.0": {"runtime": {"../../../etc/passwd": {}}}}},
        "libraries": {"Good/1.0.0": {"type": "package"}, "NoVersion": {"type": "package"},
                      "Bad/1.0": "string", "Own/1.0": {"type": "project"}},
    }
    inv = scan(tmp_path, {"app/x.deps.json": json.dumps(doc), "etc/passwd": "root:x:0:0"})
    (p,) = inv.packages
    assert p.purl == "pkg:nuget/Good@1.0.0"
    assert p.files == ()  # an asset path escaping the app folder is not followed
    assert sorted(u.reason for u in inv.unknowns) == [
        "libraries['Bad/1.0'] is not an object",
        "libraries['NoVersion']: not a Name/Version key",
    ]
