"""What the binary sink tells the catalog runner, exactly: each file's findings or unknown
(layer, path, cataloger, ``globbed``), at each size limit's edge, for every way a file
reaches the sink (streamed, whole from a ``FanOut``, a hard link to it), and what it hashes
for RECORD rows. Executables are real ELF files (``tests/fixtures/binaries/elfgen.py``)
holding the version strings the catalogers look for."""

from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path

import pytest

from hullcheck.catalog import streaming
from hullcheck.catalog.binary import BinaryVersionCataloger
from hullcheck.catalog.golang import GoBinaryCataloger
from hullcheck.catalog.registry import BINARY_CATALOGERS
from hullcheck.catalog.streaming import (
    NAMES_BEFORE_HEADERS,
    SPOOL_CHUNK,
    BinarySink,
    BinarySpec,
    StreamedFile,
    at_path,
)
from hullcheck.filetree import GlobSet
from hullcheck.filetree.tar import read_tar
from hullcheck.model import Location, Package, PackageType
from tests.catalog.test_streaming_binaries import _open_into
from tests.fixtures.binaries.elfgen import make_elf
from tests.fixtures.tars import tar_of

BUSYBOX = make_elf([(".rodata", b"\0BusyBox v1.36.1 (2024-01-01) multi-call binary\0")])
POSTGRES = make_elf([(".rodata", b"\0PostgreSQL 15.4\0")])
NOT_PE = b"MZ" + b"\0" * 200  # starts like a PE, has no PE header: no executable
ALL = ("binary-version", "go-module-binary", "rust-cargo-auditable")  # in results' order


def stream(sink: BinarySink, layer: int, path: str, data: bytes) -> None:
    """``path`` as a layer reader hands it over: its head, then a bounded reader."""
    sink.take_stream(layer, path, len(data), data[:64], io.BytesIO(data[64:]).read)


def found(sink: BinarySink) -> list[tuple[int, str, str, tuple[str, ...], str, bool]]:
    """(layer, path, cataloger, package name@version..., error, globbed) per result."""
    return [(f.layer, f.path, f.cataloger, tuple(f"{p.name}@{p.version}" for p in f.packages),
             f.error, f.globbed) for f in sink.results().files]


def over(layer: int, path: str, size: int) -> list[tuple[int, str, str, tuple[str, ...], str,
                                                             bool]]:
    """The tree's over-the-size-limit unknowns, one per cataloger whose globs name ``path``."""
    return [(layer, path, name, (), f"file of {size} bytes is over the size limit", True)
            for name in ALL]


# ---------------------------------------------------------------------------------------
# Files under the catalogers' globs, at the tree's size limit

@pytest.mark.parametrize("how", ["stream", "whole"])
def test_a_file_under_the_globs_at_the_trees_limit_is_the_catalogers_own(how: str) -> None:
    sink = BinarySink(kept_up_to=len(BUSYBOX), max_size=1 << 20)
    if how == "stream":
        stream(sink, 2, "/bin/busybox", BUSYBOX)
    else:
        sink.take(2, "/bin/busybox", BUSYBOX)
    assert found(sink) == [(2, "/bin/busybox", "binary-version", ("busybox@1.36.1",), "", True)]


@pytest.mark.parametrize("how", ["stream", "whole"])
def test_an_executable_under_the_globs_over_the_trees_limit_is_read_within_the_sinks(
        how: str) -> None:
    sink = BinarySink(kept_up_to=len(BUSYBOX) - 1, max_size=1 << 20)
    if how == "stream":
        stream(sink, 2, "/bin/busybox", BUSYBOX)
    else:
        sink.take(2, "/bin/busybox", BUSYBOX)
    assert found(sink) == [(2, "/bin/busybox", "binary-version", ("busybox@1.36.1",), "", False)]
    assert (sink.counts.parsed, sink.counts.bytes) == (1, len(BUSYBOX))


