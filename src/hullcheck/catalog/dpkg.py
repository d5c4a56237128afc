"""Debian packages from the dpkg database (``dpkg-db``).

Evidence: ``/var/lib/dpkg/status`` and, in distroless images, one file per package
under ``/var/lib/dpkg/status.d/`` (``NAME`` holds the stanza, ``NAME.md5sums`` the file
list). Supporting files: ``/var/lib/dpkg/info/NAME[:ARCH].list`` for owned files,
``/var/lib/dpkg/info/NAME[:ARCH].md5sums`` for their MD5 digests as installed (with the
stanza's ``Conffiles`` for the configuration files, which md5sums leaves out) and
``/usr/share/doc/NAME/copyright`` for licences: declared when it is machine-readable (DEP-5,
each short name as SPDX, a ``LicenseRef-`` id for the others), else detected in its text
(``catalog.license.detect``, with a confidence). The ``Maintainer`` is the supplier.

Only installed packages count (``Status: install|hold ok installed``). A stanza that
cannot be read is skipped, with an ``Unknown`` naming its line and why, and the others are
kept; a file with no readable stanza at all raises ``FormatError`` so the runner records
an ``Unknown``. md5sums lines that cannot be read (not 32 hex digits, two spaces and a
path) are left out, of the file list (distroless) as of the digests, and counted in one
``Unknown`` per md5sums file beside the package.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hullcheck import deadline, ecosystem
from hullcheck.catalog import license as lic
from hullcheck.catalog.base import BadStanza, Env, unknown, with_bad_stanzas
from hullcheck.catalog.supplier import supplier
from hullcheck.errors import FormatError
from hullcheck.filetree import ContentSink, FileEntry, Kind, View
from hullcheck.licenses import license_ref
from hullcheck.licenses import validate as validate_license
from hullcheck.model import (
    DetectedLicense,
    Location,
    Package,
    PackageType,
    SourcePackage,
    Unknown,
    file_digest,
)

NAME = "dpkg-db"
STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d/"
INFO = "/var/lib/dpkg/info/"
DOC = "/usr/share/doc/"
DEBIAN_VERSION = "/etc/debian_version"  # Debian and its derivatives (Ubuntu, distroless)
INSTALLED = frozenset({"install ok installed", "hold ok installed"})
MAX_FIELD = 1 << 20  # one field over 1 MiB is not a real dpkg database
MAX_PATH = 4096  # PATH_MAX: a longer md5sums path is not a real one

_FIELD = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]*):[ \t]*(.*)\Z")
_SOURCE = re.compile(r"\s*(\S+)(?:\s+\(\s*([^)\s]+)\s*\))?\s*\Z")
# An md5sums line as md5sum writes it ("<32 hex>  <path>", or " *<path>"), the path relative
# to the root; its trailing blanks are not part of it, as for the file list.
_MD5SUMS_LINE = re.compile(r"^([0-9a-fA-F]{32}) [ *]/*([^\n]*\S)[^\S\n]*$", re.M)


# ---------------------------------------------------------------------------------------
# The control-file (deb822) format


@dataclass(frozen=True, slots=True, kw_only=True)
class Stanza:
    """One paragraph: field names as written (case kept; look-ups are case-insensitive)."""

    fields: tuple[tuple[str, str], ...]
    line: int  # 1-based line where it starts

    def get(self, name: str, default: str = "") -> str:
        key = name.lower()
        for k, v in self.fields:
            if k.lower() == key:
                return v
        return default


def parse_stanzas(text: str) -> tuple[list[Stanza], list[BadStanza]]:
    """Split deb822 text into stanzas; a malformed stanza becomes a ``BadStanza``.

    Continuation lines (leading space or tab) extend the previous field, keeping the
    newline; CRLF line ends are accepted; ``#`` comment lines are ignored.
    """
    stanzas: list[Stanza] = []
    problems: list[BadStanza] = []
    fields: list[list[str]] = []
    start = 0
    broken = ""

    def flush() -> None:
        nonlocal fields, broken
        if broken:
            problems.append(BadStanza(line=start, reason=broken))
        elif fields:
            stanzas.append(Stanza(fields=tuple((k, v) for k, v in fields), line=start))
        fields = []
        broken = ""

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            flush()
            continue
        if not fields and not broken:
            start = number
        if broken:
            continue
        if line.startswith("#"):
            continue
        if line[0] in " \t":
            if not fields:
                broken = f"line {number}: continuation line outside a field"
                continue
            fields[-1][1] += "\n" + line[1:]
            if len(fields[-1][1]) > MAX_FIELD:
                broken = f"line {number}: field {fields[-1][0]} is over {MAX_FIELD} bytes"
            continue
        m = _FIELD.match(line)
        if m is None:
            broken = f"line {number}: not a 'Field: value' line"
            continue
        fields.append([m.group(1), m.group(2).rstrip()])
    flush()
    return stanzas, problems


# ---------------------------------------------------------------------------------------
# Licences: DEP-5 copyright files and Debian short names -> SPDX


DEP5_FORMAT = re.compile(
    r"https?://(?:www\.)?debian\.org/doc/packaging-manuals/copyright-format/"
    r"|https?://dep(?:-team\.pages)?\.debian\.(?:net|org)/deps/dep5",
    re.IGNORECASE,
)

_DEBIAN_NAMES = {
    "expat": "MIT",
    "mit": "MIT",
    "mit/x11": "MIT",
    "x11": "X11",
    "apache-2": "Apache-2.0",
    "apache-2.0": "Apache-2.0",
    "artistic": "Artistic-1.0-Perl",
    "artistic-1": "Artistic-1.0-Perl",
    "artistic-2": "Artistic-2.0",
    "artistic-2.0": "Artistic-2.0",
    "zlib": "Zlib",
    "psf-2": "PSF-2.0",
    "python": "Python-2.0",
    "python-2.0": "Python-2.0",
    "mpl-1.1": "MPL-1.1",
    "mpl-2.0": "MPL-2.0",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "bsd-4-clause-uc": "BSD-4-Clause-UC",
    "isc": "ISC",
    "cc0": "CC0-1.0",
    "cc0-1.0": "CC0-1.0",
    "sleepycat": "Sleepycat",
    "openssl": "OpenSSL",
    "fsfullr": "FSFULLR",
    "fsfap": "FSFAP",
    "fsful": "FSFUL",
    "unicode": "Unicode-DFS-2016",
    "beerware": "Beerware",
    "latex2e": "Latex2e",
    "curl": "curl",
    "wtfpl": "WTFPL",
}

_EXCEPTIONS = {
    "bison": "Bison-exception-2.2",
    "bison-2.2": "Bison-exception-2.2",
    "autoconf": "Autoconf-exception-3.0",
    "autoconf-2": "Autoconf-exception-2.0",
    "texinfo": "Texinfo-exception",
    "linux-syscall-note": "Linux-syscall-note",
    "openssl": "OpenSSL-exception",
    "gcc-runtime-library": "GCC-exception-3.1",
    "libtool": "Libtool-exception",
    "font": "Font-exception-2.0",
    "classpath": "Classpath-exception-2.0",
}

_GNU = re.compile(r"(agpl|lgpl|gpl|gfdl)(-niv)?-?v?(\d+(?:\.\d+)?)(\+|-or-later|-only)?", re.I)
_WITH = re.compile(r"(.+?)\s+with\s+(.+?)(?:\s+exception)?", re.I)


@functools.lru_cache(maxsize=4096)
def _spdx_id(name: str) -> str | None:
    """One Debian short name as an SPDX id (or ``X WITH exception``); None when unknown."""
    name = name.strip()
    low = name.lower()
    if low in _DEBIAN_NAMES:
        return _DEBIAN_NAMES[low]
    m = _GNU.fullmatch(name)
    if m:
        family, niv, version, suffix = m.groups()
        if "." not in version:
            version += ".0"
        ident = f"{family.upper()}-{version}"
        if niv:
            ident += "-no-invariants"
        later = suffix in ("+", "-or-later")
        return ident + ("-or-later" if later else "-only")
    m = _WITH.fullmatch(name)
    if m:
        base = _spdx_id(m.group(1))
        exc_name = m.group(2).strip().lower().removesuffix(" exception")
        if base is not None and base.startswith("GPL-2") and exc_name == "autoconf":
            exc_name = "autoconf-2"
        exc = _EXCEPTIONS.get(exc_name)
        return f"{base} WITH {exc}" if base is not None and exc is not None else None
    info = validate_license(name)
    if info is None or info.errors or " " in name:
        return None
    return str(info.normalized_expression)


# DEP-5: "A or B, and C" is (A OR B) AND C: a comma before "and"/"or" splits first. Within a
# part "and" binds tighter than "or", as in SPDX. "and/or" (not DEP-5, but written) lets the
# user pick either: OR. A bare "|" is OR, a bare "," AND.
_COMMA = re.compile(r"\s*,\s*(and|or)\s+", re.I)
_OPERATOR = re.compile(r"\s+(and/or|or|and)\s+|\s*([|,])\s*", re.I)
MAX_SHORT = 1000  # a longer License line is no short name: one LicenseRef id for all of it


@functools.lru_cache(maxsize=4096)
def debian_license(short: str) -> str | None:
    """A DEP-5 ``License:`` short-name expression as an SPDX expression that always parses:
    ``GPL-2+ or Artistic, and Expat`` is ``(GPL-2.0-or-later OR Artistic-1.0-Perl) AND MIT``;
    a name that is no SPDX id becomes a ``LicenseRef-`` id (``public-domain`` ->
    ``LicenseRef-public-domain``). None for empty values and ``none``."""
    text = " ".join(short.split())
    if not text or text.lower() == "none":
        return None
    if len(text) > MAX_SHORT:
        return license_ref(text)
    pieces = _COMMA.split(text)  # part, operator, part, ...
    parts = [_and_or(p) for p in pieces[0::2]]
    if any(p is None for p in parts):
        return license_ref(text)  # an empty name ("GPL-2+ or"): the line is one name
    if len(parts) == 1:
        return parts[0]
    expr = _grouped(str(parts[0]))
    for op, part in zip(pieces[1::2], parts[1:], strict=True):
        expr += f" {op.upper()} {_grouped(str(part))}"
    return expr


def _and_or(text: str) -> str | None:
    """One comma-free part: each name mapped, the operators kept; None when a name is empty."""
    pieces = _OPERATOR.split(text)
    atoms = [a.strip() for a in pieces[0::3]]
    if not all(atoms):
        return None
    ops = [(a or b or "").lower() for a, b in zip(pieces[1::3], pieces[2::3], strict=True)]
    expr = _spdx_id(atoms[0]) or license_ref(atoms[0])
    for op, atom in zip(ops, atoms[1:], strict=True):
        joiner = "AND" if op in ("and", ",") else "OR"
        expr += f" {joiner} {_spdx_id(atom) or license_ref(atom)}"
    return expr


def _grouped(expr: str) -> str:
    return f"({expr})" if " OR " in expr or " AND " in expr else expr


@functools.lru_cache(maxsize=1024)
def copyright_licenses(text: str) -> tuple[str, ...]:
    """Licences a machine-readable copyright file declares: the short names of its Files
    paragraphs (the header's when there is none). () for free-form files (see
    ``detected_licenses``)."""
    if not DEP5_FORMAT.search(text[:4096]):
        return ()  # free-form: not worth splitting into stanzas
    stanzas, _ = parse_stanzas(text)
    if not stanzas or not DEP5_FORMAT.search(
        stanzas[0].get("Format") or stanzas[0].get("Format-Specification")
    ):
        return ()
    files = [s for s in stanzas if s.get("Files")]
    chosen = files or stanzas[:1]
    found: set[str] = set()
    for s in chosen:
        short = s.get("License").split("\n", 1)[0]
        lic = debian_license(short)
        if lic is not None:
            found.add(lic)
    return tuple(sorted(found))


MAX_DETECT_TOTAL = 16 * 1024 * 1024  # characters of free-form copyright text read a database


class Detector:
    """Licences detected in the free-form copyright files of one status file's packages.
    Distinct texts are read once (libc6 and libc-bin share one); past ``MAX_DETECT_TOTAL``
    characters in all (~10 s) the rest are not read, and counted."""

    def __init__(self, budget: int | None = None) -> None:
        self.budget = MAX_DETECT_TOTAL if budget is None else budget
        self.skipped = 0  # packages whose copyright text was not read
        self._seen: dict[str, lic.Detection] = {}

    def __call__(self, text: str, path: str) -> tuple[DetectedLicense, ...]:
        key = text[:lic.MAX_DETECT]
        found = self._seen.get(key)
        if found is None:
            if len(key) > self.budget:
                self.skipped += 1
                return ()
            deadline.check("detecting licences in Debian copyright files")
            self.budget -= len(key)
            found = self._seen[key] = lic.detect(key)
        return tuple(DetectedLicense(expression=x, confidence=found.confidence, path=path)
                     for x in found.ids)


# A larger copyright file is classified in this process, if kept (its bytes are not read
# for the helper: a file too large to keep would be read whole into memory).
MAX_AHEAD_FILE = 4 * lic.MAX_DETECT


def _is_copyright(path: str, size: int) -> bool:
    """A package's copyright file small enough to read for the helper."""
    return (size <= MAX_AHEAD_FILE and path.startswith(DOC) and path.endswith("/copyright")
            and path.count("/", len(DOC)) == 1)


