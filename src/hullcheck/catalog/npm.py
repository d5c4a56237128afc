"""JavaScript packages: installed ones (``npm-package``), lock-declared ones (``npm-lock``)
and the application's own project (``npm-project``).

``npm-package`` reads ``node_modules/NAME/package.json`` and
``node_modules/@SCOPE/NAME/package.json`` at any depth (nested ``node_modules`` too), and
the same in Debian's module folders (``/usr/share/nodejs``, ``/usr/lib/nodejs``,
``/usr/lib/<triplet>/nodejs``), never the package.json files of folders inside a package.

``npm-lock`` reads ``package-lock.json`` (lockfileVersion 1, 2 and 3; also
``npm-shrinkwrap.json``): the ``packages`` map (v2/v3) or the nested
``dependencies`` tree (v1). The root project ("" key) and workspace links are not
lock packages; development dependencies are kept and marked ``dev=true`` in extras.

One package per installed copy: a lock says what *would* be installed, a package.json in
node_modules what *is*. A lock entry whose copy is installed where the lock puts it (same
name and version) is not reported again: the lock is added to that package's locations
(its second), with the lock's ``dev``, ``resolved`` and ``integrity``. A lock entry with no
such copy is reported, marked ``declared=true`` (declared, not installed). yarn and pnpm
locks (``javascript_locks``) follow the same rule by name and version, since they do not
record install paths. Lock files that ship inside ``node_modules`` (a dependency's own
lock) are ignored.

``npm-project`` reads every other ``package.json`` (outside ``node_modules``) that names a
package and a version: the application itself, as Trivy and Syft report it, marked
``project=true``. Files without both (a folder's ``{"type": "module"}``) or that are not
JSON are not package evidence and are passed over.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from hullcheck import ecosystem
from hullcheck.catalog import license as lic
from hullcheck.catalog.base import Env, load_json_object
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, Kind, View
from hullcheck.model import Location, Package, PackageType

PACKAGE = "npm-package"
LOCK = "npm-lock"
PROJECT = "npm-project"
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
# Projects and what they hold


def project_root(path: str) -> str:
    """The project folder a path under ``node_modules`` belongs to: the folder holding the
    first ``node_modules`` ("/srv/app" for /srv/app/node_modules/a/node_modules/b/...)."""
    return path[:path.find("/node_modules/")] if "/node_modules/" in path else \
        posixpath.dirname(path)


def name_and_version(entry: FileEntry) -> tuple[str, str] | None:
    """(name, version) of an installed package.json, its folder's name when it names none
    (as ``npm-package`` reads it); None when it has no version or is not JSON (that
    cataloger reports it as unreadable)."""
    try:
        doc = json.loads((entry.content or b"").decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.strip():
        return None
    name = doc.get("name")
    name = name.strip() if isinstance(name, str) else ""
    return name or installed_name(entry.path) or "", version.strip()


def installed_at(view: View, root: str, rel: str) -> tuple[str, str] | None:
    """(name, version) of the package installed at ``root/rel`` (``rel`` like
    "node_modules/a"), None when there is none or its package.json is unreadable."""
    entry = view.lookup(f"{root}/{rel}/package.json")
    if entry is None or entry.kind is not Kind.FILE:
        return None
    return name_and_version(entry)


def installed_under(view: View, root: str) -> frozenset[tuple[str, str]]:
    """(name, version) of every package installed anywhere under ``root/node_modules``: for
    locks that do not say where each package goes (yarn, pnpm)."""
    prefix = f"{root.rstrip('/')}/node_modules/"
    out = set()
    for entry in view.files():
        path = entry.path
        if not path.startswith(prefix) or not path.endswith("/package.json") \
                or entry.kind is not Kind.FILE or installed_name(path) is None:
            continue
        found = name_and_version(entry)
        if found is not None:
            out.add(found)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Declared:
    """What one lock file says of a package it declares."""

    lock: str  # the lock file's path
    extras: tuple[tuple[str, str], ...]  # dev, resolved, integrity


def lock_extras(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A lock entry's ``dev`` mark and where the package came from."""
    out = [("dev", "true")] if item.get("dev") or item.get("devOptional") else []
    for key in ("resolved", "integrity"):
        value = item.get(key)
        if isinstance(value, str) and value:
            out.append((key, value[:2000]))
    return out


def declared_by_locks(view: View, root: str, rel: str, name: str, version: str
                      ) -> Declared | None:
    """What the lock files of the project at ``root`` declare of the package installed at
    ``root/rel``: npm's by install path, yarn's and pnpm's by name and version."""
    for lock_name in NPM_LOCKS:
        path = f"{root}/{lock_name}"
        lock = view.lookup(path)
        if lock is not None and lock.kind is Kind.FILE and lock.content is not None:
            item = parsed_once(lock, "npm", _npm_lock_paths).get(rel)
            if item is not None and item[0] == name and item[1] == version:
                return Declared(lock=path, extras=item[2])
    # yarn and pnpm locks are read by their own module, which builds on this one: imported
    # here, when a package is installed, rather than at the top (a cycle).
    from hullcheck.catalog import javascript_locks

    return javascript_locks.declared(view, root, name, version)


