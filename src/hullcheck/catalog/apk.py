"""Alpine-family packages from the apk database (``apk-db``).

Evidence: ``/lib/apk/db/installed`` — stanzas of ``X:value`` lines separated by blank
lines (``P`` name, ``V`` version, ``A`` arch, ``o`` origin, ``L`` licence, ``T``
description, ``m`` maintainer (the supplier), ``F`` a directory then ``R`` files in it, each ``R`` maybe
followed by ``Z``, the file's checksum as installed). A broken stanza is skipped, with an
``Unknown`` naming its line and why, and the others kept; a file with no readable stanza
raises ``FormatError`` so the runner records an ``Unknown``.

``Z`` is ``Q1`` and the base64 of a SHA1 (what apk writes), ``Q2`` and the base64 of a
SHA256, ``X1`` and the hex of a SHA1, or the hex of an MD5 (apk's oldest form). For a symlink
apk records the SHA1 of the link's target path, not of a file's content, so a path the image
shows as a symlink gets no digest. A checksum in none of these forms is left out and counted
in one ``Unknown`` per package.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from hullcheck import ecosystem
from hullcheck.catalog import license as lic
from hullcheck.catalog.base import BadStanza, Env, unknown, with_bad_stanzas
from hullcheck.catalog.supplier import supplier
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, Kind, View
from hullcheck.model import Location, Package, PackageType, SourcePackage, Unknown, file_digest

NAME = "apk-db"
INSTALLED = "/lib/apk/db/installed"
MAX_LINE = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One stanza: every ``X:value`` line in order (files need the F/R order)."""

    lines: tuple[tuple[str, str], ...]
    line: int

    def get(self, key: str) -> str:
        for k, v in self.lines:
            if k == key:
                return v
        return ""


def parse_records(text: str) -> tuple[list[Record], list[BadStanza]]:
    """Stanzas of the database, and each stanza that is unreadable."""
    records: list[Record] = []
    problems: list[BadStanza] = []
    current: list[tuple[str, str]] = []
    start = 0
    broken = ""
    for number, raw in enumerate([*text.splitlines(), ""], 1):
        line = raw.rstrip("\r")
        if not line.strip():
            if broken:
                problems.append(BadStanza(line=start, reason=broken))
            elif current:
                records.append(Record(lines=tuple(current), line=start))
            current, broken = [], ""
            continue
        if not current and not broken:
            start = number
        if broken:
            continue
        if len(line) < 2 or line[1] != ":" or len(line) > MAX_LINE:
            broken = f"line {number}: not an 'X:value' line"
            continue
        current.append((line[0], line[2:]))
    return records, problems


def licenses_of(field: str) -> tuple[str, ...]:
    """``L:`` as SPDX: a whole expression when it is one, else each space-separated word."""
    return lic.expression_or_words(field)


def files_of(record: Record) -> tuple[str, ...]:
    return contents_of(record).files


@dataclass(frozen=True, slots=True, kw_only=True)
class Contents:
    """The files of a stanza and what its Z: lines say of their content."""

    files: tuple[str, ...]
    digests: tuple[tuple[str, str], ...] = ()  # (path, digest) as R: and Z: lines give them
    bad: int = 0  # Z: lines that are not a checksum of a file
    first_bad: int = 0  # the first one's line number


def contents_of(record: Record) -> Contents:
    folder = ""
    files: list[str] = []
    digests: list[tuple[str, str]] = []
    current = ""  # the file the last R: line named
    bad = first = 0
    for number, (key, value) in enumerate(record.lines, record.line):
        if key == "F":
            folder = value.strip("/")
            current = ""
        elif key == "R":
            current = (f"/{folder}/{value}" if folder else f"/{value}") if value else ""
            if current:
                files.append(current)
        elif key == "Z":
            digest = checksum(value) if current else None
            if digest is None:
                bad += 1
                first = first or number
            else:
                digests.append((current, digest))
                current = ""  # one checksum per file
    return Contents(files=tuple(files), digests=tuple(digests), bad=bad, first_bad=first)