def _free_form(data: bytes) -> str | None:
    """A copyright file's text as ``detect`` is given it (decoded as ``_licenses`` decodes
    it, cut to ``MAX_DETECT``); None for a DEP-5 file (its licences are declared)."""
    text = data.decode("utf-8", errors="replace")
    return None if DEP5_FORMAT.search(text[:4096]) else text[:lic.MAX_DETECT]


class CopyrightsAhead:
    """A content sink (``filetree.analysis.watching``) giving each free-form copyright file
    of a layer read in this process to ``lic.Ahead`` as it streams by: classified in a helper
    process while the layer is still read, its answer is ready when ``Detector`` asks. A
    DEP-5 file is left out (its licences are declared); a path whose text no package
    reads later costs the helper's time, not this process's. A layer read in a worker
    process comes with its texts (``CopyrightTexts``), given as that worker ends
    (``layer_read``)."""

    def __init__(self, ahead: lic.Ahead) -> None:
        self.ahead = ahead

    def wants(self, path: str, size: int) -> bool:
        if path == DEBIAN_VERSION:  # a Debian system: the helper starts while /etc streams by
            self.ahead.prepare()
        return _is_copyright(path, size)

    def wants_matched(self, path: str, size: int, matched: bool) -> bool:
        """``wants``, told whether the catalogers' globs matched ``path``: both paths it
        looks for are among them (``DpkgCataloger.needs``, the distro's), so the others,
        most of a layer, are passed over at once."""
        return matched and self.wants(path, size)

    def take(self, layer: int, path: str, data: bytes) -> None:
        text = _free_form(data)
        if text is not None:
            self.ahead.give(text)

    def layer_read(self, layer: int, results: Mapping[str, bytes]) -> None:
        """A layer's worker is done: its free-form texts (``CopyrightTexts``' section) go to
        the helper now, on the core that worker leaves idle, rather than once every layer
        is read and the catalogers run alone (bench/README.md: the parent's tail)."""
        for text in texts_of(results.get(COPYRIGHT_TEXTS)):
            self.ahead.give(text)


