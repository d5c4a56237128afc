"""PHP packages from Composer: installed ones (``php-composer-installed``) and
lock-declared ones (``php-composer-lock``).

``vendor/composer/installed.json`` is what Composer wrote when it installed the
``vendor/`` folder: a plain list of packages (Composer 1) or
``{"packages": [...], "dev": bool, "dev-package-names": [...]}`` (Composer 2).
``composer.lock`` holds ``packages`` and ``packages-dev``: what *would* be installed, so
those packages carry ``declared=true`` in extras. Development packages carry
``dev=true``. The version is kept as Composer wrote it (``v6.4.3``, ``dev-main``);
``version_normalized`` and the source reference are display extras.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Iterable, Mapping

from hullcheck import ecosystem
from hullcheck.catalog import license as lic
from hullcheck.catalog.base import Env, check_found, load_json
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType, Unknown

INSTALLED = "php-composer-installed"
LOCK = "php-composer-lock"
MAX_PACKAGES = 100_000
MAX_FIELD = 200
_NAME = re.compile(r"[a-z0-9](?:[_.-]?[a-z0-9]+)*/[a-z0-9](?:(?:[_.]|-{1,2})?[a-z0-9]+)*\Z")


def _package(item: object, index: int, evidence: str, found_by: str, *, dev: bool,
             declared: bool) -> Package | Unknown:
    where = f"package {index}"
    if not isinstance(item, Mapping):
        return Unknown(location=Location(path=""), cataloger=found_by,
                       reason=f"{where} is not an object")
    name, version = item.get("name"), item.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not version.strip():
        return Unknown(location=Location(path=""), cataloger=found_by,
                       reason=f"{where}: no name or version")
    name, version = name.strip().lower(), version.strip()
    if not _NAME.match(name) or len(name) > MAX_FIELD or len(version) > MAX_FIELD \
            or any(c.isspace() for c in version):
        return Unknown(location=Location(path=""), cataloger=found_by,
                       reason=f"{where}: implausible name or version {name[:80]!r}")
    extras: list[tuple[str, str]] = []
    if declared:
        extras.append(("declared", "true"))
    if dev:
        extras.append(("dev", "true"))
    for key in ("version_normalized", "type", "install-path"):
        value = item.get(key)
        if isinstance(value, str) and value:
            extras.append((key, value[:1000]))
    for key in ("source", "dist"):
        value = item.get(key)
        if isinstance(value, Mapping):
            for sub in ("type", "url", "reference"):
                part = value.get(sub)
                if isinstance(part, str) and part:
                    extras.append((f"{key}-{sub}", part[:1000]))
    raw_license = item.get("license")
    licenses = lic.normalise_all(raw_license if isinstance(raw_license, list) else [raw_license])
    return Package(
        type=PackageType.COMPOSER,
        name=name,
        version=version,
        purl=ecosystem.purl(PackageType.COMPOSER, name, version),
        found_by=found_by,
        locations=(Location(path=evidence),),
        licenses=licenses,
        extras=tuple(sorted(extras)),
    )


def _packages(items: object, field: str, evidence: str, found_by: str,
              dev_names: frozenset[str] | None, *, dev: bool, declared: bool,
              ) -> list[Package | Unknown]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise FormatError(f"{evidence}: {field} is not a list")
    if len(items) > MAX_PACKAGES:
        raise FormatError(f"{evidence}: {len(items)} packages (limit {MAX_PACKAGES})")
    out: list[Package | Unknown] = []
    for i, item in enumerate(items):
        is_dev = dev
        if dev_names is not None and isinstance(item, Mapping):
            is_dev = str(item.get("name", "")).lower() in dev_names
        out.append(_package(item, i, evidence, found_by, dev=is_dev, declared=declared))
    return out


class ComposerInstalledCataloger:
    """``php-composer-installed``: packages Composer installed into a vendor folder."""

    name = INSTALLED
    globs = ("/**/vendor/composer/installed.json",)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        doc = load_json(entry, "installed.json")
        if isinstance(doc, list):  # Composer 1
            found = _packages(doc, "installed.json", entry.path, INSTALLED, None,
                              dev=False, declared=False)
        elif isinstance(doc, Mapping):  # Composer 2
            names = doc.get("dev-package-names")
            dev_names = frozenset(str(n).lower() for n in names) \
                if isinstance(names, list) else frozenset()
            found = _packages(doc.get("packages"), "packages", entry.path, INSTALLED,
                              dev_names, dev=False, declared=False)
        else:
            raise FormatError(f"{entry.path}: installed.json is neither a list nor an object")
        vendor = posixpath.dirname(posixpath.dirname(entry.path))
        out: list[Package | Unknown] = []
        for p in check_found(found, entry.path):
            if isinstance(p, Package):
                extras = tuple(sorted((*p.extras, ("vendor-dir", vendor))))
                p = dataclasses.replace(p, extras=extras)  # noqa: PLW2901
            out.append(p)
        return out


class ComposerLockCataloger:
    """``php-composer-lock``: packages a composer.lock declares."""

    name = LOCK
    globs = ("/**/composer.lock",)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        if "/vendor/" in entry.path:
            return ()  # a dependency's own lock, shipped inside vendor/
        doc = load_json(entry, "composer.lock")
        if not isinstance(doc, Mapping):
            raise FormatError(f"{entry.path}: composer.lock is not a JSON object")
        found = _packages(doc.get("packages"), "packages", entry.path, LOCK, None,
                          dev=False, declared=True)
        found += _packages(doc.get("packages-dev"), "packages-dev", entry.path, LOCK, None,
                           dev=True, declared=True)
        return check_found(found, entry.path)
