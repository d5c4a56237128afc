"""Installed Python distributions (``python-installed``).

Evidence: core metadata anywhere in the image — ``*.dist-info/METADATA`` (wheels, pip),
``*.egg-info/PKG-INFO`` (setuptools directories) and ``*.egg-info`` files (distutils),
so system site-packages, virtual environments and ``pip --target`` folders are all
found. Owned files come from the ``RECORD`` next to METADATA (or an egg's
``installed-files.txt``), whose paths are relative to the directory holding the
metadata directory.

Integrity (``RECORD``): every row with a hash is checked against the image — a listed
file that is gone is *missing*; one whose size differs from the RECORD, or whose bytes
(when the file tree kept them) hash differently, or that is no regular file any more (a
directory, even one only the files below it imply; a device), is *modified*: changed after
pip installed it. The RECORD itself and rows without a hash (``.pyc``) are exempt. The tree
keeps bytes only for the files catalogers ask for, so most files are checked by size
alone; the counts say how many were checked which way. Findings go to the
``record:*`` extras, and modified files also to an ``Unknown`` so that tampering shows
in every report (the typed ``Package`` field that should carry it is proposed in the
change notes).

The project itself (``python-project``): a ``pyproject.toml`` outside installed packages
that names the project and its version (PEP 621 ``[project]``, else ``[tool.poetry]``) is
a package too, as Trivy and Syft report an application's own manifest, marked
``project=true`` — unless that very distribution is installed in the image, when the
installed copy says it. A version PEP 621 leaves ``dynamic`` is not known: no package.

Origin (``direct_url.json``, PEP 610): a distribution installed from a local directory
(editable or not), a VCS URL (with its commit) or an archive URL is marked with the
``direct-url`` extra (``local-directory``, ``local-directory-editable``, ``vcs``,
``archive``) and the URL, credentials removed.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import json
import posixpath
import re
import threading
import tomllib
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hullcheck import ecosystem, licenses
from hullcheck.catalog.base import Env
from hullcheck.catalog.license import spdx as _spdx
from hullcheck.errors import FormatError
from hullcheck.filetree import FileEntry, Kind, View
from hullcheck.model import Location, Package, PackageType, Unknown

if TYPE_CHECKING:
    from email.message import Message

NAME = "python-installed"
MAX_SHORT_LICENSE = 100  # a License field longer than this is licence text, not a name

# Trove classifiers whose meaning is exact; the vaguer ones ("BSD License", "Apache
# Software License") are kept as the classifier's words rather than guessed.
CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "ISC License (ISCL)": "ISC",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
    "Python Software Foundation License": "PSF-2.0",
    "Universal Permissive License (UPL)": "UPL-1.0",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "Apache Software License 2.0 (Apache-2.0)": "Apache-2.0",
}
_UNKNOWN = {"", "unknown", "none", "n/a", "other", "other/proprietary license"}


def normalise_name(name: str) -> str:
    """PEP 503: runs of ``-``, ``_`` and ``.`` become ``-``, lower case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def licenses_of(meta: Message) -> tuple[str, ...]:
    """PEP 639 ``License-Expression``, else a short ``License``, else the classifiers."""
    expression = " ".join((meta.get("License-Expression") or "").split())
    if expression:
        return (_spdx(expression) or expression,)
    field = (meta.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= MAX_SHORT_LICENSE \
            and field.lower() not in _UNKNOWN:
        return (_spdx(field) or licenses.alias(field) or field,)
    found: list[str] = []
    for classifier in meta.get_all("Classifier") or ():
        parts = [p.strip() for p in str(classifier).split("::")]
        if len(parts) < 2 or parts[0] != "License":
            continue
        leaf = parts[-1]
        if leaf.lower() in _UNKNOWN or leaf == "OSI Approved":
            continue
        found.append(CLASSIFIERS.get(leaf, leaf))
    return tuple(dict.fromkeys(found))


@functools.lru_cache(maxsize=256)
def _record_rows(data: bytes, base: str) -> tuple[tuple[str, str, str], ...]:
    """(absolute path, hash, size) per RECORD row, parsed once for files and integrity."""
    out: list[tuple[str, str, str]] = []
    text = data.decode("utf-8", errors="replace")
    # A line without quotes is what csv reads it as: its fields split at the commas
    # (the csv module costs ~1 µs a row more, and a site's RECORDs have ~10^5 rows).
    lines = text.splitlines()
    rows = (csv.reader(lines) if '"' in text else (line.split(",") for line in lines))
    for number, row in enumerate(rows):
        if number >= MAX_RECORD_ROWS:
            break
        if not row or not row[0].strip():
            continue
        out.append((_absolute(row[0].strip(), base), row[1].strip() if len(row) > 1 else "",
                    row[2].strip() if len(row) > 2 else ""))
    return tuple(out)


def _record_files(data: bytes, base: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(path for path, _, _ in _record_rows(data, base)))


def _lines_files(data: bytes, base: str) -> tuple[str, ...]:
    lines = data.decode("utf-8", errors="replace").splitlines()
    return tuple(dict.fromkeys(_absolute(x.strip(), base) for x in lines if x.strip()))


def _absolute(path: str, base: str) -> str:
    joined = path if path.startswith("/") else f"{base.rstrip('/')}/{path}"
    if "/." not in joined and "//" not in joined and not joined.endswith("/"):
        return joined  # already normal: the common case
    normal = posixpath.normpath(joined)
    return "/" + normal.lstrip("/")  # ".." stops at the image root


def owned_files(metadata_path: str, view: View,
                judged: LayerRecord | None = None) -> tuple[str, ...]:
    """The files a distribution's RECORD (or installed-files.txt) lists; ``judged``: its
    RECORD's rows as its layer read them (``judged_record``), not parsed again."""
    meta_dir = posixpath.dirname(metadata_path)
    site = posixpath.dirname(meta_dir)
    if meta_dir.endswith(".dist-info"):
        if judged is not None:
            return tuple(dict.fromkeys(judged.paths))
        data = view.read(f"{meta_dir}/RECORD")
        return _record_files(data, site) if data is not None else ()
    if meta_dir.endswith(".egg-info"):
        data = view.read(f"{meta_dir}/installed-files.txt")
        return _lines_files(data, meta_dir) if data is not None else ()
    return ()


# ---------------------------------------------------------------------------------------
# RECORD integrity

MAX_RECORD_ROWS = 200_000
SHOW_PATHS = 5  # paths named in an extra or a reason
# PEP 376/627: any hashlib.algorithms_guaranteed algorithm except md5 and sha1.
RECORD_ALGORITHMS = frozenset(
    a for a in hashlib.algorithms_guaranteed if a not in ("md5", "sha1") and "shake" not in a
)
_RECORD_SIDECARS = ("RECORD", "RECORD.jws", "RECORD.p7s")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordCheck:
    """How the files a RECORD lists compare with the image."""

    by_hash: int = 0  # bytes available and hash equal
    by_size: int = 0  # bytes not kept; size equal (or not recorded)
    modified: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unsupported: int = 0  # rows whose hash is not one we can check

    @property
    def checked(self) -> int:
        return self.by_hash + self.by_size + len(self.modified) + len(self.missing)


def _digest(algorithm: str, data: bytes) -> str:
    return _b64(hashlib.new(algorithm, data).digest())


def _b64(digest: bytes) -> str:
    """A digest as RECORD writes it: urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def judged_record(meta_dir: str, view: View,
                  digests: Mapping[tuple[int, str], str] | None) -> tuple[int, LayerRecord] | None:
    """The layer and rows of ``meta_dir``'s RECORD as the layer that wrote it judged them
    (``layer_records``, through ``StreamedDigests``), when that RECORD is the one ``view``
    has there; None otherwise."""
    if not isinstance(digests, StreamedDigests) or not digests.records:
        return None
    path = f"{meta_dir}/RECORD"
    found = view.regular(path)
    if found is None:
        return None
    judged = digests.records.get((found[0], path))
    return (found[0], judged) if judged is not None else None


def verify_record(data: bytes, meta_dir: str, view: View,
                  digests: Mapping[tuple[int, str], str] | None = None,
                  judged: tuple[int, LayerRecord] | None = None) -> RecordCheck:
    """Compare every hashed row of a RECORD (``path,algo=urlsafe-b64,size``) with the view:
    by hash when the file's bytes were kept or its sha256 streamed by (``digests``, from
    ``RecordDigests``), else by size. ``judged``: the RECORD's layer and its rows as that
    layer judged them (``judged_record``): a row's verdict stands where the file the view
    shows at its path is still that layer's, the others are checked here."""
    site = posixpath.dirname(meta_dir)
    exempt = {f"{meta_dir}/{name}" for name in _RECORD_SIDECARS}
    by_hash = by_size = unsupported = 0
    modified: list[str] = []
    missing: list[str] = []
    if judged is not None:
        record_layer, record = judged
        rows: Iterable[tuple[str, str, str, int]] = zip(
            record.paths, record.digests, record.sizes, record.verdicts, strict=True)
    else:
        record_layer = -1
        rows = ((path, digest, size, UNJUDGED)
                for path, digest, size in _record_rows(data, site))
    layer_of = view.file_layers()  # each directory looked up once for a run of its rows
    for i, (path, listed_digest, listed_size, verdict) in enumerate(rows):
        digest, size = listed_digest, listed_size
        if verdict != UNJUDGED:  # a hashed row its layer judged
            if path in exempt:
                continue
            if layer_of(path) == record_layer:  # the file it judged is the one visible
                if verdict == SAME:
                    by_hash += 1
                else:
                    modified.append(path)
                continue
            # A later layer changed it (or the view is of another layer): checked here, with
            # the row as written (a judged row's hash and size are not kept with it).
            _, digest, size = _record_rows(data, site)[i]
        if not digest:
            continue  # no hash: the RECORD itself, .pyc files, INSTALLER written later
        if path in exempt:
            continue
        algorithm, _, expected = digest.partition("=")
        if algorithm not in RECORD_ALGORITHMS or not expected:
            unsupported += 1
            continue
        where = path  # the file's own path: another when a link leads to it
        found = view.regular(path)  # the common case: a file right there, no entry made
        if found is not None:
            layer, actual, content = found
        else:
            entry = view.lookup(path)  # through links: what a container would open
            if entry is None:
                # A directory only the files below it imply has no entry, but a container
                # sees a directory there all the same: modified, as one with an entry is.
                resolved = view.resolve(path)
                if resolved is not None and view.below(resolved):
                    modified.append(path)
                else:
                    missing.append(path)
                continue
            if entry.kind is not Kind.FILE:
                modified.append(path)  # now a directory, a device, a dangling hard link
                continue
            layer, actual, content, where = entry.layer, entry.size, entry.content, entry.path
        if size.isdigit() and int(size) != actual:
            modified.append(path)
        elif content is not None:
            if _digest(algorithm, content) == expected.rstrip("="):
                by_hash += 1
            else:
                modified.append(path)
        elif algorithm == "sha256" and digests and (layer, where) in digests:
            if digests[layer, where] == expected.rstrip("="):
                by_hash += 1
            else:
                modified.append(path)
        else:
            by_size += 1
    return RecordCheck(by_hash=by_hash, by_size=by_size, modified=tuple(modified),
                       missing=tuple(missing), unsupported=unsupported)


