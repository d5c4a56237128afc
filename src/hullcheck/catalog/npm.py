"""JavaScript packages: installed ones (``npm-package``) and lock-declared ones (``npm-lock``).

``npm-package`` reads ``node_modules/NAME/package.json`` and
``node_modules/@SCOPE/NAME/package.json`` at any depth (nested ``node_modules`` too),
never the package.json files of folders inside a package.

``npm-lock`` reads ``package-lock.json`` (lockfileVersion 1, 2 and 3; also
``npm-shrinkwrap.json``): the ``packages`` map (v2/v3) or the nested
``dependencies`` tree (v1). The root project ("" key) and workspace links are not
packages; development dependencies are kept and marked ``dev=true`` in extras.

A lock says what *would* be installed, a package.json in node_modules what *is*.
They are two kinds of evidence: the same name@version found both ways is reported
twice, with different ``found_by`` and different locations (the lock file vs the
package.json), so a consumer can tell declared from installed. Lock files that ship
inside ``node_modules`` (a dependency's own lock) are ignored.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from hullcheck import ecosystem
from hullcheck.catalog import license as lic
from hullcheck.catalog.base import Env, load_json_object
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType

PACKAGE = "npm-package"
LOCK = "npm-lock"
MAX_NAME = 214  # npm's own limit on package names


def _one_license(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("type")
    if not isinstance(value, str):
        return None
    return lic.normalise(value)


def licenses_of(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """``license`` (string or ``{type}`` object), else the legacy ``licenses`` list."""
    found: list[str] = []
    lic = _one_license(doc.get("license"))
    if lic is not None:
        found.append(lic)
    elif isinstance(doc.get("licenses"), list):
        for item in doc["licenses"]:
            one = _one_license(item)
            if one is not None:
                found.append(one)
    elif isinstance(doc.get("licenses"), str | Mapping):
        one = _one_license(doc["licenses"])
        if one is not None:
            found.append(one)
    return tuple(dict.fromkeys(found))


def _text(value: object, field: str, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FormatError(f"{path}: {field} is not a string")
    return value.strip()


def package(name: str, version: str, found_by: str, evidence: str,
            extras: Iterable[tuple[str, str]], *, licenses: tuple[str, ...] = ()) -> Package:
    """The npm package ``evidence`` (a package.json, a lock file) names."""
    return Package(type=PackageType.NPM, name=name, version=version,
                   purl=ecosystem.purl(PackageType.NPM, name, version), found_by=found_by,
                   locations=(Location(path=evidence),), licenses=licenses,
                   extras=tuple(sorted(extras)))


def valid_name(name: str) -> bool:
    """Whether ``name`` can be an npm registry package's: ``name`` or ``@scope/name``, at
    most 214 characters, no blanks and no ':' (npm refuses names that are not URL-safe;
    in a lock file a ':' is an alias or a git/file spec, not a registry name)."""
    if not name or len(name) > MAX_NAME or ":" in name or any(c.isspace() for c in name):
        return False
    if name.startswith("@"):
        scope, _, base = name.partition("/")
        return len(scope) > 1 and bool(base) and "/" not in base
    return "/" not in name


# ---------------------------------------------------------------------------------------
# Installed packages


def installed_name(path: str) -> str | None:
    """The package name a node_modules path stands for; None when it is not a package root."""
    parts = path.split("/")
    if len(parts) >= 4 and parts[-3] == "node_modules" and not parts[-2].startswith("@"):
        return parts[-2]
    if len(parts) >= 5 and parts[-4] == "node_modules" and parts[-3].startswith("@"):
        return f"{parts[-3]}/{parts[-2]}"
    return None


class NpmPackageCataloger:
    """``npm-package``: packages installed under node_modules."""

    name = PACKAGE
    globs = ("/**/node_modules/*/package.json", "/**/node_modules/@*/*/package.json")
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        dir_name = installed_name(entry.path)
        if dir_name is None or dir_name.startswith("."):
            return ()
        doc = load_json_object(entry, "package.json")
        name = _text(doc.get("name"), "name", entry.path) or dir_name
        version = _text(doc.get("version"), "version", entry.path)
        if not version:
            raise FormatError(f"{entry.path}: package.json has no version")
        if not valid_name(name) or len(version) > MAX_NAME:
            raise FormatError(f"{entry.path}: implausible package name or version")
        extras = [("package-dir", posixpath.dirname(entry.path))]
        for key in ("description", "homepage"):
            value = doc.get(key)
            if isinstance(value, str) and value.strip():
                extras.append((key, " ".join(value.split())[:1000]))
        author = doc.get("author")
        if isinstance(author, Mapping):
            author = author.get("name")
        if isinstance(author, str) and author.strip():
            extras.append(("author", author.strip()[:1000]))
        if name != dir_name:
            extras.append(("installed-as", dir_name))  # an alias: npm install x@npm:y
        return (package(name, version, PACKAGE, entry.path, extras, licenses=licenses_of(doc)),)


# ---------------------------------------------------------------------------------------
# Lock files


def _lock_entries(doc: Mapping[str, Any], path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(name, entry) of every package a lock file declares."""
    packages = doc.get("packages")
    if isinstance(packages, Mapping) and packages:
        for key, entry in packages.items():
            if not isinstance(key, str) or "node_modules/" not in key:
                continue  # the root project "" and workspace folders
            if not isinstance(entry, Mapping):
                raise FormatError(f"{path}: packages[{key!r}] is not an object")
            if entry.get("link"):
                continue  # a symlink to a workspace folder, described under its own key
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                name = key.rsplit("node_modules/", 1)[1]
            yield name, entry
        return
    deps = doc.get("dependencies")
    if deps is None:
        return
    stack: list[tuple[Any, int]] = [(deps, 0)]
    while stack:
        level, depth = stack.pop()
        if not isinstance(level, Mapping):
            raise FormatError(f"{path}: dependencies is not an object")
        if depth > 200:
            raise FormatError(f"{path}: dependencies nested too deeply")
        for name, entry in level.items():
            if not isinstance(entry, Mapping):
                raise FormatError(f"{path}: dependencies[{name!r}] is not an object")
            yield name, entry
            if "dependencies" in entry:
                stack.append((entry["dependencies"], depth + 1))


