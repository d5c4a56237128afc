"""rpm-db: installed RPM packages, from the rpm database itself (no ``rpm`` binary).

Evidence: ``rpmdb.sqlite`` (SQLite), ``Packages`` (Berkeley DB hash) or ``Packages.db``
(NDB) under ``/var/lib/rpm``, ``/usr/lib/sysimage/rpm`` or ``/usr/share/rpm``; the
backend is recognised by the file's magic, not its name (see ``catalog/rpmdb``).

How a package is written, following Syft so SBOMs and purls line up:

* ``version`` is ``[epoch:]version-release``; the epoch appears when the package's
  header has an EPOCH tag (even ``0``), as ``rpm -q --qf '%{EPOCH}'`` shows it.
* ``source`` comes from SOURCERPM ``name-version-release.src.rpm``: the source
  package's name and ``[epoch:]version-release``. A source RPM's file name never carries
  the epoch; binary and source are built from one spec, so the binary's epoch is used.
* purl: ``pkg:rpm/<namespace>/<name>@<version>-<release>?arch=..&distro=<id>-<version_id>
  &epoch=<n>&upstream=<sourcerpm>``; the namespace is the os-release ID, except
  ``rhel`` → ``redhat`` and ``opensuse-*`` → ``opensuse``. The epoch is a qualifier, never
  part of the purl version (purl-spec RPM type).
* ``gpg-pubkey`` entries (imported signing keys, not packages) are skipped.
* The licence is an SPDX expression when it is one (``MIT``, ``GPL-2.0-or-later``, or a
  deprecated SPDX id such as ``LGPL-2.1+``), else the text as rpm has it (``GPLv2+``,
  ``ASL 2.0``, plain ``GPL``). Every id must be an SPDX id as written (any case):
  license-expression's own aliases are not, so ``GPL`` is never read as GPL-1.0-or-later.

* The supplier is the VENDOR, else the PACKAGER: an organisation.

* ``file_digests``: each file's digest as the header records it (FILEDIGESTS, in the
  FILEDIGESTALGO algorithm: MD5 on old rpms, SHA256 on current ones); directories and
  symlinks have none.

A malformed database or header raises ``FormatError``; the runner records an Unknown. File
digests that cannot be read only lose the digests: an Unknown beside the package says why.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from hullcheck import ecosystem
from hullcheck.catalog.base import Env, unknown
from hullcheck.catalog.rpmdb import RpmHeader, read_headers
from hullcheck.catalog.supplier import supplier
from hullcheck.filetree import FileEntry, View
from hullcheck.licenses import only_spdx_ids
from hullcheck.licenses import validate as validate_license
from hullcheck.model import (
    Distro,
    Location,
    Package,
    PackageType,
    SourcePackage,
    SupplierKind,
    Unknown,
)

_DIRS = ("/var/lib/rpm", "/usr/lib/sysimage/rpm", "/usr/share/rpm")
_FILES = ("rpmdb.sqlite", "Packages", "Packages.db")
GLOBS = tuple(f"{d}/{f}" for d in _DIRS for f in _FILES)
PSEUDO_PACKAGES = frozenset({"gpg-pubkey"})
MAX_LICENSE = 10_000  # a longer licence text is kept as text, never handed to the parser


def evr(epoch: int | None, version: str, release: str) -> str:
    """``[epoch:]version[-release]``."""
    vr = f"{version}-{release}" if release else version
    return f"{epoch}:{vr}" if epoch is not None else vr


def purl_namespace(distro: Distro | None) -> str:
    return ecosystem.purl_namespace(distro, "")  # THE table's column


def parse_source_rpm(source_rpm: str, epoch: int | None) -> SourcePackage | None:
    """``name-version-release.src.rpm`` → SourcePackage; None when it is not of that form."""
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if source_rpm.endswith(suffix):
            stem = source_rpm[: -len(suffix)]
            break
    else:
        return None
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return None
    name, version, release = parts
    return SourcePackage(name=name, version=evr(epoch, version, release))


@functools.lru_cache(maxsize=4096)
def normalise_license(text: str) -> str:
    """The SPDX expression ``text`` denotes, or ``text`` itself when it is not one."""
    text = text.strip()
    if not text:
        return ""
    if len(text) > MAX_LICENSE or not only_spdx_ids(text):
        return text
    info = validate_license(text)  # strict, as license-expression validates by default
    if info is None or info.errors or info.invalid_symbols or not info.normalized_expression:
        return text
    return str(info.normalized_expression)


def package_of(h: RpmHeader, path: str, layer: int | None, distro: Distro | None) -> Package:
    qualifiers = {}
    if h.arch:
        qualifiers["arch"] = h.arch
    if h.epoch is not None:
        qualifiers["epoch"] = str(h.epoch)
    if h.source_rpm:
        qualifiers["upstream"] = h.source_rpm
    if distro is not None:
        qualifiers["distro"] = distro.release
    purl = ecosystem.purl(PackageType.RPM, h.name, evr(None, h.version, h.release),
                          namespace=purl_namespace(distro), qualifiers=qualifiers)
    extras = []
    if h.size is not None:
        extras.append(("size", str(h.size)))
    if h.source_rpm:
        extras.append(("sourcerpm", h.source_rpm))
    if h.modularity_label:
        extras.append(("modularitylabel", h.modularity_label))  # match/distros.py reads it
    licence = normalise_license(h.license)
    return Package(
        type=PackageType.RPM,
        name=h.name,
        version=evr(h.epoch, h.version, h.release),
        purl=purl,
        found_by=RpmDbCataloger.name,
        locations=(Location(path=path, layer=layer),),
        licenses=(licence,) if licence else (),
        # The Vendor ("Red Hat, Inc."), else who packaged it: a distribution's build team
        # ("Release Engineering <...>", "Fedora Project"), an organisation as Syft has it.
        supplier=supplier(h.vendor or h.packager, SupplierKind.ORGANIZATION),
        source=parse_source_rpm(h.source_rpm, h.epoch),
        arch=h.arch,
        files=h.files,
        file_digests=h.file_digests,
        extras=tuple(sorted(extras)),
    )


class RpmDbCataloger:
    """Installed RPM packages from the rpm database (SQLite, Berkeley DB or NDB)."""

    name = "rpm-db"
    globs: tuple[str, ...] = GLOBS
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        data = entry.content or b""
        if not data:
            return []
        found: list[Package | Unknown] = []
        for h in read_headers(data):
            if h.name in PSEUDO_PACKAGES:
                continue
            found.append(package_of(h, entry.path, entry.layer, env.distro))
            if h.digest_problem:
                found.append(unknown(self.name, f"{h.name}: {h.digest_problem}"))
        return found