def _paths_value(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:SHOW_PATHS])
    more = f", and {len(paths) - SHOW_PATHS} more" if len(paths) > SHOW_PATHS else ""
    return f"{len(paths)}: {shown}{more}"


def record_extras(check: RecordCheck) -> list[tuple[str, str]]:
    if not check.checked and not check.unsupported:
        return []
    out = [("record:checked", f"{check.checked} files: {check.by_hash} by hash, "
                              f"{check.by_size} by size only")]
    if check.modified:
        out.append(("record:modified", _paths_value(check.modified)))
    if check.missing:
        out.append(("record:missing", _paths_value(check.missing)))
    if check.unsupported:
        out.append(("record:unsupported-hash", str(check.unsupported)))
    return out


# ---------------------------------------------------------------------------------------
# direct_url.json (PEP 610)

MAX_DIRECT_URL = 64 << 10


def _without_credentials(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    if parts.username is None and parts.password is None:
        return url[:2000]
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    # "git@github.com" is a user name, not a secret; anything else is dropped.
    user = "git@" if parts.username == "git" and parts.password is None else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=user + host))[:2000]


def direct_url_extras(data: bytes) -> list[tuple[str, str]]:
    """Where a distribution was installed from, when not from an index. A document that
    cannot be read still says the package was installed from a direct URL."""
    try:
        doc = json.loads(data[:MAX_DIRECT_URL].decode("utf-8")) \
            if len(data) <= MAX_DIRECT_URL else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        doc = None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("url"), str):
        return [("direct-url", "unreadable")]
    url = _without_credentials(doc["url"])
    out = [("direct-url-url", url)]
    vcs, archive, directory = doc.get("vcs_info"), doc.get("archive_info"), doc.get("dir_info")
    if isinstance(vcs, Mapping):
        out.append(("direct-url", "vcs"))
        for key, field in (("direct-url-vcs", "vcs"), ("direct-url-commit", "commit_id"),
                           ("direct-url-requested-revision", "requested_revision")):
            value = vcs.get(field)
            if isinstance(value, str) and value:
                out.append((key, value[:200]))
    elif isinstance(archive, Mapping):
        out.append(("direct-url", "archive"))
        hashes = archive.get("hashes")
        if isinstance(hashes, Mapping):
            for algo, value in sorted(hashes.items()):
                if isinstance(value, str):
                    out.append(("direct-url-hash", f"{algo}={value}"[:300]))
                    break
        elif isinstance(archive.get("hash"), str):
            out.append(("direct-url-hash", archive["hash"][:300]))
    elif isinstance(directory, Mapping):
        editable = directory.get("editable") is True
        out.append(("direct-url", "local-directory-editable" if editable else "local-directory"))
    else:
        out.append(("direct-url", "unknown"))
    return out