class NpmLockCataloger:
    """``npm-lock``: packages a package-lock.json (or npm-shrinkwrap.json) declares."""

    name = LOCK
    globs = ("/**/package-lock.json", "/**/npm-shrinkwrap.json")
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        if "/node_modules/" in entry.path:
            return ()
        doc = load_json_object(entry, "lock file")
        lock_version = doc.get("lockfileVersion", 1)
        if not isinstance(lock_version, int) or lock_version not in (1, 2, 3):
            raise FormatError(f"{entry.path}: unsupported lockfileVersion {lock_version!r}")
        merged: dict[tuple[str, str], tuple[Mapping[str, Any], bool]] = {}
        for key_name, item in _lock_entries(doc, entry.path):
            name = key_name
            version = _text(item.get("version"), "version", entry.path)
            if version.startswith("npm:"):  # v1 alias: "version": "npm:real-name@1.2.3"
                name, _, version = version[4:].rpartition("@")
            if not version or ":" in version or "/" in version or not valid_name(name):
                continue  # git, file and link dependencies are not registry packages
            dev = bool(item.get("dev") or item.get("devOptional"))
            prior = merged.get((name, version))
            # One name@version may sit at several paths: it is dev only if every copy is.
            merged[(name, version)] = (item, dev if prior is None else prior[1] and dev)
        out = []
        for (name, version), (item, dev) in merged.items():
            extras = [("lockfile-version", str(lock_version))]
            if dev:
                extras.append(("dev", "true"))
            for key in ("resolved", "integrity"):
                value = item.get(key)
                if isinstance(value, str) and value:
                    extras.append((key, value[:2000]))
            out.append(package(name, version, LOCK, entry.path, extras, licenses=licenses_of(item)))
        return out