@pytest.mark.parametrize("how", ["stream", "whole"])
@pytest.mark.parametrize(("path", "data"), [
    ("/usr/bin/blob", NOT_PE),  # looks like a PE, is none
    ("/usr/bin/blob", b"\0" * 300),  # no executable at all
    ("/usr/bin/notes.txt", BUSYBOX),  # named as no executable: not read
])
def test_a_file_under_the_globs_over_the_limit_that_is_not_read_is_the_trees_unknown(
        how: str, path: str, data: bytes) -> None:
    sink = BinarySink(kept_up_to=100, max_size=1 << 20)
    if how == "stream":
        stream(sink, 3, path, data)
    else:
        sink.take(3, path, data)
    assert found(sink) == over(3, path, len(data))
    assert sink.counts.parsed == 0


def test_one_over_the_sinks_memory_limit_that_is_no_executable_is_the_trees_unknown() -> None:
    """Past ``max_size`` the first MiB is read to tell: a file that only starts like a PE."""
    data = b"MZ" + b"\0" * (SPOOL_CHUNK + 500)
    sink = BinarySink(kept_up_to=100, max_size=1000)
    stream(sink, 1, "/usr/local/bin/blob", data)
    assert found(sink) == over(1, "/usr/local/bin/blob", len(data))
    assert sink.counts.spooled == 0 and sink.counts.skipped == {}


# ---------------------------------------------------------------------------------------
# Outside the globs: the sink's own limits

def test_a_file_of_the_head_size_is_sniffed() -> None:
    sink = BinarySink()
    assert sink.wants("/var/lib/app/tool", 64) and not sink.wants("/var/lib/app/tool", 63)
    assert sink.wants_matched("/var/lib/app/tool", 64, False)
    assert not sink.wants("/var/lib/app/tool.json", 1 << 20)
    assert sink.wants("/usr/bin/x", 1)  # under the globs: whatever its size


def test_a_sink_without_catalogers_wants_nothing_small_and_names_none() -> None:
    sink = BinarySink(catalogers=())
    assert not sink.wants("/usr/bin/x", 10)
    assert sink.results().catalogers == frozenset()


@pytest.mark.parametrize(("max_size", "spooled"), [(len(BUSYBOX), 0), (len(BUSYBOX) - 1, 1)])
def test_up_to_max_size_in_memory_past_it_spooled(max_size: int, spooled: int) -> None:
    sink = BinarySink(max_size=max_size)
    stream(sink, 0, "/var/lib/busybox", BUSYBOX)
    assert found(sink) == [(0, "/var/lib/busybox", "binary-version", ("busybox@1.36.1",), "", False)]
    assert (sink.counts.spooled, sink.counts.spooled_bytes) == (spooled, spooled * len(BUSYBOX))


def test_bytes_read_add_up() -> None:
    sink = BinarySink()
    stream(sink, 0, "/var/lib/a/busybox", BUSYBOX)
    stream(sink, 0, "/var/lib/b/postgres", POSTGRES)
    assert (sink.counts.parsed, sink.counts.bytes) == (2, len(BUSYBOX) + len(POSTGRES))


@pytest.mark.parametrize(("budget", "read"), [(len(BUSYBOX), True), (len(BUSYBOX) - 1, False)])
def test_the_spool_budget_holds_exactly_its_bytes(budget: int, read: bool) -> None:
    sink = BinarySink(max_size=100, spool_budget=budget)
    stream(sink, 0, "/var/lib/busybox", BUSYBOX)
    if read:
        assert found(sink) == [(0, "/var/lib/busybox", "binary-version", ("busybox@1.36.1",), "",
                                False)]
    else:
        reason = (f"executable of {len(BUSYBOX)} bytes not read: the image's {budget} byte "
                  "budget for large binaries is spent")
        assert found(sink) == [(0, "/var/lib/busybox", name, (), reason, False) for name in ALL]
        assert sink.counts.skipped == {"budget-spent": 1}