# ---------------------------------------------------------------------------------------


# An empty line, whichever line ends it (the email parser splits lines at \r\n, \r and \n).
_EMPTY_LINES = ("\n\n", "\r\r", "\r\n\r\n")


def header_block(text: str) -> str:
    """``text`` up to its first empty line, which ends the headers wherever they end: what
    the email parser reads of core metadata, without the description after it, which it
    reads line by line (the big bench image's 103 METADATA files: 13.6 ms, 9.8 so)."""
    cuts = [at + len(empty) for empty in _EMPTY_LINES if (at := text.find(empty)) >= 0]
    return text[:min(cuts)] if cuts else text


def package_of(text: str, path: str, view: View,
               digests: Mapping[tuple[int, str], str] | None = None) -> Package:
    from email.parser import HeaderParser  # ~10 ms to import; only images with Python

    meta = HeaderParser().parsestr(header_block(text))
    name = " ".join((meta.get("Name") or "").split())
    version = " ".join((meta.get("Version") or "").split())
    if not name or not version:
        raise FormatError(f"{path}: no {'Name' if not name else 'Version'} in core metadata")
    if len(name) > 200 or len(version) > 200:
        raise FormatError(f"{path}: implausibly long Name or Version")
    extras = [
        (key, " ".join(str(meta.get(field)).split())[:1000])
        for key, field in (("summary", "Summary"), ("author", "Author"),
                           ("author-email", "Author-email"), ("home-page", "Home-page"),
                           ("metadata-version", "Metadata-Version"))
        if meta.get(field) and str(meta.get(field)).strip() not in ("", "UNKNOWN")
    ]
    extras.append(("site", posixpath.dirname(posixpath.dirname(path))
                   if not path.endswith(".egg-info") else posixpath.dirname(path)))
    meta_dir = posixpath.dirname(path)
    judged = None
    if meta_dir.endswith(".dist-info"):
        record = view.read(f"{meta_dir}/RECORD")
        if record is not None:
            judged = judged_record(meta_dir, view, digests)
            extras.extend(record_extras(verify_record(record, meta_dir, view, digests, judged)))
        direct = view.read(f"{meta_dir}/direct_url.json")
        if direct is not None:
            extras.extend(direct_url_extras(direct))
    return package(name, version, NAME, path, extras, licenses=licenses_of(meta),
                   files=owned_files(path, view, judged[1] if judged is not None else None))