COPYRIGHT_TEXTS = "copyright-texts"  # the section of ``CopyrightTexts`` in a layer's index


@dataclass(frozen=True, slots=True)
class CopyrightTexts:
    """A ``filetree.SinkSpec``: the free-form copyright texts of one layer, collected by the
    process reading it, so that the parent hands them to the licence helper as soon as that
    layer is read (``CopyrightsAhead.layer_read``). Its section is a JSON list of texts."""

    name: str = COPYRIGHT_TEXTS

    def fingerprint(self) -> str:
        return f"copyright-texts 1 {lic.MAX_DETECT} {MAX_AHEAD_FILE}"

    def new(self) -> _Texts:
        return _Texts()

    def result(self, sink: ContentSink) -> bytes:
        assert isinstance(sink, _Texts)
        return json.dumps(list(sink.texts)).encode()


class _Texts:
    """``CopyrightTexts``' sink of one layer: its free-form texts, once each, in the order read."""

    def __init__(self) -> None:
        self.texts: dict[str, None] = {}

    def wants(self, path: str, size: int) -> bool:
        return _is_copyright(path, size)

    def wants_matched(self, path: str, size: int, matched: bool) -> bool:
        return matched and _is_copyright(path, size)  # among the globs, as for CopyrightsAhead

    def take(self, layer: int, path: str, data: bytes) -> None:
        text = _free_form(data)
        if text is not None:
            self.texts[text] = None


