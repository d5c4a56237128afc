"""Binaries anywhere in the image, found by content while the layers stream.

Keeping every executable's bytes in the file tree would cost hundreds of MB (29 MB of the
small debootstrap image's 31 MB layer index was /usr/bin and the like, encoded, cached,
decoded and searched again after the merge). ``BinarySink`` is a ``filetree.ContentSink``
that looks at the regular files as they stream by: their first bytes say whether they are
an executable (ELF, PE, Mach-O); only then is a file read whole, handed to the binary
catalogers (``registry.BINARY_CATALOGERS``: Go build info, ``cargo auditable``, version
strings; each one's ``parse_binary``), and dropped. What stays is small: the packages each
file gave, or why it could not be read, with its path and layer.

    sink = BinarySink(kept_up_to=max_file)
    tree = filetree.build(image, catalog.globs_for(streamed=True), max_file=max_file,
                          sink=sink)
    inv = catalog.run(tree, source, streamed=sink.results())

The runner treats those results like the evidence it parses itself (layer attribution,
visible or shipped-not-visible, OS-package ownership) and does not run the binary
catalogers over the tree. A file under a cataloger's globs (``EXECUTABLE_GLOBS``) is read
as the tree would have kept it: whole, up to the tree's size limit (``kept_up_to``), by
the catalogers whose globs name it, reported in their pass (``StreamedFile.globbed``); one
over that limit is read within the limits below, or is the tree's "over the size limit"
unknown; a hard link to it from under the globs is the same file at the link's path.

Large executables (a 40 MB Go service at ``/app/server``) are not held in memory: one
over ``max_size`` is spooled, as it streams by, to an unlinked temporary file (under
``TMPDIR``) and parsed from a ``PagedMap`` of it, whose searches keep a window or two
(8 MiB each) resident. Hard limits bound what a hostile image can cost: ``max_spooled`` bytes
per file and ``spool_budget`` bytes per image; an executable over them is counted in
``counts.skipped`` and reported as an unknown, not read. Large ELF shared libraries
outside the globs (libLLVM) are not spooled (that found nothing and cost time), save a Go
one (``-buildmode=c-shared``, known by the build ID note in its first KiBs); the others
are read up to their section headers, unparsed, and one whose section names show Go
build info or ``cargo auditable`` data (a Rust cdylib), which only those headers at its
end could have located, is an unknown: the SBOM shows the gap.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import mmap
import os
import re
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

import msgspec

from hullcheck.catalog import binary
from hullcheck.catalog.base import BinaryCataloger
from hullcheck.catalog.elf import (
    ET_DYN,
    Data,
    PagedMap,
    elf_type,
    executable_format,
    looks_executable,
    section_headers_at,
)
from hullcheck.catalog.python import LayerRecord, RecordDigests, StreamedDigests, layer_records
from hullcheck.catalog.registry import BINARY_CATALOGERS
from hullcheck.errors import FormatError
from hullcheck.filetree import DEFAULT_MAX_FILE, ContentSink, FileTree, compile_globs
from hullcheck.model import Package

# Bytes of one streamed file read whole into memory (parsed, dropped), by each
# layer-reading thread. Measured on bench/sbom.py's big image: 256 MiB in memory cost 4.9 s
# and 490 MB peak against 3.8 s and 180 MB without the sink; 16 MiB, 4.1 s and 265 MB (the
# budget is 300 MB). A larger executable is spooled to disk instead.
MAX_BINARY = 16 << 20
# Spooled to disk: one file, and all of one image's (a Go or Rust program is rarely over
# 200 MB; the budget bounds the disk traffic a hostile image can cause).
MAX_SPOOLED = 256 << 20
SPOOL_BUDGET = 1 << 30
HEAD = 64  # bytes sniffed before deciding to read a file
SPOOL_CHUNK = 1 << 20  # bytes read from the layer and written to disk at a time
# Copies on disk of the executables a hard link of the same layer may name, per layer (or
# image, for one sink over every layer): a link under another name is searched under it.
HOLD_BUDGET = 512 << 20

# What a parser may raise for unreadable evidence (the runner's list, shared).
PARSE_ERRORS: tuple[type[Exception], ...] = (
    FormatError, ValueError, UnicodeDecodeError, KeyError, IndexError, RecursionError,
    struct.error,
)

# Never an executable: text, sources, documents, media, archives, objects and modules
# that are not programs. Anything else is sniffed (64 bytes), which costs little.
_SKIP_WORDS = """txt md rst html htm xhtml css scss less js mjs cjs ts tsx jsx map json jsonl
    xml xsd xsl dtd yaml yml toml ini cfg conf properties py pyc pyo pyi pxd pth rb erb gemspec
    pl pm pod php java class jar war ear kt scala groovy go mod sum rs c h cc cpp cxx hpp hh
    s asm sh bash zsh fish csh ps1 bat cmd lua tcl el elc vim sql csv tsv log gz tgz bz2 xz
    lz lz4 lzma zst 7z zip tar rar deb rpm apk whl egg png jpg jpeg gif bmp ico svg svgz webp
    tif tiff icns woff woff2 ttf otf eot pfb pcf mo po pot gmo pem crt cer der key pub asc gpg
    pdf ps eps mp3 mp4 ogg wav flac avi mkv db sqlite sqlite3 a o ko la pc cmake m4 am ac
    desktop service socket timer rules list md5sums conffiles symbols shlibs triggers
    templates postinst preinst postrm prerm gir typelib"""
SKIP_EXTENSIONS = frozenset(_SKIP_WORDS.split())


def skipped_by_name(path: str) -> bool:
    """An obvious non-executable by its extension."""
    base = path[path.rfind("/") + 1:]
    dot = base.rfind(".")
    return dot > 0 and base[dot + 1:].lower() in SKIP_EXTENSIONS


@dataclass(frozen=True, slots=True)
class StreamedFile:
    """What one cataloger found in one file one layer wrote: packages, or an error.
    ``globbed``: the file is under that cataloger's globs and at most the tree's size limit
    (or over it and not read): what its own pass over the tree's files would have found
    there, which the runner reports in that pass's place."""

    layer: int
    path: str
    cataloger: str
    packages: tuple[Package, ...] = ()
    error: str = ""
    globbed: bool = False