def package(name: str, version: str, found_by: str, evidence: str,
            extras: list[tuple[str, str]], *, licenses: tuple[str, ...] = (),
            files: tuple[str, ...] = ()) -> Package:
    """The Python distribution ``evidence`` (its METADATA, a lock file) names; its purl
    name is the normalised one."""
    return Package(type=PackageType.PYTHON, name=name, version=version,
                   purl=ecosystem.purl(PackageType.PYTHON, normalise_name(name), version),
                   found_by=found_by, locations=(Location(path=evidence),), licenses=licenses,
                   files=files, extras=tuple(sorted(extras)))


class PythonInstalledCataloger:
    """``python-installed``: distributions installed anywhere (site-packages, venvs...)."""

    name = NAME
    globs = ("/**/*.dist-info/METADATA", "/**/*.egg-info/PKG-INFO", "/**/*.egg-info")
    needs = ("/**/*.dist-info/RECORD", "/**/*.egg-info/installed-files.txt",
             "/**/*.dist-info/direct_url.json")

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package | Unknown]:
        data = entry.content or b""
        if b"\0" in data[:8192]:
            raise FormatError(f"{entry.path}: binary data in Python core metadata")
        pkg = package_of(data.decode("utf-8", errors="replace"), entry.path, view, env.digests)
        out: list[Package | Unknown] = [pkg]
        modified = dict(pkg.extras).get("record:modified")
        if modified is not None:
            # Tampering after install must reach every report, not only the SBOM's extras.
            out.append(Unknown(location=Location(path=""), cataloger=NAME,
                               reason=f"{pkg.name} {pkg.version}: files modified after install "
                                      f"(RECORD hash or size differs) — {modified}"))
        return out


