"""JavaScript lock files besides npm's: ``yarn.lock`` (``javascript-yarn-lock``) and
``pnpm-lock.yaml`` (``javascript-pnpm-lock``).

A lock says what *would* be installed; ``npm-package`` reports what node_modules actually
holds. As for npm's lock (see ``npm``): a package the lock declares and the project's
``node_modules`` holds (same name and version, anywhere under it: these locks do not record
install paths) is reported once, by ``npm-package``, with the lock as its second location;
the others are reported here, marked ``declared=true``. Only registry
packages are reported; workspace, link, file, git and tarball-URL entries are not
packages anyone publishes advisories for, and patched copies (``patch:``) repeat the
registry entry they patch.

* yarn v1 (``# yarn lockfile v1``): its own indented format, read line by line.
* yarn berry (v2+, ``__metadata:``): YAML; the ``resolution`` (``NAME@npm:VERSION``)
  is authoritative.
* pnpm: ``packages`` keys ``/NAME/VERSION[_peers]`` (lockfile 5.x),
  ``/NAME@VERSION[(peers)]`` (6.x) and ``NAME@VERSION`` (9.x).

YAML is read with a ``yaml.SafeLoader`` tightened for hostile input: no aliases (a
"billion laughs" document cannot expand), bounded nesting, and every plain scalar
kept as a string (``version: 1.10`` stays ``"1.10"``).
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from hullcheck.catalog import npm
from hullcheck.catalog.base import Env, check_found, unknown
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, Kind, View
from hullcheck.model import Package, Unknown

YARN = "javascript-yarn-lock"
PNPM = "javascript-pnpm-lock"
MAX_DEPTH = 64
MAX_YAML = 16 << 20  # pure-Python YAML reads ~1 MB/s: a larger lock is an Unknown, not a stall
MAX_PACKAGES = 200_000
_VERSION = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?\Z")  # semver as npm publishes it


# ---------------------------------------------------------------------------------------
# Bounded YAML


@functools.cache
def _loader_class() -> Any:
    """The bounded loader, built on first use: PyYAML costs ~10 ms to import, and most
    images have no pnpm lock file."""
    import yaml

    class _Loader(yaml.SafeLoader):
        """SafeLoader without aliases, with bounded depth, plain scalars as strings."""

        yaml_implicit_resolvers: dict[Any, Any] = {}  # no implicit types: scalars are str

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                # types-PyYAML leaves peek_event unannotated.
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise FormatError(f"YAML alias at line {event.start_mark.line + 1}: not allowed")
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise FormatError(f"YAML nested over {MAX_DEPTH} levels")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    return _Loader


def load_yaml(entry: FileEntry, what: str) -> Mapping[str, Any]:
    """A YAML mapping (one document); FormatError for anything else."""
    if entry.size > MAX_YAML:
        raise FormatError(f"{entry.path}: {what} of {entry.size} bytes is over {MAX_YAML}")
    text = (entry.content or b"").decode("utf-8-sig", errors="replace")
    import yaml

    loader = _loader_class()(text)
    try:
        doc = loader.get_single_data()
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())[:200]
        raise FormatError(f"{entry.path}: {what} is not valid YAML ({first})") from None
    finally:
        loader.dispose()
    if not isinstance(doc, Mapping):
        raise FormatError(f"{entry.path}: {what} is not a YAML mapping")
    return doc


# ---------------------------------------------------------------------------------------
# Names, specs and packages


def split_spec(spec: str) -> tuple[str, str]:
    """``"@scope/name@range"`` → ``("@scope/name", "range")``; the range may be empty."""
    at = spec.find("@", 1)
    return (spec, "") if at < 0 else (spec[:at], spec[at + 1:])


def _registry_range(range_: str) -> bool:
    """A range resolved against the registry (not git, file, link, workspace or a URL)."""
    if range_.startswith("npm:"):
        range_ = range_[4:]
        if "@" in range_[1:]:  # an alias: npm:real-name@range
            range_ = split_spec(range_)[1]
    return ":" not in range_ and "/" not in range_ and "#" not in range_


def _package(name: str, version: str, found_by: str, evidence: str,
             extras: list[tuple[str, str]]) -> Package:
    return npm.package(name, version, found_by, evidence, [("declared", "true"), *extras])


def _check(found: list[Package | Unknown], path: str) -> list[Package | Unknown]:
    return check_found(found, path, limit=MAX_PACKAGES)


# ---------------------------------------------------------------------------------------
# yarn.lock


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"')
    return text


def yarn_v1_entries(text: str) -> Iterator[tuple[int, list[str], dict[str, str]]]:
    """(line, specs, fields) of every top-level entry of a yarn v1 lock. Nested blocks
    (``dependencies:``) are skipped; field values are unquoted."""
    specs: list[str] = []
    fields: dict[str, str] = {}
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            if specs:
                yield start, specs, fields
            head = line.rstrip()
            specs = [_unquote(s) for s in head.removesuffix(":").split(",")] \
                if head.endswith(":") else [head]
            fields, start = {}, number
            continue
        if line.startswith("  ") and not line.startswith("   ") and specs:
            key, _, value = line.strip().partition(" ")
            if value and not key.endswith(":"):
                fields[_unquote(key)] = _unquote(value)[:2000]
    if specs:
        yield start, specs, fields


def parse_yarn_v1(text: str, path: str) -> list[Package | Unknown]:
    out: list[Package | Unknown] = []
    for number, specs, fields in yarn_v1_entries(text):
        name, range_ = split_spec(specs[0])
        if range_.startswith("npm:") and "@" in range_[5:]:
            name = split_spec(range_[4:])[0]  # "alias@npm:real@^1" installs real
        version = fields.get("version", "")
        if not version or not npm.valid_name(name):
            out.append(unknown(YARN, f"line {number}: entry {specs[0][:80]!r} has no "
                                     "readable name or version"))
            continue
        if not _registry_range(range_) or not _VERSION.match(version):
            continue
        extras = [("lockfile-version", "1")]
        for key in ("resolved", "integrity"):
            if fields.get(key):
                extras.append((key, fields[key]))
        out.append(_package(name, version, YARN, path, extras))
    return out


def parse_yarn_berry(doc: Mapping[str, Any], path: str) -> list[Package | Unknown]:
    meta = doc.get("__metadata")
    lock_version = str(meta.get("version", "")) if isinstance(meta, Mapping) else ""
    out: list[Package | Unknown] = []
    for key, entry in doc.items():
        if key == "__metadata":
            continue
        if not isinstance(entry, Mapping):
            out.append(unknown(YARN, f"entry {str(key)[:80]!r} is not a mapping"))
            continue
        resolution = entry.get("resolution")
        if not isinstance(resolution, str):
            out.append(unknown(YARN, f"entry {str(key)[:80]!r} has no resolution"))
            continue
        name, ref = split_spec(resolution)
        if not ref.startswith("npm:"):
            continue  # workspace:, patch:, git, file:, link:, portal:, exec:
        version = ref[4:]
        if not npm.valid_name(name) or not _VERSION.match(version):
            out.append(unknown(YARN, f"entry {str(key)[:80]!r}: unreadable resolution "
                                     f"{resolution[:80]!r}"))
            continue
        extras = [("lockfile-version", f"berry-{lock_version}" if lock_version else "berry")]
        checksum = entry.get("checksum")
        if isinstance(checksum, str) and checksum:
            extras.append(("checksum", checksum[:2000]))
        out.append(_package(name, version, YARN, path, extras))
    return out


def read_yarn(entry: FileEntry) -> list[Package | Unknown]:
    """Every registry package a yarn.lock (v1 or berry) declares."""
    data = entry.content or b""
    if b"\0" in data[:8192]:
        raise FormatError(f"{entry.path}: binary data in a yarn.lock")
    head = data[:4096]
    if b"__metadata:" in data[:65536] and b"# yarn lockfile v1" not in head:
        return parse_yarn_berry(load_yaml(entry, "yarn.lock"), entry.path)
    return parse_yarn_v1(data.decode("utf-8", errors="replace"), entry.path)


def not_installed(found: list[Package | Unknown], view: View, lock_path: str
                  ) -> list[Package | Unknown]:
    """``found`` without the packages the project's node_modules holds (``npm-package``
    reports those, with the lock added to their locations)."""
    if not any(isinstance(p, Package) for p in found):
        return found
    installed = npm.installed_under(view, posixpath.dirname(lock_path))
    return [p for p in found if not isinstance(p, Package) or (p.name, p.version) not in installed]


class YarnLockCataloger:
    """``javascript-yarn-lock``: packages a yarn.lock (v1 or berry) declares and the project
    does not hold installed."""

    name = YARN
    globs = ("/**/yarn.lock",)
    needs = npm.NpmPackageCataloger.globs

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        if "/node_modules/" in entry.path:
            return ()  # a dependency's own lock
        return not_installed(_check(read_yarn(entry), entry.path), view, entry.path)


# ---------------------------------------------------------------------------------------
# pnpm-lock.yaml


def pnpm_key(key: str, major: int) -> tuple[str, str] | None:
    """(name, version) of a ``packages`` key; None for non-registry keys."""
    if major < 6:
        # "/name/1.2.3", "/@scope/name/1.2.3_peer@1.0.0"; other hosts: "host/name/1.2.3"
        if not key.startswith("/"):
            return None
        parts = key[1:].split("/")
        if parts[0].startswith("@"):
            if len(parts) != 3:
                return None
            name, version = f"{parts[0]}/{parts[1]}", parts[2]
        else:
            if len(parts) != 2:
                return None
            name, version = parts
        return name, version.split("_", 1)[0]
    name, version = split_spec(key.removeprefix("/") if major < 9 else key)
    return name, version.split("(", 1)[0]


def parse_pnpm(doc: Mapping[str, Any], path: str) -> list[Package | Unknown]:
    raw_version = str(doc.get("lockfileVersion", "")).strip("'\"")
    m = re.match(r"(\d+)(?:\.\d+)?\Z", raw_version)
    if m is None:
        raise FormatError(f"{path}: unsupported lockfileVersion {raw_version[:40]!r}")
    major = int(m.group(1))
    if not 5 <= major <= 9:
        raise FormatError(f"{path}: unsupported lockfileVersion {raw_version!r}")
    packages = doc.get("packages") or {}
    if not isinstance(packages, Mapping):
        raise FormatError(f"{path}: packages is not a mapping")
    merged: dict[tuple[str, str], tuple[bool | None, str]] = {}
    out: list[Package | Unknown] = []
    for key, entry in packages.items():
        key = str(key)  # noqa: PLW2901
        parsed = pnpm_key(key, major)
        if parsed is None:
            continue
        name, version = parsed
        if not _VERSION.match(version):
            continue  # tarball URLs, git hosts, file: and link: dependencies
        if not npm.valid_name(name):
            out.append(unknown(PNPM, f"packages[{key[:80]!r}]: unreadable package key"))
            continue
        entry = entry if isinstance(entry, Mapping) else {}  # noqa: PLW2901
        resolution = entry.get("resolution")
        if isinstance(resolution, Mapping) and resolution.get("tarball") \
                and not resolution.get("integrity"):
            continue  # a tarball from a URL, not from the registry
        integrity = resolution.get("integrity") if isinstance(resolution, Mapping) else None
        dev_field = entry.get("dev")
        dev = None if dev_field is None else str(dev_field).lower() == "true"
        prior = merged.get((name, version))
        if prior is not None and prior[0] is not None and dev is not None:
            dev = prior[0] and dev  # dev only when every copy (peer variant) is
        merged[(name, version)] = (dev, str(integrity or "")[:2000])
    for (name, version), (dev, integrity) in merged.items():
        extras = [("lockfile-version", raw_version)]
        if dev:
            extras.append(("dev", "true"))
        if integrity:
            extras.append(("integrity", integrity))
        out.append(_package(name, version, PNPM, path, extras))
    return out


def read_pnpm(entry: FileEntry) -> list[Package | Unknown]:
    """Every registry package a pnpm-lock.yaml declares."""
    data = entry.content or b""
    if b"\0" in data[:8192]:
        raise FormatError(f"{entry.path}: binary data in a pnpm-lock.yaml")
    return parse_pnpm(load_yaml(entry, "pnpm-lock.yaml"), entry.path)


class PnpmLockCataloger:
    """``javascript-pnpm-lock``: packages a pnpm-lock.yaml declares and the project does not
    hold installed."""

    name = PNPM
    globs = ("/**/pnpm-lock.yaml",)
    needs = npm.NpmPackageCataloger.globs

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        if "/node_modules/" in entry.path:
            return ()
        return not_installed(_check(read_pnpm(entry), entry.path), view, entry.path)


# ---------------------------------------------------------------------------------------
# What a project's yarn or pnpm lock says of an installed package

_READERS: tuple[tuple[str, Callable[[FileEntry], list[Package | Unknown]]], ...] = (
    ("yarn.lock", read_yarn), ("pnpm-lock.yaml", read_pnpm))


def _by_version(read: Callable[[FileEntry], list[Package | Unknown]]
                ) -> Callable[[FileEntry], Mapping[tuple[str, str], tuple[tuple[str, str], ...]]]:
    def index(lock: FileEntry) -> Mapping[tuple[str, str], tuple[tuple[str, str], ...]]:
        try:
            found = read(lock)
        except FormatError:
            return {}  # the lock's own cataloger reports why
        return {(p.name, p.version): tuple(kv for kv in p.extras
                                           if kv[0] in ("dev", "resolved", "integrity"))
                for p in found if isinstance(p, Package)}
    return index


_INDEXES = {name: _by_version(read) for name, read in _READERS}


def declared(view: View, root: str, name: str, version: str) -> npm.Declared | None:
    """What the yarn or pnpm lock of the project at ``root`` says of ``name@version``."""
    for lock_name, _ in _READERS:
        path = f"{root}/{lock_name}"
        lock = view.lookup(path)
        if lock is None or lock.kind is not Kind.FILE or lock.content is None:
            continue
        extras = npm.parsed_once(lock, lock_name, _INDEXES[lock_name]).get((name, version))
        if extras is not None:
            return npm.Declared(lock=path, extras=extras)
    return None