_CHECKSUM_BYTES = {"1": ("sha1", 20), "2": ("sha256", 32)}


def checksum(value: str) -> str | None:
    """A ``Z:`` value as a file digest ("sha1:<hex>"...); None when it is none of apk's forms."""
    value = value.strip()
    if value[:1] == "Q" and value[1:2] in _CHECKSUM_BYTES:
        algorithm, size = _CHECKSUM_BYTES[value[1:2]]
        if len(value) - 2 != (size + 2) // 3 * 4:  # base64 of exactly that many bytes
            return None
        try:
            raw = base64.b64decode(value[2:], validate=True)
        except (binascii.Error, ValueError):
            return None
        return f"{algorithm}:{raw.hex()}" if len(raw) == size else None
    if value[:2] == "X1":
        return file_digest("sha1", value[2:])
    return file_digest("md5", value)


def purl(name: str, version: str, arch: str, origin: str, env: Env) -> str:
    """``pkg:apk/<distro id>/<name>@<version>?arch=..&distro=<id>-<version>[&upstream=origin]``."""
    qualifiers = {}
    if arch:
        qualifiers["arch"] = arch
    if env.distro is not None:
        qualifiers["distro"] = env.distro.release
    if origin and origin != name:
        qualifiers["upstream"] = origin
    namespace = ecosystem.purl_namespace(env.distro, "alpine")
    return ecosystem.purl(PackageType.APK, name, version, namespace=namespace,
                          qualifiers=qualifiers)


def package_of(record: Record, evidence: str, env: Env,
               view: View | None = None) -> tuple[Package, str]:
    """The package of a stanza, and what of its checksums could not be read ("" when all).
    A path ``view`` shows as a symlink gets no digest (apk's is of the link's target)."""
    name = record.get("P").strip()
    version = record.get("V").strip()
    if not name or not version:
        raise FormatError(f"no {'P' if not name else 'V'} field")
    arch = record.get("A").strip()
    origin = record.get("o").strip()
    extras = [
        (key, record.get(field).strip()[:1000])
        for key, field in (("description", "T"), ("url", "U"),
                           ("installed-size", "I"), ("commit", "c"))
        if record.get(field).strip()
    ]
    contents = contents_of(record)
    digests = contents.digests
    if digests and view is not None:
        digests = tuple(d for d in digests if not _is_symlink(view, d[0]))
    problem = (f"{name}: {contents.bad} Z: line(s) that are not a file's checksum ignored "
               f"(the first is line {contents.first_bad})") if contents.bad else ""
    return Package(
        type=PackageType.APK,
        name=name,
        version=version,
        purl=purl(name, version, arch, origin, env),
        found_by=NAME,
        locations=(Location(path=evidence),),
        licenses=licenses_of(record.get("L")),
        supplier=supplier(record.get("m")),
        # Alpine's secdb is keyed by the origin package; its version is the binary's.
        source=SourcePackage(name=origin or name, version=version),
        arch=arch,
        files=contents.files,
        file_digests=tuple(sorted(set(digests))),
        extras=tuple(sorted(extras)),
    ), problem


def _is_symlink(view: View, path: str) -> bool:
    e = view.entry(path)
    return e is not None and e.kind is Kind.SYMLINK


class ApkCataloger:
    """``apk-db``: installed packages of Alpine, Wolfi, Chainguard... images."""

    name = NAME
    globs = (INSTALLED,)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        data = entry.content or b""
        if b"\0" in data:
            raise FormatError(f"{entry.path}: binary data in the apk database")
        records, problems = parse_records(data.decode("utf-8", errors="replace"))
        packages: list[Package | Unknown] = []
        for record in records:
            try:
                pkg, problem = package_of(record, entry.path, env, view)
            except FormatError as exc:
                problems.append(BadStanza(line=record.line, reason=str(exc)))
                continue
            packages.append(pkg)
            if problem:
                packages.append(unknown(NAME, problem))
        return with_bad_stanzas(packages, problems, entry.path, NAME)
