"""Binaries anywhere in the image, found by content while the layers stream.

The file tree keeps bytes only for the catalogers' globs, so an executable at
``/opt/svc/server/run`` or ``/workspace/svc`` is outside what the binary catalogers see,
and keeping every executable's bytes would cost hundreds of MB. ``BinarySink`` is a
``filetree.ContentSink`` that looks at the other regular files as they stream by: their
first bytes say whether they are an executable (ELF, PE, Mach-O); only then is a file
read whole, handed to the Go build-info, ``cargo auditable`` and version-string parsers
(the catalogers' own functions), and dropped. What stays is small: the packages each file
gave, or why it could not be read, with its path and layer.

    sink = BinarySink(kept_up_to=max_file)
    tree = filetree.build(image, catalog.globs_for(), max_file=max_file, sink=sink)
    inv = catalog.run(tree, source, streamed=sink.results())

The runner treats those results like the evidence it parses itself (layer attribution,
visible or shipped-not-visible, OS-package ownership). Files under the binary catalogers'
globs are theirs and skipped here, so nothing is reported twice; the one exception is
such a file too large for the tree to keep (``kept_up_to``): the sink reads it instead,
and the runner drops the "over the size limit" unknown the catalogers would give it.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass

from hullcheck.catalog import binary, golang, rust
from hullcheck.catalog.elf import executable_format, looks_executable
from hullcheck.errors import FormatError
from hullcheck.filetree import DEFAULT_MAX_FILE, compile_globs
from hullcheck.model import Package

# Bytes of one streamed file (read whole, parsed, dropped). A file is held whole while it
# is parsed, by each layer-reading thread: outside the executable globs, where the big ELF
# files are mostly libraries (libLLVM: 117 MB), the limit is lower. Measured on
# bench/sbom.py's big image: 256 MiB everywhere cost 4.9 s and 490 MB peak against 3.8 s and
# 180 MB without the sink; 64 MiB outside the globs / 256 MiB inside, 4.4 s and 305 MB;
# 16 MiB / 48 MiB, 4.1 s and 265 MB (the budget is 300 MB). A larger executable
# outside the bin directories is not looked into.
MAX_BINARY = 16 << 20
MAX_BINARY_IN_GLOBS = 48 << 20  # bin dirs: a file too large for the tree is a program
HEAD = 64  # bytes sniffed before deciding to read a file

# What a parser may raise for unreadable evidence (the runner's list, shared).
PARSE_ERRORS: tuple[type[Exception], ...] = (
    FormatError, ValueError, UnicodeDecodeError, KeyError, IndexError, RecursionError,
    struct.error,
)

Parser = Callable[[bytes, str, str], list[Package]]

# (cataloger name, its globs, its parse function over an executable's bytes)
PARSERS: tuple[tuple[str, tuple[str, ...], Parser], ...] = (
    (golang.GoBinaryCataloger.name, golang.GoBinaryCataloger.globs, golang.binary_packages),
    (rust.RustAuditableCataloger.name, rust.RustAuditableCataloger.globs,
     rust.binary_packages),
    (binary.BinaryVersionCataloger.name, binary.BinaryVersionCataloger.globs,
     binary.binary_packages),
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
    """What one cataloger found in one file one layer wrote: packages, or an error."""

    layer: int
    path: str
    cataloger: str
    packages: tuple[Package, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class Streamed:
    """The binary sink's results, for ``catalog.run(..., streamed=)``."""

    files: tuple[StreamedFile, ...] = ()
    catalogers: frozenset[str] = frozenset(name for name, _, _ in PARSERS)
    # (layer, path) of glob files the tree did not keep (too large) that the sink read.
    covered: frozenset[tuple[int, str]] = frozenset()


@dataclass(slots=True)
class _Counts:
    sniffed: int = 0
    parsed: int = 0
    bytes: int = 0


class BinarySink:
    """Thread-safe ``filetree.ContentSink`` (sniffing its first ``head_size`` bytes) that
    catalogs executables outside the binary catalogers' globs; ``results()`` once the
    layers are read."""

    head_size = HEAD

    def __init__(self, *, kept_up_to: int = DEFAULT_MAX_FILE, max_size: int = MAX_BINARY,
                 max_size_in_globs: int = MAX_BINARY_IN_GLOBS,
                 parsers: tuple[tuple[str, tuple[str, ...], Parser], ...] = PARSERS) -> None:
        self.kept_up_to = kept_up_to  # the tree's size limit for the files it keeps
        self.max_size = max_size
        self.max_size_in_globs = max_size_in_globs
        self._parsers = parsers
        globs = compile_globs(g for _, gs, _ in parsers for g in gs)
        self._globbed = globs.match if globs is not None else (lambda _path: False)
        self._lock = threading.Lock()
        self._files: list[StreamedFile] = []
        self._covered: set[tuple[int, str]] = set()
        self.counts = _Counts()

    # -- ContentSink ----------------------------------------------------------------
    def wants(self, path: str, size: int) -> bool:
        if size < HEAD or size > max(self.max_size, self.max_size_in_globs) \
                or skipped_by_name(path):
            return False
        if self._globbed(path):
            # The tree keeps these bytes and the catalogers parse them; only such a file
            # too large to keep is read here.
            return self.kept_up_to < size <= self.max_size_in_globs
        return size <= self.max_size

    def wants_head(self, path: str, head: bytes) -> bool:
        with self._lock:
            self.counts.sniffed += 1
        return looks_executable(head)

    def take(self, layer: int, path: str, data: bytes) -> None:
        if executable_format(data) is None:
            return
        found: list[StreamedFile] = []
        for name, _, parse in self._parsers:
            try:
                pkgs = parse(data, path, name)
            except PARSE_ERRORS as exc:
                found.append(StreamedFile(layer, path, name, error=str(exc)))
                continue
            if pkgs:
                found.append(StreamedFile(layer, path, name, tuple(pkgs)))
        covered = len(data) > self.kept_up_to and self._globbed(path)
        with self._lock:
            self.counts.parsed += 1
            self.counts.bytes += len(data)
            self._files.extend(found)
            if covered:
                self._covered.add((layer, path))

    # -- results --------------------------------------------------------------------
    def results(self) -> Streamed:
        with self._lock:
            files = sorted(self._files, key=lambda f: (f.layer, f.path, f.cataloger))
            return Streamed(files=tuple(files),
                            catalogers=frozenset(name for name, _, _ in self._parsers),
                            covered=frozenset(self._covered))


__all__ = ["MAX_BINARY", "MAX_BINARY_IN_GLOBS", "PARSERS", "BinarySink", "Streamed", "StreamedFile"]