# ---------------------------------------------------------------------------------------
# Installed packages


# Where Debian installs node modules (node-* packages, nodejs's own @types/node): folders of
# installed packages, as node_modules is.
SYSTEM_MODULES = ("/usr/share/nodejs", "/usr/lib/nodejs")
_SYSTEM_MODULES = re.compile(r"/usr/(?:share|lib)/nodejs\Z|/usr/lib/[^/]+/nodejs\Z")
_IN_SYSTEM_MODULES = re.compile(r"/usr/(?:share|lib)/nodejs/|/usr/lib/[^/]+/nodejs/")


def _modules_dir(parent: str) -> bool:
    return parent.rsplit("/", 1)[-1] == "node_modules" or _SYSTEM_MODULES.match(parent) is not None


def installed_name(path: str) -> str | None:
    """The package name a package.json in a modules folder (node_modules, Debian's
    /usr/share/nodejs) stands for; None when it is not a package root."""
    folder = posixpath.dirname(path)
    parent, name = posixpath.split(folder)
    if name.startswith("@"):
        return None
    if _modules_dir(parent):
        return name
    grand, scope = posixpath.split(parent)
    if scope.startswith("@") and len(scope) > 1 and _modules_dir(grand):
        return f"{scope}/{name}"
    return None


def _described(doc: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Display details of a package.json: description, homepage, author."""
    extras = []
    for key in ("description", "homepage"):
        value = doc.get(key)
        if isinstance(value, str) and value.strip():
            extras.append((key, " ".join(value.split())[:1000]))
    author = doc.get("author")
    if isinstance(author, Mapping):
        author = author.get("name")
    if isinstance(author, str) and author.strip():
        extras.append(("author", author.strip()[:1000]))
    return extras


class NpmPackageCataloger:
    """``npm-package``: packages installed under node_modules (with the lock declaring each,
    when the project has one)."""

    name = PACKAGE
    globs = ("/**/node_modules/*/package.json", "/**/node_modules/@*/*/package.json",
             *(f"{d}/{p}" for d in (*SYSTEM_MODULES, "/usr/lib/*/nodejs")
               for p in ("*/package.json", "@*/*/package.json")))
    needs = ("/**/package-lock.json", "/**/npm-shrinkwrap.json", "/**/yarn.lock",
             "/**/pnpm-lock.yaml")

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
        package_dir = posixpath.dirname(entry.path)
        extras = [("package-dir", package_dir), *_described(doc)]
        if name != dir_name:
            extras.append(("installed-as", dir_name))  # an alias: npm install x@npm:y
        pkg = package(name, version, PACKAGE, entry.path, extras, licenses=licenses_of(doc))
        if "/node_modules/" not in entry.path:
            return (pkg,)  # a system folder's module: no project, no lock
        root = project_root(entry.path)
        declared = declared_by_locks(view, root, package_dir[len(root) + 1:], name, version)
        if declared is None:
            return (pkg,)
        return (dataclasses.replace(pkg, locations=(*pkg.locations, Location(path=declared.lock)),
                                    extras=tuple(sorted({*pkg.extras, *declared.extras}))),)


# ---------------------------------------------------------------------------------------
# Lock files

NPM_LOCKS = ("package-lock.json", "npm-shrinkwrap.json")


def _lock_entries(doc: Mapping[str, Any], path: str
                  ) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(install path, name, entry) of every package a lock file declares; the install path
    is relative to the lock's folder ("node_modules/a/node_modules/b")."""
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
            yield key, name, entry
        return
    deps = doc.get("dependencies")
    if deps is None:
        return
    stack: list[tuple[Any, str, int]] = [(deps, "", 0)]
    while stack:
        level, under, depth = stack.pop()
        if not isinstance(level, Mapping):
            raise FormatError(f"{path}: dependencies is not an object")
        if depth > 200:
            raise FormatError(f"{path}: dependencies nested too deeply")
        for name, entry in level.items():
            if not isinstance(entry, Mapping):
                raise FormatError(f"{path}: dependencies[{name!r}] is not an object")
            at = f"{under}node_modules/{name}"
            yield at, name, entry
            if "dependencies" in entry:
                stack.append((entry["dependencies"], f"{at}/", depth + 1))


def _registry_entry(key_name: str, item: Mapping[str, Any], path: str) -> tuple[str, str] | None:
    """(name, version) of a lock entry that is a registry package; None for git, file and
    link dependencies."""
    name = key_name
    version = _text(item.get("version"), "version", path)
    if version.startswith("npm:"):  # v1 alias: "version": "npm:real-name@1.2.3"
        name, _, version = version[4:].rpartition("@")
    if not version or ":" in version or "/" in version or not valid_name(name):
        return None
    return name, version


def read_lock(entry: FileEntry) -> tuple[int, list[tuple[str, str, str, Mapping[str, Any]]]]:
    """The lockfileVersion and (install path, name, version, entry) of each registry
    package a package-lock.json declares; FormatError when it cannot be read."""
    path = entry.path
    doc = load_json_object(entry, "lock file")
    lock_version = doc.get("lockfileVersion", 1)
    if not isinstance(lock_version, int) or lock_version not in (1, 2, 3):
        raise FormatError(f"{path}: unsupported lockfileVersion {lock_version!r}")
    out = []
    for at, key_name, item in _lock_entries(doc, path):
        found = _registry_entry(key_name, item, path)
        if found is not None:
            out.append((at, found[0], found[1], item))
    return lock_version, out


T = TypeVar("T")
_PARSED: OrderedDict[tuple[str, str, int, int, int], Any] = OrderedDict()
_PARSED_LOCK = threading.Lock()
_PARSED_KEPT = 8


def parsed_once(lock: FileEntry, kind: str, parse: Callable[[FileEntry], T]) -> T:
    """``parse(lock)``, computed once for all the packages installed from one lock file: the
    last few results are kept by (kind, path, layer, size, hash of the bytes), never the
    bytes themselves, which a long-lived server must not hold on to. Bytes cache their hash,
    so the key costs nothing after the first time."""
    key = (kind, lock.path, lock.layer, lock.size, hash(lock.content))
    with _PARSED_LOCK:
        if key in _PARSED:
            _PARSED.move_to_end(key)
            return cast(T, _PARSED[key])
    value = parse(lock)
    with _PARSED_LOCK:
        _PARSED[key] = value
        while len(_PARSED) > _PARSED_KEPT:
            _PARSED.popitem(last=False)
    return value


def _npm_lock_paths(lock: FileEntry) -> Mapping[str, tuple[str, str, tuple[tuple[str, str], ...]]]:
    """install path -> (name, version, lock extras) of a package-lock.json; {} when it cannot
    be read (``npm-lock`` reports why)."""
    try:
        _, entries = read_lock(lock)
    except FormatError:
        return {}
    return {at: (name, version, tuple(lock_extras(item))) for at, name, version, item in entries}


class NpmLockCataloger:
    """``npm-lock``: packages a package-lock.json (or npm-shrinkwrap.json) declares and the
    image does not hold where the lock puts them."""

    name = LOCK
    globs = ("/**/package-lock.json", "/**/npm-shrinkwrap.json")
    needs = NpmPackageCataloger.globs

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        if "/node_modules/" in entry.path:
            return ()
        lock_version, entries = read_lock(entry)
        root = posixpath.dirname(entry.path)
        merged: dict[tuple[str, str], tuple[Mapping[str, Any], bool]] = {}
        installed: set[tuple[str, str]] = set()
        for at, name, version, item in entries:
            if installed_at(view, root, at) == (name, version):
                installed.add((name, version))  # the installed package says it
                continue
            dev = bool(item.get("dev") or item.get("devOptional"))
            prior = merged.get((name, version))
            # One name@version may sit at several paths: it is dev only if every copy is.
            merged[(name, version)] = (item, dev if prior is None else prior[1] and dev)
        out = []
        for (name, version), (item, dev) in merged.items():
            if (name, version) in installed:
                continue  # installed at another of its paths
            extras = [("declared", "true"), ("lockfile-version", str(lock_version)),
                      *(kv for kv in lock_extras(item) if kv[0] != "dev")]
            if dev:
                extras.append(("dev", "true"))
            out.append(package(name, version, LOCK, entry.path, extras, licenses=licenses_of(item)))
        return out


# ---------------------------------------------------------------------------------------
# The project itself


class NpmProjectCataloger:
    """``npm-project``: a package.json outside node_modules that names a package and a
    version: the application (or a library's source tree) itself."""

    name = PROJECT
    globs = ("/**/package.json",)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        if "/node_modules/" in entry.path or _IN_SYSTEM_MODULES.match(entry.path):
            return ()  # installed packages and the folders inside them
        try:
            doc = load_json_object(entry, "package.json")
            name = _text(doc.get("name"), "name", entry.path)
            version = _text(doc.get("version"), "version", entry.path)
        except FormatError:
            return ()  # not package evidence (a fixture, a template): passed over
        if not name or not version or not valid_name(name) or len(version) > MAX_NAME:
            return ()
        extras = [("project", "true"), ("package-dir", posixpath.dirname(entry.path)),
                  *_described(doc)]
        if doc.get("private") is True:
            extras.append(("private", "true"))
        return (package(name, version, PROJECT, entry.path, extras, licenses=licenses_of(doc)),)
