"""Alpine-family packages from the apk database (``apk-db``).

Evidence: ``/lib/apk/db/installed`` — stanzas of ``X:value`` lines separated by blank
lines (``P`` name, ``V`` version, ``A`` arch, ``o`` origin, ``L`` licence, ``T``
description, ``m`` maintainer, ``F`` a directory then ``R`` files in it). A broken
stanza is skipped and the others kept; a file with no readable stanza raises
``FormatError`` so the runner records an ``Unknown``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packageurl import PackageURL

from hullcheck.catalog import license as lic
from hullcheck.catalog.base import Env
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, View
from hullcheck.model import Location, Package, PackageType, SourcePackage

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


def parse_records(text: str) -> tuple[list[Record], list[tuple[int, str]]]:
    """Stanzas of the database, and (line, reason) for each stanza that is unreadable."""
    records: list[Record] = []
    problems: list[tuple[int, str]] = []
    current: list[tuple[str, str]] = []
    start = 0
    broken = ""
    for number, raw in enumerate([*text.splitlines(), ""], 1):
        line = raw.rstrip("\r")
        if not line.strip():
            if broken:
                problems.append((start, broken))
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
    folder = ""
    out: list[str] = []
    for key, value in record.lines:
        if key == "F":
            folder = value.strip("/")
        elif key == "R" and value:
            out.append(f"/{folder}/{value}" if folder else f"/{value}")
    return tuple(out)


def purl(name: str, version: str, arch: str, origin: str, env: Env) -> str:
    """``pkg:apk/<distro id>/<name>@<version>?arch=..&distro=<id>-<version>[&upstream=origin]``."""
    qualifiers = {}
    if arch:
        qualifiers["arch"] = arch
    if env.distro is not None:
        qualifiers["distro"] = env.distro.release
    if origin and origin != name:
        qualifiers["upstream"] = origin
    namespace = env.distro.id if env.distro is not None else "alpine"
    return PackageURL(type="apk", namespace=namespace, name=name, version=version,
                      qualifiers=qualifiers).to_string()


def package_of(record: Record, evidence: str, env: Env) -> Package:
    name = record.get("P").strip()
    version = record.get("V").strip()
    if not name or not version:
        raise FormatError(f"stanza at line {record.line}: no {'P' if not name else 'V'} field")
    arch = record.get("A").strip()
    origin = record.get("o").strip()
    extras = [
        (key, record.get(field).strip()[:1000])
        for key, field in (("description", "T"), ("maintainer", "m"), ("url", "U"),
                           ("installed-size", "I"), ("commit", "c"))
        if record.get(field).strip()
    ]
    return Package(
        type=PackageType.APK,
        name=name,
        version=version,
        purl=purl(name, version, arch, origin, env),
        found_by=NAME,
        locations=(Location(path=evidence),),
        licenses=licenses_of(record.get("L")),
        # Alpine's secdb is keyed by the origin package; its version is the binary's.
        source=SourcePackage(name=origin or name, version=version),
        arch=arch,
        files=files_of(record),
        extras=tuple(sorted(extras)),
    )


class ApkCataloger:
    """``apk-db``: installed packages of Alpine, Wolfi, Chainguard... images."""

    name = NAME
    globs = (INSTALLED,)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        data = entry.content or b""
        if b"\0" in data:
            raise FormatError(f"{entry.path}: binary data in the apk database")
        records, problems = parse_records(data.decode("utf-8", errors="replace"))
        packages: list[Package] = []
        for record in records:
            try:
                packages.append(package_of(record, entry.path, env))
            except FormatError as exc:
                problems.append((record.line, str(exc)))
        if problems and not packages:
            raise FormatError(f"{entry.path}: no readable stanza ({problems[0][1]})")
        return packages
