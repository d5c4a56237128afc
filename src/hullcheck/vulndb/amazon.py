"""Amazon Linux Security Advisories (ALAS) from a yum repository's ``updateinfo.xml[.gz]``.

Amazon publishes its advisories in each repository's metadata (and as web pages), not in
OSV. The format is yum's updateinfo::

    <updates><update type="security">
      <id>ALAS2-2018-951</id> <title>...</title> <severity>important</severity>
      <issued date="2018-03-22 15:57:00"/> <updated date="..."/>
      <references><reference type="cve" id="CVE-2018-1000120" href="..."/></references>
      <pkglist><collection short="amazon-linux-2"><name>Amazon Linux 2</name>
        <package name="curl" epoch="0" version="7.55.1" release="9.amzn2.0.1" arch="x86_64">
          <filename>...</filename></package>
      </collection></pkglist>
    </update></updates>

Each security update becomes one advisory (its ALAS id, the CVEs it fixes as aliases, the
severity word as the database's) with one ``Affected`` per package name: ecosystem
``Amazon Linux:<release>`` (the release from the id: ``ALAS2023-`` is 2023, ``ALAS2...-``
is 2, ``ALAS-`` is 1), fixed at ``epoch:version-release``. Other update types (bug fixes,
enhancements) are not advisories and are skipped.

Files are streamed (``.gz`` by its magic bytes), never read whole, with the DTD refused
(defusedxml: no entity expansion) and the decompressed size capped.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from hullcheck.errors import FormatError
from hullcheck.vulndb.model import (
    Advisory,
    Affected,
    DistroStatus,
    Event,
    EventKind,
    Range,
    RangeType,
    Reference,
)

ECOSYSTEM = "Amazon Linux"
MAX_XML = 4 * 1024 * 1024 * 1024  # decompressed bytes of one updateinfo file
# ALAS-2018-1000 (AL1), ALAS2-2018-951, ALAS2023-2024-100, ALAS2KERNEL-5.10-2022-001
_ID = re.compile(r"ALAS(?P<release>2023|2022|2)?[A-Z0-9]*(?:-[0-9.]+)?-\d{4}-\d+")
_CVE = re.compile(r"CVE-\d{4}-\d+")
_NAME = re.compile(r"[A-Za-z0-9._+-]{1,200}")
_VR = re.compile(r"[A-Za-z0-9._+~^]{1,128}")  # a version or release never holds "-"
_SUFFIXES = (".xml", ".xml.gz")


def read(paths: Path | Iterable[Path], *, source: str,
         errors: list[FormatError]) -> Iterator[Advisory]:
    """Advisories from updateinfo files, or directories of them (``*.xml``, ``*.xml.gz``)."""
    for path in [paths] if isinstance(paths, Path) else paths:
        files = sorted(p for p in path.rglob("*") if p.name.endswith(_SUFFIXES)) \
            if path.is_dir() else [path]
        for file in files:
            yield from _file(file, source, errors)


def _file(path: Path, source: str, errors: list[FormatError]) -> Iterator[Advisory]:
    try:
        with _open(path) as stream:
            for _, el in iterparse(stream, events=("end",), forbid_dtd=True):
                if _local(el.tag) != "update":
                    continue
                try:
                    advisory = _update(el, source)
                except FormatError as exc:
                    errors.append(FormatError(f"{path}: {exc}"))
                    advisory = None
                el.clear()
                if advisory is not None:
                    yield advisory
    except DefusedXmlException:
        errors.append(FormatError(f"{path}: not a readable updateinfo file (it declares a DTD "
                                  "or entities, which updateinfo never needs: refused)"))
    except ParseError as exc:
        errors.append(FormatError(f"{path}: not a readable updateinfo file ({exc})"))
    except (OSError, EOFError) as exc:
        errors.append(FormatError(f"{path}: cannot read ({exc})"))


class _Capped:
    """A binary stream that raises past ``limit`` bytes (a gzip bomb stops there)."""

    def __init__(self, raw: IO[bytes] | gzip.GzipFile, limit: int, what: str) -> None:
        self.raw, self.left, self.what = raw, limit, what

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n if n >= 0 else 1 << 20)
        self.left -= len(data)
        if self.left < 0:
            raise OSError(f"{self.what} decompresses to more than {MAX_XML} bytes")
        return data

    def __enter__(self) -> _Capped:
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.close()


def _open(path: Path) -> _Capped:
    with path.open("rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    raw = gzip.open(path, "rb") if gzipped else path.open("rb")  # noqa: SIM115 - _Capped closes it
    return _Capped(raw, MAX_XML, str(path))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: Element, name: str) -> Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _text(el: Element, name: str) -> str:
    c = _child(el, name)
    return (c.text or "").strip() if c is not None else ""


def _date(el: Element, name: str) -> str:
    """"2018-03-22 15:57:00" -> "2018-03-22T15:57:00Z" (updateinfo dates are UTC)."""
    c = _child(el, name)
    value = (c.get("date") or "").strip() if c is not None else ""
    return value.replace(" ", "T") + "Z" if re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?",
                                                         value) else ""


def _update(el: Element, source: str) -> Advisory | None:
    if (el.get("type") or "").lower() != "security":
        return None
    aid = _text(el, "id")
    m = _ID.fullmatch(aid)
    if m is None:
        raise FormatError(f"update id {aid[:80]!r} is not an ALAS id")
    release = m.group("release") or ("2" if aid.startswith("ALAS2") else "1")
    eco = f"{ECOSYSTEM}:{release}"
    cves: list[str] = []
    refs = _child(el, "references")
    for ref in refs if refs is not None else ():
        if (ref.get("type") or "").lower() == "cve":
            cve = (ref.get("id") or ref.get("title") or "").strip().upper()
            if _CVE.fullmatch(cve):
                cves.append(cve)
    fixed: dict[str, str] = {}  # package name -> epoch:version-release
    pkglist = _child(el, "pkglist")
    for collection in pkglist if pkglist is not None else ():
        for pkg in collection:
            if _local(pkg.tag) == "package":
                name, evr = _package(pkg, aid)
                fixed.setdefault(name, evr)
    if not fixed:
        raise FormatError(f"{aid}: no packages")
    return Advisory(
        id=aid,
        source=source,
        aliases=tuple(dict.fromkeys(cves)),
        summary=_text(el, "title")[:1000],
        details=_text(el, "description")[:4000],
        published=_date(el, "issued"),
        modified=_date(el, "updated") or _date(el, "issued"),
        database_severity=_text(el, "severity").lower(),
        references=(Reference(type="ADVISORY", url=_alas_url(aid, release)),),
        affected=tuple(_affected(eco, name, evr) for name, evr in sorted(fixed.items())),
    )


def _package(pkg: Element, aid: str) -> tuple[str, str]:
    attrs: dict[str, Any] = {k: (pkg.get(k) or "").strip()
                             for k in ("name", "epoch", "version", "release")}
    name, version, release = attrs["name"], attrs["version"], attrs["release"]
    epoch = attrs["epoch"] or "0"
    if not (_NAME.fullmatch(name) and _VR.fullmatch(version) and _VR.fullmatch(release)
            and epoch.isdigit()):
        raise FormatError(f"{aid}: package {name[:60]!r} needs name, numeric epoch, "
                          "version and release")
    return name, f"{epoch}:{version}-{release}"


def _affected(eco: str, name: str, evr: str) -> Affected:
    rng = Range(type=RangeType.ECOSYSTEM, events=(Event(kind=EventKind.INTRODUCED, value="0"),
                                                   Event(kind=EventKind.FIXED, value=evr)))
    return Affected(ecosystem=eco, package=name, ranges=(rng,), status=DistroStatus.FIXED)


def _alas_url(aid: str, release: str) -> str:
    """The advisory's page: ALAS2-2018-951 is alas.aws.amazon.com/AL2/ALAS-2018-951.html,
    AL1's ALAS-2018-1000 is alas.aws.amazon.com/ALAS-2018-1000.html."""
    if release == "1":
        return f"https://alas.aws.amazon.com/{aid}.html"
    return f"https://alas.aws.amazon.com/AL{release}/{aid.replace(f'ALAS{release}', 'ALAS', 1)}.html"