def texts_of(section: bytes | None) -> list[str]:
    """The texts of a ``CopyrightTexts`` section; none when it is missing or not a list of
    strings (the helper is an optimisation: ``detect`` classifies what it was not given)."""
    try:
        value = json.loads(section) if section else []
    except ValueError:
        return []
    if not isinstance(value, list):
        return []
    return [t[:lic.MAX_DETECT] for t in value if isinstance(t, str)]


# ---------------------------------------------------------------------------------------
# The cataloger


def parse_source(field: str, name: str, version: str) -> SourcePackage:
    """``Source: name (version)`` or ``Source: name``; defaults are the binary's own."""
    if not field.strip():
        return SourcePackage(name=name, version=version)
    m = _SOURCE.match(field)
    if m is None:
        raise FormatError(f"{name}: unreadable Source field {field!r}")
    return SourcePackage(name=m.group(1), version=m.group(2) or version)


def purl(name: str, version: str, arch: str, source: SourcePackage, env: Env) -> str:
    """``pkg:deb/<distro>/<name>@<version>?arch=..&distro=<id>-<version_id>[&upstream=..]``.

    As syft does, ``upstream`` names the source package when it differs from the binary,
    with ``@version`` when the source version differs too.
    """
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if env.distro is not None:
        qualifiers["distro"] = env.distro.release
    if source.name != name or source.version != version:
        qualifiers["upstream"] = (
            source.name if source.version == version else f"{source.name}@{source.version}"
        )
    namespace = ecosystem.purl_namespace(env.distro, "debian")
    return ecosystem.purl(PackageType.DEB, name, version, namespace=namespace,
                          qualifiers=qualifiers)


