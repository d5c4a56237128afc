""".NET packages from ``*.deps.json`` (``dotnet-deps``).

The .NET SDK writes ``APP.deps.json`` next to every published application: its
``libraries`` map has one ``"Name/Version"`` key per dependency with a ``type`` —
``package`` (a NuGet package), ``runtimepack`` (the .NET runtime itself, in a
self-contained app: a NuGet package too) or ``project``/``reference`` (the app's own
code, not a package). ``targets`` says which assemblies each library put in the
application folder; those that are present are the package's files.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from hullcheck import ecosystem
from hullcheck.catalog.base import Env, load_json_object
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType, Unknown

NAME = "dotnet-deps"
PACKAGE_TYPES = frozenset({"package", "runtimepack"})
MAX_LIBRARIES = 100_000
MAX_FILES = 10_000  # assemblies listed for one package
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}\Z")  # NuGet package ids
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+-]{0,99}\Z")


def _assemblies(doc: Mapping[str, Any], key: str) -> list[str]:
    """Relative paths of the runtime/native assets ``key`` has in any target."""
    targets = doc.get("targets")
    out: list[str] = []
    if not isinstance(targets, Mapping):
        return out
    for target in targets.values():
        lib = target.get(key) if isinstance(target, Mapping) else None
        if not isinstance(lib, Mapping):
            continue
        for group in ("runtime", "native"):
            assets = lib.get(group)
            if isinstance(assets, Mapping):
                out.extend(a for a in assets if isinstance(a, str))
            if len(out) > MAX_FILES:
                return out[:MAX_FILES]
    return out


def _files(doc: Mapping[str, Any], key: str, app_dir: str, view: View) -> tuple[str, ...]:
    """Assemblies of ``key`` present in the application folder. ``dotnet publish`` flattens
    ``lib/net8.0/X.dll`` to ``X.dll``; runtime-specific ones keep ``runtimes/RID/...``."""
    found: list[str] = []
    for rel in _assemblies(doc, key):
        for candidate in (rel, posixpath.basename(rel)):
            path = posixpath.normpath(posixpath.join(app_dir, candidate))
            if path.startswith(app_dir + "/") and view.exists(path):
                found.append(path)
                break
    return tuple(dict.fromkeys(found))


def parse_deps(entry: FileEntry, view: View) -> list[Package | Unknown]:
    doc = load_json_object(entry, "deps.json")
    libraries = doc.get("libraries")
    if not isinstance(libraries, Mapping):
        raise FormatError(f"{entry.path}: deps.json has no libraries object")
    if len(libraries) > MAX_LIBRARIES:
        raise FormatError(f"{entry.path}: {len(libraries)} libraries (limit {MAX_LIBRARIES})")
    runtime = doc.get("runtimeTarget")
    framework = runtime.get("name") if isinstance(runtime, Mapping) else None
    app_dir = posixpath.dirname(entry.path)
    out: list[Package | Unknown] = []
    for key, lib in libraries.items():
        if not isinstance(lib, Mapping):
            out.append(Unknown(location=Location(path=""), cataloger=NAME,
                               reason=f"libraries[{key[:80]!r}] is not an object"))
            continue
        kind = lib.get("type")
        if kind not in PACKAGE_TYPES:
            continue  # the application's own projects and framework references
        name, _, version = key.partition("/")
        if kind == "runtimepack":
            name = name.removeprefix("runtimepack.")  # the NuGet id of the runtime pack
        if not _ID.match(name) or not _VERSION.match(version):
            out.append(Unknown(location=Location(path=""), cataloger=NAME,
                               reason=f"libraries[{key[:80]!r}]: not a Name/Version key"))
            continue
        extras = [("library-type", str(kind))]
        if isinstance(framework, str) and framework:
            extras.append(("framework", framework[:200]))
        for field in ("sha512", "path"):
            value = lib.get(field)
            if isinstance(value, str) and value:
                extras.append((field, value[:1000]))
        out.append(Package(
            type=PackageType.NUGET,
            name=name,
            version=version,
            purl=ecosystem.purl(PackageType.NUGET, name, version),
            found_by=NAME,
            locations=(Location(path=entry.path),),
            files=_files(doc, key, app_dir, view),
            extras=tuple(sorted(extras)),
        ))
    return out


class DotnetDepsCataloger:
    """``dotnet-deps``: NuGet packages of a published .NET application."""

    name = NAME
    globs = ("/**/*.deps.json",)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        return parse_deps(entry, view)