@dataclass(frozen=True, slots=True)
class Streamed:
    """The binary sink's results, for ``catalog.run(..., streamed=)``: the runner does not
    run ``catalogers`` over the tree's files, these are what they found."""

    files: tuple[StreamedFile, ...] = ()
    catalogers: frozenset[str] = frozenset(c.name for c in BINARY_CATALOGERS)
    # (layer, path) -> sha256 as RECORD writes it, of the files under the globs the tree did
    # not keep (a RECORD row may name a script or program in a bin directory)
    digests: Mapping[tuple[int, str], str] = field(default_factory=dict)
    # (layer, path) of hard links under the globs the tree would have held as files (with
    # their target's bytes, when it kept the files under the globs): counted as files
    links: tuple[tuple[int, str], ...] = ()


# Why an executable was not read (``_Counts.skipped`` keys).
TOO_LARGE, BUDGET_SPENT, SPOOL_FAILED, ENDED_EARLY, LIBRARY = (
    "too-large", "budget-spent", "spool-failed", "ended-early", "library")

# A shared library's name: libLLVM-15.so.1, radeonsi_dri.so, x.cpython-311-x86_64-linux-gnu.so
_LIBRARY_NAME = re.compile(r"\.so(?:\.\d+)*\Z")
# The Go build ID note (name "Go", type 4, either byte order): Go's linker writes it in the
# first KiBs of every ELF file it links, shared libraries included (Go's own build ID
# reader looks at the first 32 KiB only).
_GO_NOTE = re.compile(rb"\x04\0\0\0.{4}\x04\0\0\0Go\0\0|\0\0\0\x04.{4}\0\0\0\x04Go\0\0", re.S)
GO_NOTE_WITHIN = 32 << 10
# What a cataloger would read in a large shared library streamed through unread is named by
# its ``sections``: only the headers at the end locate a section, too late to spool it; but
# the section names before them show it is there.
Sections = tuple[tuple[str, bytes, str], ...]  # (cataloger, section name + NUL, what it holds)
# Where the section names are looked for: this much before the section headers. Linkers
# and strip put the name table right before them: in 1,000 ELF files (/usr/lib, /usr/bin,
# Go programs included) it ended within 7 bytes of them.
NAMES_BEFORE_HEADERS = 1 << 20