def test_catalogers_are_the_sinks_own() -> None:
    sink = BinarySink(catalogers=[BinaryVersionCataloger()])
    stream(sink, 0, "/var/lib/busybox", BUSYBOX)
    result = sink.results()
    assert result.catalogers == frozenset({"binary-version"})
    assert [f.cataloger for f in result.files] == ["binary-version"]


# ---------------------------------------------------------------------------------------
# Large shared libraries

def _library(sections: list[tuple[str, bytes]], tail: bytes = b"") -> bytes:
    """A shared object (ELF type ET_DYN) with ``sections``, then ``tail`` after its headers."""
    data = bytearray(make_elf(sections))
    struct.pack_into("<H", data, 16, 3)
    return bytes(data) + tail


def _section_headers_at(data: bytes) -> int:
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    return int(shoff)


GO_NAME = b".go.buildinfo\0"


@pytest.mark.parametrize("how", ["stream", "whole"])
@pytest.mark.parametrize(("library", "unknown"), [
    # the name of a Go section among the section names before the headers: it holds one
    (_library([(".go.buildinfo", b"\xff Go buildinf:"), (".rodata", bytes(2 << 20))]), True),
    # the same bytes anywhere else are no section name: far before the headers, after them
    (_library([(".rodata", GO_NAME + bytes(2 << 20))]), False),
    (_library([(".rodata", bytes(2 << 20))], tail=GO_NAME), False),
])
def test_a_large_library_is_passed_over_unless_its_section_names_say_otherwise(
        how: str, library: bytes, unknown: bool) -> None:
    sink = BinarySink(max_size=1 << 20)
    path = "/usr/lib/x86_64-linux-gnu/libthing.so.1"
    if how == "stream":
        stream(sink, 0, path, library)
    else:
        sink.take(0, path, library)
    if how == "whole" and unknown:  # its bytes are here: parsed (no build info in them)
        assert sink.counts.parsed == 1 and sink.counts.skipped == {}
        return
    assert sink.counts.parsed == 0 and sink.counts.skipped == {"library": 1}
    expected = [(0, path, "go-module-binary", (),
                 f"large shared library ({len(library) >> 20} MiB) not read, though it holds "
                 "Go build info", False)] if unknown else []
    assert found(sink) == expected


def test_a_large_library_of_exactly_max_size_is_read() -> None:
    library = _library([(".rodata", bytes(4000))])
    sink = BinarySink(max_size=len(library))
    sink.take(0, "/usr/lib/libthing.so.1", library)
    assert sink.counts.parsed == 1 and sink.counts.skipped == {}


def test_a_go_note_only_in_the_first_32_kib_marks_a_go_library() -> None:
    """Go's linker writes its build ID note in the first KiBs; the same bytes later are no
    note (the library is passed over)."""
    note = b"\x04\0\0\0\x20\0\0\0\x04\0\0\0Go\0\0"
    for at, spooled in ((1000, 1), (40 << 10, 0)):
        library = _library([(".rodata", bytes(at - 128) + note + bytes(2 << 20))])
        assert library[at:at + len(note)] == note
        sink = BinarySink(max_size=1 << 20)
        stream(sink, 0, "/usr/lib/libgo.so", library)
        assert sink.counts.spooled == spooled
        assert sink.counts.skipped == ({} if spooled else {"library": 1})


def _names_at(offset: int) -> bytes:
    """A large library whose data holds the Go section's name at ``offset`` (a name table
    as strip leaves it), with ``offset`` within the window before the headers."""
    size = 3 << 20
    filler = bytearray(size)
    library = bytearray(_library([(".rodata", bytes(filler))]))
    shoff = _section_headers_at(bytes(library))
    assert shoff - NAMES_BEFORE_HEADERS <= offset < shoff
    library[offset:offset + len(GO_NAME)] = GO_NAME
    return bytes(library)