RECORD = ".dist-info/RECORD"


class RecordDigests:
    """A ``filetree.ContentSink`` hashing the files of Python package directories as the
    layers stream, so every RECORD row can be checked by hash without keeping the bytes.
    It keeps each file's size and the RECORDs too: as part of one layer's analysis
    (``streaming.RecordSpec``) the rows whose file the same layer wrote are judged there
    (``layer_records``), and cached with the layer."""

    max_size = 64 << 20

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.digests: dict[tuple[int, str], str] = {}
        self.sizes: dict[tuple[int, str], int] = {}
        self.records: dict[tuple[int, str], bytes] = {}

    def wants(self, path: str, size: int) -> bool:
        return self.wants_matched(path, size, False)

    def wants_matched(self, path: str, size: int, _matched: bool) -> bool:
        """``wants``, as a layer reader asks it of every file: with no wrapper in between
        (the globs' match is not needed here)."""
        return size <= self.max_size and ("/site-packages/" in path
                                          or "/dist-packages/" in path) \
            and not path.endswith(".pyc")

    def take(self, layer: int, path: str, data: bytes) -> None:
        # sha256() rather than _digest's hashlib.new(name): no lookup by name per file.
        digest = _b64(hashlib.sha256(data).digest())
        with self._lock:
            self.digests[layer, path] = digest
            self.sizes[layer, path] = len(data)
            if path.endswith(RECORD):
                self.records[layer, path] = data

    # A ``filetree.HashingSink``: a layer reader hashes the files only this sink wants where
    # they lie (31k files, 388 MB in the big bench image's largest layer) and hands them
    # over at once, instead of a copy of each and a call, a lock and two writes per file.
    def hashes(self, path: str) -> bool:
        """Whether the digest is all this sink needs of the file (a RECORD's bytes are kept)."""
        return not path.endswith(RECORD)

    def take_digests(self, layer: int, found: list[tuple[str, int, bytes]]) -> None:
        """The (path, size, sha256 digest) of files of ``layer``, in the layer's order."""
        digests = {(layer, path): _b64(digest) for path, _, digest in found}
        sizes = {(layer, path): size for path, size, _ in found}
        with self._lock:
            self.digests.update(digests)
            self.sizes.update(sizes)


# A RECORD row as its layer judged it (``LayerRecord.verdicts``): not judged there (the file
# is not the layer's, or not hashed with sha256), or the file as the layer wrote it has the
# row's size and sha256, or has not.
UNJUDGED, SAME, CHANGED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """One RECORD as the layer that wrote it read it: its rows (``_record_rows``) in columns,
    and a verdict per row for the files that layer wrote beside it (a judged row keeps no
    hash or size: its verdict says what they gave). Whoever reads the RECORD in a merged
    tree takes a verdict only where the file visible there is still that layer's."""

    paths: Sequence[str]
    digests: Sequence[str]  # "" for a judged row
    sizes: Sequence[str]  # "" for a judged row
    verdicts: bytes  # one of UNJUDGED, SAME, CHANGED per row

    def __post_init__(self) -> None:
        n = len(self.paths)
        if not len(self.digests) == len(self.sizes) == len(self.verdicts) == n \
                or self.verdicts.translate(None, _VERDICTS):
            raise ValueError("malformed judged RECORD")