def _list_files(data: bytes, view: View) -> tuple[str, ...]:
    """Paths of a ``.list`` file, without the directories dpkg also records there: a
    directory is a path another listed path lives under, or a directory in the image."""
    paths = [p.strip() for p in data.decode("utf-8", errors="replace").splitlines()]
    paths = [p for p in paths if p.startswith("/") and p != "/."]
    parents: set[str] = set()
    for p in paths:
        head = p.rsplit("/", 1)[0]
        while head and head not in parents:
            parents.add(head)
            head = head.rsplit("/", 1)[0]
    out: list[str] = []
    for path in paths:
        if path in parents:
            continue
        if view.regular(path) is None:  # most are files: no entry made for them
            e = view.entry(path)
            if e is not None and e.kind is Kind.DIR:
                continue
        out.append(path)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True, slots=True, kw_only=True)
class Digests:
    """What an md5sums file (or a Conffiles field) says of the files' content."""

    pairs: list[tuple[str, str]]  # (absolute path, "md5:<hex>")
    bad: int = 0  # lines that are not '<32 hex>  <path>'
    first_bad: int = 0  # 1-based line number of the first


def parse_md5sums(data: bytes) -> Digests:
    """The (path, "md5:<hex>") pairs of an md5sums file; malformed lines are counted."""
    text = data.decode("utf-8", errors="replace")
    pairs = [("/" + path, "md5:" + digest.lower())
             for digest, path in _MD5SUMS_LINE.findall(text) if len(path) < MAX_PATH]
    if text.count("\n") + (not text.endswith("\n")) == len(pairs):
        return Digests(pairs=pairs)  # every line read (the usual case: no line by line pass)
    bad = first = 0
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip() and not _good_md5sums_line(line):
            bad += 1
            first = first or number
    return Digests(pairs=pairs, bad=bad, first_bad=first)