@pytest.mark.parametrize("where", ["window start", "chunk boundary", "first chunk"])
def test_the_window_before_the_headers_is_read_whole_across_chunks(where: str) -> None:
    """The bytes kept of a library streamed through unread are exactly the window before its
    headers, put together from every chunk read: a name at its first byte, at a chunk's
    first byte, or in a chunk before the last is seen."""
    probe = bytes(_library([(".rodata", bytes(3 << 20))]))
    lo = _section_headers_at(probe) - NAMES_BEFORE_HEADERS
    first_end = 64 + SPOOL_CHUNK  # the head and the first MiB read with it
    last_chunk = first_end + 2 * SPOOL_CHUNK  # where the last MiB read starts
    offset = {"window start": lo, "chunk boundary": last_chunk, "first chunk": lo + 10}[where]
    assert lo <= offset and (offset < last_chunk) is (where != "chunk boundary")
    library = _names_at(offset)
    sink = BinarySink(max_size=1 << 20)
    stream(sink, 0, "/usr/lib/libthing.so.1", library)
    assert [f[2] for f in found(sink)] == ["go-module-binary"]


# ---------------------------------------------------------------------------------------
# Hard links

def test_a_link_to_a_file_the_tree_keeps_outside_the_globs_is_that_file() -> None:
    """A file another cataloger's globs keep (told by ``wants_matched``; up to the tree's
    limit, here its exact size), read here as an executable: a hard link to it under the
    globs is it, at the link's path; under a name searched for more, searched again in the
    copy kept of it."""
    for told in ("matched", "wants"):
        sink = BinarySink(kept_up_to=len(BUSYBOX))
        if told == "matched":
            assert sink.wants_matched("/var/lib/tools/busybox", len(BUSYBOX), True)
        else:  # not told the tree's match: the tree keeps it
            assert sink.wants("/var/lib/tools/busybox", len(BUSYBOX))
        stream(sink, 1, "/var/lib/tools/busybox", BUSYBOX)
        sink.take_link(1, "/bin/busybox", "/var/lib/tools/busybox", matched=True, kept=True)
        files = sink.results().files
        assert [(f.path, f.globbed) for f in files] == [("/bin/busybox", True),
                                                       ("/var/lib/tools/busybox", False)]
        (pkg,) = files[0].packages
        assert pkg.locations[0].path == "/bin/busybox" and pkg.files == ("/bin/busybox",)
    sink = BinarySink()
    sink.wants_matched("/var/lib/tools/prog", len(BUSYBOX), True)
    stream(sink, 1, "/var/lib/tools/prog", BUSYBOX)  # no rule reads a file named prog
    sink.take_link(1, "/bin/busybox", "/var/lib/tools/prog", matched=True, kept=True)
    assert found(sink) == [(1, "/bin/busybox", "binary-version", ("busybox@1.36.1",), "", True)]


def test_a_link_to_a_file_the_tree_does_not_keep_is_nothing() -> None:
    for told in ((False, len(BUSYBOX)), (True, len(BUSYBOX) - 1)):
        matched, kept_up_to = told
        sink = BinarySink(kept_up_to=kept_up_to, max_size=100)
        sink.wants_matched("/var/lib/tools/busybox", len(BUSYBOX), matched)
        stream(sink, 1, "/var/lib/tools/busybox", BUSYBOX)  # spooled: no copy for a link
        sink.take_link(1, "/bin/busybox", "/var/lib/tools/busybox", matched=True, kept=False)
        assert [f.path for f in sink.results().files] == ["/var/lib/tools/busybox"]


def test_a_link_to_a_spooled_file_the_tree_keeps_is_that_file() -> None:
    """Over the sink's memory limit but within the tree's: the tree keeps the file, so a hard
    link under the globs is it (as it was when the tree read it). Under a name searched
    alike it is what the file gave; under a name searched for more, no copy was kept to
    search: an unknown saying so."""
    for target, link, expected in (
            ("busybox", "busybox", [("binary-version", ("busybox@1.36.1",), "")]),
            ("prog", "busybox", [("binary-version", (), "hard link to /var/lib/tools/prog: "
                                  "not searched under this name (it was read as prog; no "
                                  "copy of it was kept)")])):
        sink = BinarySink(max_size=100)  # spooled, though the tree keeps up to 32 MiB
        assert sink.wants_matched(f"/var/lib/tools/{target}", len(BUSYBOX), True)
        stream(sink, 1, f"/var/lib/tools/{target}", BUSYBOX)
        assert sink.counts.spooled == 1
        sink.take_link(1, f"/bin/{link}", f"/var/lib/tools/{target}", matched=True, kept=True)
        assert [(f[2], f[3], f[4]) for f in found(sink) if f[1] == f"/bin/{link}"] == expected