@dataclass(slots=True)
class _Counts:
    sniffed: int = 0
    parsed: int = 0
    bytes: int = 0
    spooled: int = 0  # of those parsed, read from disk
    spooled_bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # executables not read, by why


class _NotSpooled(Exception):
    """A large executable that could not be copied to disk: (``skipped`` key, reason)."""


Found = dict[str, tuple[tuple[Package, ...], str]]  # cataloger -> (packages, error)


@dataclass(frozen=True, slots=True)
class _Linkable:
    """An executable a hard link of the same layer may name: what each cataloger found, and
    where its copy lies in the sink's ``_Held`` file (None: not kept)."""

    base: str  # its file name
    found: Found
    held: tuple[int, int] | None = None  # (offset, length)


class _Held:
    """Copies of the executables a hard link may name, in one unlinked temporary file
    (gone with its descriptor, on every path): a link whose name makes a cataloger search
    other things than its target's did (busybox -> bb) is read under its own name, as the
    tree that kept their bytes read it. Measured (549 ELF files, 162 MiB): writing them costs
    0.6 times hashing them; searching each with every version rule instead of its own would
    cost 13-32 s. Thread-safe; a copy over the budget, or a disk that fails, is not kept."""

    def __init__(self, budget: int) -> None:
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._end = 0
        self._left = budget

    def put(self, data: bytes) -> tuple[int, int] | None:
        with self._lock:
            if len(data) > self._left:
                return None
            try:
                if self._file is None:
                    self._file = tempfile.TemporaryFile(  # noqa: SIM115 - closed by close()
                        prefix="hullcheck-links-")
                self._file.write(data)
                self._file.flush()  # read back with pread
            except OSError:  # disk full, no TMPDIR: these links are unknowns, as before
                self._left = -1
                return None
            where = (self._end, len(data))
            self._end += len(data)
            self._left -= len(data)
            return where

    def get(self, where: tuple[int, int]) -> bytes | None:
        offset, length = where
        with self._lock:
            if self._file is None:
                return None
            try:
                data = os.pread(self._file.fileno(), length, offset)
            except OSError:
                return None
        return data if len(data) == length else None

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class BinarySink:
    """Thread-safe ``filetree.ContentSink`` (sniffing its first ``head_size`` bytes, told the
    tree's glob match, taking large files as a stream, told of hard links) that catalogs
    executables for the binary catalogers; ``results()`` once the layers are read.

    Every file under a cataloger's globs is that cataloger's, read here as the tree would
    have kept it (whole, in memory, up to ``kept_up_to``), so the tree keeps no executable's
    bytes. A hard link under the globs to such a file earlier in its layer (one the tree
    would have kept) is what the file is, at the link's path: under a name that makes a
    cataloger search for other things (busybox -> bb), searched again in a copy of the file
    (``_Held``: on disk, unlinked, up to ``hold_budget``). Other executables anywhere are
    read within the limits (``max_size`` in memory, ``max_spooled`` on disk)."""

    head_size = HEAD

    def __init__(self, *, kept_up_to: int = DEFAULT_MAX_FILE, max_size: int = MAX_BINARY,
                 max_spooled: int = MAX_SPOOLED, spool_budget: int = SPOOL_BUDGET,
                 hold_budget: int = HOLD_BUDGET,
                 catalogers: Sequence[BinaryCataloger] = BINARY_CATALOGERS) -> None:
        self.kept_up_to = kept_up_to  # the tree's size limit for the files it keeps
        self.max_size = max_size  # read into memory up to this
        self.max_spooled = max_spooled  # spooled to disk up to this
        self.spool_budget = spool_budget  # bytes spooled for the whole image
        self._catalogers = tuple(catalogers)
        self._sections: Sections = tuple((c.name, section.encode() + b"\0", what)
                                         for c in catalogers for section, what in c.sections)
        globs = compile_globs(g for c in catalogers for g in c.globs)
        self._globbed = globs.match if globs is not None else (lambda _path: False)
        self._own = tuple((c, _matcher(c.globs)) for c in catalogers)
        self._lock = threading.Lock()
        self._files: list[StreamedFile] = []
        self._spool_left = spool_budget
        # Executables the tree would have kept, by (layer, path): a hard link may name them;
        # copies kept when some cataloger's findings depend on the file's name.
        self._linkable: dict[tuple[int, str], _Linkable] = {}
        named = any(callable(getattr(c, "same_for", None)) for c in catalogers)
        self._held = _Held(hold_budget if named else 0)
        self._own_files: set[tuple[int, str]] = set()  # under the globs, up to kept_up_to
        self._digests: dict[tuple[int, str], str] = {}
        self._links: list[tuple[int, str]] = []
        self._matched = threading.local()  # the tree's glob match of the file being read
        self.counts = _Counts()

    # -- ContentSink ----------------------------------------------------------------
    def wants(self, path: str, size: int) -> bool:
        # Not told the tree's match: assume its globs include ours (catalog.globs_for()).
        return self.wants_matched(path, size, True)

    def wants_matched(self, path: str, size: int, matched: bool) -> bool:
        """``matched``: the tree's globs matched ``path`` (it keeps the file's bytes when it
        is at most ``kept_up_to``): a hard link to it may then be one of ours."""
        self._matched.path, self._matched.value = path, matched
        if self._globbed(path):
            return True  # ours, whatever its name and size (the head says the rest)
        if size < HEAD:
            return False
        base = path[path.rfind("/") + 1:]  # skipped_by_name, inlined: asked of every file
        dot = base.rfind(".")
        return not (dot > 0 and base[dot + 1:].lower() in SKIP_EXTENSIONS)

    def wants_head(self, path: str, head: bytes) -> bool:
        with self._lock:
            self.counts.sniffed += 1
        # A file under the globs over the tree's limit is reported even when not read.
        return looks_executable(head) or self._globbed(path)

    def take(self, layer: int, path: str, data: bytes) -> None:
        # Whole only because another sink wanted it too (FanOut): the same rules, but its
        # bytes are here: one that holds what a parser reads is parsed.
        size = len(data)
        if self._globbed(path):
            if size <= self.kept_up_to:
                self._own_file(layer, path, data, size, executable_format(data) is not None)
            elif skipped_by_name(path) or not self._catalog(layer, path, data, size):
                self._over_limit(layer, path, size)
            return
        if (size > self.max_size and self._unread_library(path, data)
                and not _library_sections(self._sections, data, section_headers_at(data))):
            self._count_skip(LIBRARY)
            return
        self._catalog(layer, path, data, size)

    def take_stream(self, layer: int, path: str, size: int, head: bytes,
                    read: Callable[[int], bytes]) -> None:
        globbed = self._globbed(path)
        if globbed and size <= self.kept_up_to:
            whole = head + read(size - len(head))
            self._own_file(layer, path, whole, size, executable_format(whole) is not None)
            return
        if globbed and (skipped_by_name(path) or not looks_executable(head)):
            self._over_limit(layer, path, size)
            return
        if size <= self.max_size:
            # One read, as the reader would: reading in chunks and joining them measurably
            # raised the peak (more, and longer-lived, 1 MiB blocks on the heap).
            if not self._catalog(layer, path, head + read(size - len(head)), size) and globbed:
                self._over_limit(layer, path, size)
            return
        # The first MiB settles what the head could not: a PE's header lies past it, and a
        # file that only starts with "MZ" is neither spooled nor reported.
        head += read(min(SPOOL_CHUNK, size - len(head)))
        if executable_format(head) is None:
            if globbed:
                self._over_limit(layer, path, size)
            return
        if self._unread_library(path, head):
            self._count_skip(LIBRARY)
            self._pass_library(layer, path, size, head, read)
            return
        reason = self._reserve(size)
        if reason is not None:
            self._skip(layer, path, size, *reason)
            return
        copied = _Copied()
        try:
            with _spooled(head, read, size, copied) as data:
                self._catalog(layer, path, data, size)
        except _NotSpooled as exc:
            self._skip(layer, path, size, *exc.args)
        finally:  # the budget is charged what was written: refunded the rest when a file
            with self._lock:  # ended early, the disk was full, the layer was cut
                self._spool_left += size - copied.bytes

    def take_link(self, layer: int, path: str, target: str, matched: bool = True,
                  kept: bool = False) -> None:
        """A hard link at ``path`` to ``target`` (``matched``: the tree's globs match
        ``path``; ``kept``: the tree kept ``target``'s bytes). A tree that kept the files
        under the globs held a link under them (or under its own globs) to a file of the
        same layer it kept as that file, with its bytes: so it is here, at ``path``."""
        globbed = self._globbed(path)
        if not (globbed or matched):
            return
        with self._lock:
            if not (kept or (layer, target) in self._own_files):
                return
            if not (matched and kept):  # the tree holds it as a link: counted as a file
                self._links.append((layer, path))
            seen = self._linkable.get((layer, target))
        if seen is None or not globbed:
            return
        base = path[path.rfind("/") + 1:]
        found: list[StreamedFile] = []
        for cat, own in self._own:
            if not own(path):
                continue
            pkgs, error = seen.found.get(cat.name, ((), ""))
            same = getattr(cat, "same_for", None)
            if callable(same) and not same(base, seen.base):
                pkgs, error = self._renamed(cat, path, seen, target)
            if error or pkgs:
                found.append(StreamedFile(layer, path, cat.name,
                                          tuple(at_path(p, target, path) for p in pkgs),
                                          error, globbed=True))
        with self._lock:
            self._files.extend(found)

    def _renamed(self, cat: BinaryCataloger, path: str, seen: _Linkable,
                 target: str) -> tuple[tuple[Package, ...], str]:
        """A hard link at ``path`` whose name makes ``cat`` search its bytes for other things
        than the target's name did: searched again, under its name, in the target's copy;
        an unknown when no copy was kept (over the budget, the disk failed)."""
        names = getattr(cat, "selects", None)
        if callable(names) and not names(path[path.rfind("/") + 1:]):
            return (), ""
        data = self._held.get(seen.held) if seen.held is not None else None
        if data is None:
            return (), (f"hard link to {target}: not searched under this name (it was read "
                        f"as {seen.base}; no copy of it was kept)")
        try:
            return tuple(cat.parse_binary(data, path)), ""
        except PARSE_ERRORS as exc:
            return (), str(exc)

    def _unread_library(self, path: str, head: bytes) -> bool:
        """A large ELF shared library (by name and type) outside the globs that no version
        rule names and Go did not link (no build ID note in ``head``): not parsed. The big
        ELF files of an image are mostly these (libLLVM, Mesa's drivers, ICU data: ~400 MB
        in bench/sbom.py's big image, which cost 0.45 s to spool for nothing)."""
        base = path[path.rfind("/") + 1:]
        return (elf_type(head) == ET_DYN and _LIBRARY_NAME.search(base) is not None
                and not binary.names(base) and not self._globbed(path)
                and not _GO_NOTE.search(head, 0, GO_NOTE_WITHIN))

    def _pass_library(self, layer: int, path: str, size: int, head: bytes,
                      read: Callable[[int], bytes]) -> None:
        """A large shared library not spooled: read up to its section headers, keeping
        only the ``NAMES_BEFORE_HEADERS`` bytes before them (the rest is skipped), for the
        names of sections a parser would read. An unknown for each found."""
        shoff = section_headers_at(head)
        lo, hi = shoff - NAMES_BEFORE_HEADERS, min(shoff, size)
        names, pos, chunk = bytearray(), 0, head
        while chunk:
            names += chunk[max(lo - pos, 0):max(hi - pos, 0)]
            pos += len(chunk)
            chunk = read(min(SPOOL_CHUNK, hi - pos)) if pos < hi else b""
        with self._lock:
            self._files.extend(
                StreamedFile(layer, path, name, error=f"large shared library ({size >> 20} "
                             f"MiB) not read, though it holds {what}")
                for name, what in _library_sections(self._sections, names))

    # -- parsing --------------------------------------------------------------------
    def _parse(self, path: str, data: Data) -> Found:
        """Every parser over one executable's bytes (or the map of its spooled copy)."""
        found: Found = {}
        for cat in self._catalogers:
            try:
                found[cat.name] = (tuple(cat.parse_binary(data, path)), "")
            except PARSE_ERRORS as exc:
                found[cat.name] = ((), str(exc))
            finally:
                if isinstance(data, PagedMap):
                    data.release()  # what one parser touched is not kept through the next
        return found

    def _own_file(self, layer: int, path: str, data: bytes, size: int,
                  executable: bool) -> None:
        """A file under the globs that the tree would have kept: hashed for RECORD rows
        (an OS's own programs aside), and each cataloger whose globs name it reports what
        it found (as its pass over the tree would have)."""
        system = executable and path[:path.rfind("/")] in SYSTEM_BIN
        digest = "" if system else _record_digest(data)
        with self._lock:
            self._own_files.add((layer, path))
            if digest:
                self._digests[layer, path] = digest
        if not executable:
            return
        found = self._parse(path, data)
        files = [StreamedFile(layer, path, cat.name, *found[cat.name], globbed=True)
                 for cat, own in self._own if own(path) and any(found[cat.name])]
        self._counted(size, data, files)
        self._linkable_as(layer, path, data, found)

    def _catalog(self, layer: int, path: str, data: Data, size: int) -> bool:
        """An executable's packages and errors from every parser; False when ``data`` is
        no executable."""
        if executable_format(data) is None:
            return False
        found = self._parse(path, data)
        self._counted(size, data, [StreamedFile(layer, path, name, pkgs, error)
                                   for name, (pkgs, error) in found.items() if pkgs or error])
        if (size <= self.kept_up_to and getattr(self._matched, "path", None) == path
                and self._matched.value):
            self._linkable_as(layer, path, data, found)  # the tree keeps it: a link may name it
        return True

    def _linkable_as(self, layer: int, path: str, data: Data, found: Found) -> None:
        """An executable the tree keeps, which a hard link later in the layer may name: what
        each cataloger found in it, and its copy (``_Held``) to search under another name
        (none of one spooled to disk: its spool file goes when it has been read)."""
        held = self._held.put(data) if isinstance(data, bytes) else None
        linkable = _Linkable(path[path.rfind("/") + 1:], found, held)
        with self._lock:
            self._linkable[(layer, path)] = linkable

    def _counted(self, size: int, data: Data, files: list[StreamedFile]) -> None:
        with self._lock:
            self.counts.parsed += 1
            self.counts.bytes += size
            if isinstance(data, PagedMap):
                self.counts.spooled += 1
                self.counts.spooled_bytes += size
            self._files.extend(files)

    def _over_limit(self, layer: int, path: str, size: int) -> None:
        """A file under the globs over the tree's size limit, not read: an unknown for each
        cataloger whose globs name it, as the tree's over-limit entries give."""
        with self._lock:
            self._files.extend(
                StreamedFile(layer, path, cat.name, globbed=True,
                             error=f"file of {size} bytes is over the size limit")
                for cat, own in self._own if own(path))

    def _reserve(self, size: int) -> tuple[str, str] | None:
        """Take ``size`` bytes of the image's spool budget; (key, reason) when it cannot."""
        if size > self.max_spooled:
            return TOO_LARGE, (f"executable of {size} bytes is over the "
                               f"{self.max_spooled} byte limit for binaries read from disk")
        with self._lock:
            if size > self._spool_left:
                return BUDGET_SPENT, (f"executable of {size} bytes not read: the image's "
                                      f"{self.spool_budget} byte budget for large binaries "
                                      "is spent")
            self._spool_left -= size
        return None

    def _skip(self, layer: int, path: str, size: int, key: str, reason: str) -> None:
        """An executable not read: counted, and an unknown for each parser (under the
        catalogers' globs, the tree's over-limit unknown instead)."""
        self._count_skip(key)
        if size > self.kept_up_to and self._globbed(path):
            self._over_limit(layer, path, size)
            return
        with self._lock:
            self._files.extend(StreamedFile(layer, path, name, error=reason)
                               for name in self._names())

    def _count_skip(self, key: str) -> None:
        with self._lock:
            self.counts.skipped[key] = self.counts.skipped.get(key, 0) + 1

    def _names(self) -> list[str]:
        return [c.name for c in self._catalogers]

    # -- results --------------------------------------------------------------------
    def results(self) -> Streamed:
        """What was found; the copies for hard links are dropped (the layers are read)."""
        self._held.close()
        with self._lock:
            files = sorted(self._files, key=lambda f: (f.layer, f.path, f.cataloger))
            return Streamed(files=tuple(files), catalogers=frozenset(self._names()),
                            digests=dict(self._digests), links=tuple(sorted(self._links)))