def _good_md5sums_line(line: str) -> bool:
    m = _MD5SUMS_LINE.match(line)
    return m is not None and len(m.group(2)) < MAX_PATH


def conffile_digests(field: str) -> Digests:
    """The Conffiles field's (path, "md5:<hex>") pairs: " PATH MD5 [obsolete|remove-on-upgrade]"
    lines. Obsolete conffiles are no longer the package's; "newconffile" (no digest yet) is
    left out; other lines are counted as malformed."""
    pairs: list[tuple[str, str]] = []
    bad = first = 0
    for number, line in enumerate(field.split("\n"), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) >= 2 and parts[0].startswith("/") and len(parts[0]) < MAX_PATH:
            digest, flags = parts[1], parts[2:]
            if "obsolete" in flags or digest == "newconffile":
                continue
            if (md5 := file_digest("md5", digest)) is not None:
                pairs.append((parts[0], md5))
                continue
        bad += 1
        first = first or number
    return Digests(pairs=pairs, bad=bad, first_bad=first)


def _keys(name: str, arch: str) -> list[str]:
    return [f"{name}:{arch}", name] if arch and arch != "all" else [name, f"{name}:{arch}"]


def _md5sums(keys: list[str], evidence: str, view: View) -> tuple[str, bytes | None]:
    """The package's md5sums file: its bytes, or its path and None when it was over the size
    limit; ("", None) when it has none (or its bytes were not kept)."""
    if evidence.startswith(STATUS_D):
        candidates = [f"{STATUS_D}{key}.md5sums" for key in (*keys, evidence.rsplit("/", 1)[1])]
    else:
        candidates = [f"{INFO}{key}.md5sums" for key in keys]
    for path in candidates:
        e = view.lookup(path)
        if e is not None and e.kind is Kind.FILE and (e.content is not None or e.too_large):
            return path, e.content
    return "", None


def _owned_files(keys: list[str], md5sums: Digests | None, evidence: str,
                 view: View) -> tuple[str, ...]:
    """The ``.list`` file's paths; in distroless images (no ``info/``), the md5sums file's
    (its readable lines: a malformed line names no file for certain)."""
    for key in keys:
        data = view.read(f"{INFO}{key}.list")
        if data is not None:
            return _list_files(data, view)
    if evidence.startswith(STATUS_D) and md5sums is not None:
        return tuple(dict.fromkeys(path for path, _ in md5sums.pairs))
    return ()


def _file_digests(stanza: Stanza, files: tuple[str, ...], md5sums_path: str,
                  md5sums: Digests | None) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """The package's file digests (of files it owns), and what could not be read."""
    problems = []
    pairs: list[tuple[str, str]] = []
    if md5sums_path and md5sums is None:
        problems.append(f"{md5sums_path}: over the size limit, file digests not read")
    elif md5sums is not None:
        pairs = list(md5sums.pairs)
        if md5sums.bad:
            problems.append(f"{md5sums_path}: {md5sums.bad} malformed line(s) ignored "
                            f"(the first is line {md5sums.first_bad})")
    if conffiles := stanza.get("Conffiles"):
        conf = conffile_digests(conffiles)
        pairs += conf.pairs
        if conf.bad:
            problems.append(f"stanza at line {stanza.line}: {conf.bad} malformed Conffiles "
                            f"line(s) ignored (the first is line {conf.first_bad} of the field)")
    if not pairs:
        return (), problems
    owned = {f: f for f in files}  # the digests share the file list's path strings
    pairs = [(owned[path], d) for path, d in pairs if path in owned]
    if not all(map(operator.lt, pairs, pairs[1:])):  # md5sums is usually sorted already
        pairs = sorted(set(pairs))
    return tuple(pairs), problems