@pytest.mark.parametrize(("matched", "kept", "counted"), [
    (True, True, False),  # the tree keeps it as a file itself
    (True, False, True),  # under the tree's globs, its target's bytes not kept: a link
    (False, True, True),
])
def test_which_links_count_as_files(matched: bool, kept: bool, counted: bool) -> None:
    sink = BinarySink()
    stream(sink, 0, "/usr/bin/run.sh", b"#!/bin/sh\nexec tool\n" * 5)  # ours, no executable
    sink.take_link(0, "/usr/bin/run", "/usr/bin/run.sh", matched=matched, kept=kept)
    result = sink.results()
    assert result.links == (((0, "/usr/bin/run"),) if counted else ())
    assert result.files == ()


def test_a_link_only_a_later_cataloger_owns_is_reported_by_it() -> None:
    sink = BinarySink()
    stream(sink, 0, "/usr/bin/postgres", POSTGRES)
    link = "/usr/lib/postgresql/15/bin/postgres"
    sink.take_link(0, link, "/usr/bin/postgres", matched=True, kept=False)
    assert (0, link, "binary-version", ("postgresql@15.4",), "", True) in found(sink)


def test_a_renamed_link_no_rule_selects_is_nothing_even_without_a_copy() -> None:
    """A link whose name selects other version rules than its target's is searched again
    under its name (here with no copy kept: an unknown saying so); one whose name no rule
    selects is not searched at all: nothing, and no unknown."""
    for target, link, expected in (
            ("bb", "busybox", [("binary-version", "hard link to /bin/bb: not searched under "
                                "this name (it was read as bb; no copy of it was kept)")]),
            ("busybox", "sh", [])):
        sink = BinarySink(hold_budget=0)
        stream(sink, 0, f"/bin/{target}", BUSYBOX)
        sink.take_link(0, f"/bin/{link}", f"/bin/{target}", matched=False, kept=False)
        assert [(f[2], f[4]) for f in found(sink) if f[1] == f"/bin/{link}"] == expected


# ---------------------------------------------------------------------------------------
# Copies kept for hard links

def test_copies_are_kept_within_their_budget_and_read_back() -> None:
    held = streaming._Held(10)
    assert held.put(b"abcdef") == (0, 6)
    assert held.put(b"ghijk") is None  # 4 bytes left
    assert held.put(b"ghij") == (6, 4)
    assert held.put(b"") == (10, 0)
    assert held.get((0, 6)) == b"abcdef" and held.get((6, 4)) == b"ghij"
    held.close()
    assert held.get((0, 6)) is None


def test_copies_are_kept_only_when_a_cataloger_searches_by_name(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The copies for hard links cost disk writes: none unless some cataloger's findings
    depend on the file's name (the version strings' do, Go's build info does not)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for catalogers, copies in (((GoBinaryCataloger(),), 0),
                               ((GoBinaryCataloger(), BinaryVersionCataloger()), 1)):
        sink = BinarySink(catalogers=catalogers)
        stream(sink, 0, "/bin/busybox", BUSYBOX)
        assert len(_open_into(tmp_path)) == copies
        sink.results()
        assert _open_into(tmp_path) == []