# The OS's own program directories: the package manager records its files' digests, and a
# Python RECORD naming one of its programs is rare; hashing them all cost 17 ms for the
# debootstrap image's 29 MB. (A RECORD row naming one is checked by size.)
SYSTEM_BIN = frozenset(("/bin", "/sbin", "/usr/bin", "/usr/sbin"))


def _record_digest(data: bytes) -> str:
    """sha256 as a RECORD row writes it (urlsafe base64, no padding)."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def _matcher(globs: Sequence[str]) -> Callable[[str], bool]:
    pattern = compile_globs(globs)
    return pattern.match if pattern is not None else (lambda _path: False)


def at_path(pkg: Package, old: str, new: str) -> Package:
    """``pkg`` as found in the same bytes at ``new`` instead of ``old``."""
    if old == new:
        return pkg
    return dataclasses.replace(
        pkg, locations=tuple(dataclasses.replace(loc, path=new) if loc.path == old else loc
                             for loc in pkg.locations),
        files=tuple(new if f == old else f for f in pkg.files))


def _library_sections(sections: Sections, data: bytes | bytearray,
                      end: int | None = None) -> list[tuple[str, str]]:
    """(cataloger, what) for each of ``sections`` named in ``data`` (before ``end``)."""
    start = 0 if end is None else end - NAMES_BEFORE_HEADERS
    return [(name, what) for name, section, what in sections
            if data.find(section, max(start, 0), end) >= 0]


@dataclass(slots=True)
class _Copied:
    bytes: int = 0  # written to the spool file so far


@contextlib.contextmanager
def _spooled(head: bytes, read: Callable[[int], bytes], size: int,
             copied: _Copied) -> Iterator[PagedMap]:
    """The file (``head`` then ``read`` until ``size`` bytes) copied to an unlinked
    temporary file (``copied`` counts the bytes written) and mapped; the copy is gone when
    the block ends, on errors too (closing the only descriptor of an unlinked file frees
    it)."""
    with contextlib.ExitStack() as stack:
        try:
            f = stack.enter_context(tempfile.TemporaryFile(prefix="hullcheck-spool-"))
            f.write(head)
            written = copied.bytes = len(head)
            while written < size and (chunk := read(min(SPOOL_CHUNK, size - written))):
                f.write(chunk)
                written = copied.bytes = written + len(chunk)
            f.flush()
            if written == size:
                data = stack.enter_context(PagedMap(f.fileno(), 0, access=mmap.ACCESS_READ))
        except OSError as exc:  # disk full, no TMPDIR: this one file is not looked into
            raise _NotSpooled(SPOOL_FAILED, f"executable of {size} bytes could not be "
                                            f"spooled to disk: {exc}") from None
        if written != size:  # a host file that shrank while read
            raise _NotSpooled(ENDED_EARLY,
                              f"executable of {size} bytes ended after {written} bytes")
        yield data


# -- one layer's analysis (filetree.SinkSpec) -------------------------------------------
class _LayerBinaries(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    files: list[StreamedFile]
    digests: list[tuple[str, str]]  # (path, sha256 as RECORD writes it)
    links: list[str]  # paths


class _LayerRecord(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    path: str
    paths: list[str]
    digests: list[str]
    sizes: list[str]
    verdicts: bytes


class _LayerDigests(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    digests: list[tuple[str, str]]  # (path, sha256 as RECORD writes it)
    records: list[_LayerRecord]


_BINARIES = msgspec.msgpack.Decoder(_LayerBinaries)
_DIGESTS = msgspec.msgpack.Decoder(_LayerDigests)
RECORD_FORMAT = 2  # of RecordSpec's findings: 2 holds the RECORDs judged in their layer


@dataclass(frozen=True, slots=True)
class BinarySpec:
    """The binary sink as part of each layer's analysis, cached with its index. Its limits
    (``spool_budget`` too) hold per layer: a layer's findings cannot depend on the others."""

    kept_up_to: int = DEFAULT_MAX_FILE
    name: str = "binaries"

    def fingerprint(self) -> str:
        # "every executable": the sink reads the files under the catalogers' globs too
        # (before, the tree kept them): an older layer's findings lack them.
        names = ",".join(c.name for c in BINARY_CATALOGERS)
        return (f"every executable, kept {self.kept_up_to} read {MAX_BINARY} spooled "
                f"{MAX_SPOOLED} budget {SPOOL_BUDGET} catalogers {names}, hard links under "
                f"other names read under theirs up to {HOLD_BUDGET}, to spooled files too")

    def new(self) -> BinarySink:
        return BinarySink(kept_up_to=self.kept_up_to)

    def result(self, sink: ContentSink) -> bytes:
        assert isinstance(sink, BinarySink)
        found = sink.results()
        return msgspec.msgpack.encode(_LayerBinaries(
            list(found.files), sorted((p, d) for (_, p), d in found.digests.items()),
            [p for _, p in found.links]))

    @staticmethod
    def merge(parts: Sequence[tuple[int, bytes]]) -> Streamed:
        """The image's results from each layer's (layer index, findings)."""
        files: list[StreamedFile] = []
        digests: dict[tuple[int, str], str] = {}
        links: list[tuple[int, str]] = []
        for layer, data in parts:
            found = _BINARIES.decode(data)
            files.extend(dataclasses.replace(f, layer=layer) for f in found.files)
            digests.update(((layer, path), digest) for path, digest in found.digests)
            links.extend((layer, path) for path in found.links)
        files.sort(key=lambda f: (f.layer, f.path, f.cataloger))
        return Streamed(files=tuple(files), catalogers=frozenset(c.name for c in BINARY_CATALOGERS),
                        digests=digests, links=tuple(links))


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """``python.RecordDigests`` as part of each layer's analysis: the sha256 of Python
    package files, for RECORD rows, and each RECORD's rows judged against the files the
    same layer wrote (``python.layer_records``): a warm run neither parses those RECORDs
    nor compares their rows again, only checks that the files are still that layer's."""

    name: str = "record-digests"

    def fingerprint(self) -> str:
        return f"sha256 up to {RecordDigests.max_size}, format {RECORD_FORMAT}"

    def new(self) -> ContentSink:
        return RecordDigests()

    def result(self, sink: ContentSink) -> bytes:
        assert isinstance(sink, RecordDigests)
        records = [_LayerRecord(path, list(r.paths), list(r.digests), list(r.sizes), r.verdicts)
                   for path, r in sorted(layer_records(sink).items())]
        return msgspec.msgpack.encode(_LayerDigests(
            sorted((p, d) for (_, p), d in sink.digests.items()), records))

    @staticmethod
    def merge(parts: Sequence[tuple[int, bytes]]) -> StreamedDigests:
        out = StreamedDigests()
        for layer, data in parts:
            found = _DIGESTS.decode(data)
            out.update(((layer, path), digest) for path, digest in found.digests)
            out.records.update(((layer, r.path),
                                LayerRecord(r.paths, r.digests, r.sizes, r.verdicts))
                               for r in found.records)
        return out


# -- onto the merged tree ----------------------------------------------------------------
# Each layer's sinks name the files as its tar does; a symlinked parent may have moved them
# (``FileTree.landed``). Only the layers with such files (for most images, none) change.
def landed_digests(found: StreamedDigests, tree: FileTree) -> StreamedDigests:
    """``found`` keyed by the path where each file lands, kept only where it is the file
    its layer left there; the RECORDs a moving layer judged are judged again on the
    merged tree (its rows name the files as they land, not as its tar named them)."""
    moved = tree.moved_layers()
    if not moved:
        return found
    out = StreamedDigests()
    for (layer, path), digest in found.items():
        if layer not in moved:
            out[layer, path] = digest
            continue
        where, last = tree.landed(layer, path)
        if last:
            out[layer, where] = digest
    out.records.update((key, judged) for key, judged in found.records.items()
                       if key[0] not in moved)
    return out


__all__ = ["MAX_BINARY", "MAX_SPOOLED", "SPOOL_BUDGET", "BinarySink", "BinarySpec",
           "RecordSpec", "Streamed", "StreamedFile", "landed_digests"]