def _licenses(name: str, view: View, detector: Detector) -> tuple[
        tuple[str, ...], tuple[DetectedLicense, ...], str]:
    """The licences of a package's copyright file: declared (DEP-5), else detected in its
    text; and the file's path ("" when it gave none)."""
    path = f"{DOC}{name}/copyright"
    data = view.read(path)
    if data is None:
        return (), (), ""
    text = data.decode("utf-8", errors="replace")
    declared = lic.remembered("dep5", text, copyright_licenses)
    if declared:
        return declared, (), path
    detected = detector(text, path)
    return tuple(d.expression for d in detected), detected, path if detected else ""


def _package(stanza: Stanza, evidence: str, view: View, env: Env,
             detector: Detector) -> tuple[Package, list[str]] | None:
    """The installed package a stanza describes and what of its file digests could not be
    read; None when it is not installed."""
    status = " ".join(stanza.get("Status", "install ok installed").split())
    if status not in INSTALLED:
        return None
    name = stanza.get("Package").strip()
    version = stanza.get("Version").strip()
    if not name or not version:
        raise FormatError(f"no {'Package' if not name else 'Version'} field")
    arch = stanza.get("Architecture").strip()
    source = parse_source(stanza.get("Source"), name, version)
    licenses, detected, copyright_path = _licenses(name, view, detector)
    extras = []
    for key, field in (("installed-size", "Installed-Size"), ("description", "Description"),
                       ("section", "Section"), ("priority", "Priority")):
        value = stanza.get(field).split("\n", 1)[0].strip()
        if value:
            extras.append((key, value[:1000]))
    locations = [Location(path=evidence)]
    if copyright_path:
        locations.append(Location(path=copyright_path))
    keys = _keys(name, arch)
    md5sums_path, md5sums_data = _md5sums(keys, evidence, view)
    md5sums = parse_md5sums(md5sums_data) if md5sums_data is not None else None
    files = _owned_files(keys, md5sums, evidence, view)
    digests, problems = _file_digests(stanza, files, md5sums_path, md5sums)
    return Package(
        type=PackageType.DEB,
        name=name,
        version=version,
        purl=purl(name, version, arch, source, env),
        found_by=NAME,
        locations=tuple(locations),
        licenses=licenses,
        detected_licenses=detected,
        supplier=supplier(stanza.get("Maintainer").split("\n", 1)[0]),
        source=source,
        arch=arch,
        files=files,
        file_digests=digests,
        extras=tuple(sorted(extras)),
    ), problems


def parse_database(text: str, evidence: str, view: View, env: Env) -> tuple[
        list[Package | Unknown], list[BadStanza]]:
    """Installed packages of one status file, each followed by an Unknown for what of its file
    digests could not be read; and the stanzas that could not be read."""
    stanzas, problems = parse_stanzas(text)
    packages: list[Package | Unknown] = []
    detector = Detector()
    for stanza in stanzas:
        try:
            found = _package(stanza, evidence, view, env, detector)
        except (FormatError, ValueError) as exc:
            problems.append(BadStanza(line=stanza.line, reason=str(exc)))
            continue
        if found is not None:
            pkg, digest_problems = found
            packages.append(pkg)
            packages += (unknown(NAME, f"{pkg.name}: {reason}") for reason in digest_problems)
    if detector.skipped:
        packages.append(unknown(NAME, f"licences of {detector.skipped} package(s) not detected: "
                                f"their copyright files are past {MAX_DETECT_TOTAL} characters "
                                "of free-form text in all"))
    return packages, problems


class DpkgCataloger:
    """``dpkg-db``: installed Debian packages from the dpkg status database."""

    name = NAME
    globs: tuple[str, ...] = (STATUS, STATUS_D + "*")
    needs: tuple[str, ...] = (INFO + "*.list", INFO + "*.md5sums", DOC + "*/copyright")

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        if entry.path.endswith(".md5sums"):
            return ()
        data = entry.content or b""
        if b"\0" in data:
            raise FormatError(f"{entry.path}: binary data in a dpkg status file")
        text = data.decode("utf-8", errors="replace")
        packages, problems = parse_database(text, entry.path, view, env)
        return with_bad_stanzas(packages, problems, entry.path, NAME)