def test_a_disk_that_failed_is_not_tried_again(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    held = streaming._Held(100)
    assert held.put(b"abc") is None
    (tmp_path / "missing").mkdir()  # the disk is back: copies for this layer stay off
    assert held.put(b"a") is None


# ---------------------------------------------------------------------------------------
# Digests for RECORD rows

def test_files_under_the_globs_are_hashed_but_the_systems_programs() -> None:
    sink = BinarySink()
    script = b"#!/bin/sh\necho hi\n"
    stream(sink, 0, "/usr/bin/busybox", BUSYBOX)  # an OS program: its package manager's
    stream(sink, 0, "/usr/bin/run.sh", script)  # no executable: hashed
    stream(sink, 0, "/usr/local/bin/busybox", BUSYBOX)  # not the OS's: hashed
    stream(sink, 0, "/bin/busybox", BUSYBOX)
    stream(sink, 0, "/sbin/busybox", BUSYBOX)
    stream(sink, 0, "/usr/sbin/busybox", BUSYBOX)
    digests = sink.results().digests
    assert digests == {(0, "/usr/bin/run.sh"): streaming._record_digest(script),
                       (0, "/usr/local/bin/busybox"): streaming._record_digest(BUSYBOX)}
    assert "=" not in digests[0, "/usr/bin/run.sh"]
    assert len(digests[0, "/usr/bin/run.sh"]) == 43


def test_a_layers_findings_survive_the_cache_encoding() -> None:
    spec = BinarySpec()
    sink = spec.new()
    stream(sink, 0, "/usr/local/bin/busybox", BUSYBOX)
    stream(sink, 0, "/usr/bin/run.sh", b"#!/bin/sh\n")
    sink.take_link(0, "/usr/bin/run", "/usr/bin/run.sh", matched=True, kept=False)
    merged = BinarySpec.merge([(4, spec.result(sink))])
    assert merged.digests == {(4, "/usr/bin/run.sh"): streaming._record_digest(b"#!/bin/sh\n"),
                              (4, "/usr/local/bin/busybox"): streaming._record_digest(BUSYBOX)}
    assert merged.links == ((4, "/usr/bin/run"),)
    assert [(f.layer, f.path, f.cataloger) for f in merged.files] == [
        (4, "/usr/local/bin/busybox", "binary-version")]


def test_the_cache_key_names_the_catalogers() -> None:
    names = ",".join(c.name for c in BINARY_CATALOGERS)
    assert f" catalogers {names}, " in BinarySpec().fingerprint()


def test_a_package_found_at_another_path_moves_only_that_path() -> None:
    pkg = Package(type=PackageType.BINARY, name="busybox", version="1.36.1",
                  purl="pkg:generic/busybox@1.36.1", found_by="binary-version",
                  locations=(Location(path="/bin/busybox"), Location(path="/etc/busybox.conf")),
                  files=("/bin/busybox", "/usr/share/doc/busybox"))
    moved = at_path(pkg, "/bin/busybox", "/bin/sh")
    assert moved.locations == (Location(path="/bin/sh"), Location(path="/etc/busybox.conf"))
    assert moved.files == ("/bin/sh", "/usr/share/doc/busybox")
    assert at_path(pkg, "/bin/busybox", "/bin/busybox") is pkg


_ = StreamedFile  # the type of ``sink.results().files``


def test_a_library_whose_headers_lie_in_its_first_mib_leaves_the_layer_readable() -> None:
    """Read up to its section headers (here inside the first MiB the sink reads anyway) and
    no further: the reader skips the rest and the next member is read as it is."""
    library = _library([(".rodata", bytes(1000))], tail=bytes(3 << 20))
    assert _section_headers_at(library) < 64 + SPOOL_CHUNK < len(library)
    data = tar_of({"usr/lib/libthing.so.1": library, "bin/busybox": BUSYBOX})
    sink = BinarySink(max_size=1 << 20)
    read_tar(iter([data[i:i + (64 << 10)] for i in range(0, len(data), 64 << 10)]), index=0,
             what="layer 0", wanted=GlobSet([]), sink=sink)
    assert sink.counts.skipped == {"library": 1}
    assert found(sink) == [(0, "/bin/busybox", "binary-version", ("busybox@1.36.1",), "", True)]