_VERDICTS = bytes([UNJUDGED, SAME, CHANGED])


class StreamedDigests(dict[tuple[int, str], str]):
    """(layer, path) -> the sha256 of each Python package file that streamed by (as RECORD
    writes it), and ``records``: (layer, RECORD path) -> that RECORD as its layer judged it."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[tuple[int, str], LayerRecord] = {}


def layer_records(sink: RecordDigests) -> dict[str, LayerRecord]:
    """The RECORDs ``sink`` saw in one layer (path -> ``LayerRecord``), each row judged
    against the file the same layer wrote at its path, as ``verify_record`` would judge it."""
    out: dict[str, LayerRecord] = {}
    for (layer, path), data in sink.records.items():
        rows = _record_rows(data, posixpath.dirname(posixpath.dirname(path)))
        paths, digests, sizes = [], [], []
        verdicts = bytearray(len(rows))
        for i, (row_path, digest, size) in enumerate(rows):
            paths.append(row_path)
            algorithm, _, expected = digest.partition("=")
            found = sink.digests.get((layer, row_path))
            if algorithm != "sha256" or not expected or found is None:
                digests.append(digest)
                sizes.append(size)
                continue
            if size.isdigit() and int(size) != sink.sizes[layer, row_path]:
                verdicts[i] = CHANGED
            else:
                verdicts[i] = SAME if found == expected.rstrip("=") else CHANGED
            digests.append("")
            sizes.append("")
        out[path] = LayerRecord(paths, digests, sizes, bytes(verdicts))
    return out


# ---------------------------------------------------------------------------------------
# The project's own manifest

PROJECT = "python-project"
MAX_PYPROJECT = 1 << 20  # a real pyproject.toml is a few KiB
_INSTALLED = ("/site-packages/", "/dist-packages/")


def project_of(data: bytes, path: str) -> tuple[str, str] | None:
    """(name, version) a pyproject.toml declares; None when it names no versioned project or
    is not TOML (not package evidence: passed over)."""
    if len(data) > MAX_PYPROJECT or b"\0" in data[:8192]:
        return None
    try:
        doc = tomllib.loads(data.decode("utf-8-sig", errors="replace"))
    except (tomllib.TOMLDecodeError, RecursionError):
        return None
    tables = [doc.get("project")]
    tool = doc.get("tool")
    if isinstance(tool, dict):
        tables.append(tool.get("poetry"))
    for table in tables:
        if not isinstance(table, dict):
            continue
        name, version = table.get("name"), table.get("version")
        if isinstance(name, str) and isinstance(version, str) and name.strip() \
                and version.strip() and len(name) <= 200 and len(version) <= 200:
            return name.strip(), version.strip()
    return None


def installed_anywhere(view: View, name: str, version: str) -> bool:
    """Whether a distribution of this name and version is installed anywhere in ``view``
    (``NAME-VERSION.dist-info`` or ``.egg-info``, names compared as PEP 503 does)."""
    wanted = normalise_name(name)
    for entry in view.files():
        parts = entry.path.rsplit("/", 2)
        base = parts[-2] if parts[-1] in ("METADATA", "PKG-INFO") and len(parts) == 3 \
            else parts[-1]
        stem = base.removesuffix(".dist-info").removesuffix(".egg-info")
        if stem == base or "-" not in stem:
            continue
        dist, _, dist_version = stem.partition("-")
        if dist_version.split("-", 1)[0] == version and normalise_name(dist) == wanted:
            return True
    return False


class PythonProjectCataloger:
    """``python-project``: the project a pyproject.toml outside installed packages declares."""

    name = PROJECT
    globs = ("/**/pyproject.toml",)
    needs: tuple[str, ...] = ()

    def parse(self, entry: FileEntry, view: View, env: Env) -> Iterable[Package]:
        if any(part in entry.path for part in _INSTALLED):
            return ()  # a source tree shipped inside an installed package
        found = project_of(entry.content or b"", entry.path)
        if found is None or installed_anywhere(view, *found):
            return ()
        name, version = found
        extras = [("project", "true"), ("project-dir", posixpath.dirname(entry.path))]
        return (package(name, version, PROJECT, entry.path, extras),)
