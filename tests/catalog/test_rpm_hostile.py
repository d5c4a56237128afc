"""rpm-db on hostile input: every failure is a one-line FormatError, promptly, in bounded memory."""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hullcheck.catalog.rpmdb import bdb, parse_header, read_headers
from hullcheck.errors import FormatError
from tests.fixtures.rpm import build
from tests.fixtures.rpm.build import Built
from tests.fixtures.tools import need_command

FIXTURE_BDB = build.HERE / "bdb" / "Packages"
FIXTURE_NDB_ERASED = build.HERE / "ndb" / "erased" / "Packages.db"  # written by rpm itself


@pytest.fixture(scope="session")
def rpmdbs(tmp_path_factory: pytest.TempPathFactory) -> Built:
    need_command("rpm", "rpm")
    need_command("rpmbuild", "rpm")
    return build.built(tmp_path_factory.getbasetemp() / "rpmdbs")


def fails(data: bytes, match: str) -> None:
    with pytest.raises(FormatError, match=match) as info:
        list(read_headers(data))
    assert "\n" not in str(info.value)


def header_fails(blob: bytes, match: str) -> None:
    with pytest.raises(FormatError, match=match) as info:
        parse_header(blob)
    assert "\n" not in str(info.value)


GOOD = build.package_header("pkg", "1.0", "1")


# -- header blobs ---------------------------------------------------------------------


def test_good_synthetic_header_parses() -> None:
    h = parse_header(GOOD)
    assert (h.name, h.version, h.release, h.arch) == ("pkg", "1.0", "1", "noarch")


def test_index_count_of_a_billion() -> None:
    blob = struct.pack(">II", 10**9, 16) + GOOD[8:]
    header_fails(blob, "index count 1000000000 is out of range")


@pytest.mark.parametrize(
    ("blob", "match"),
    [
        (b"", "RPM header of 0 bytes is truncated"),
        (b"\0\0\0\x01", "RPM header of 4 bytes is truncated"),
        (struct.pack(">II", 0, 0), "index count 0 is out of range"),
        (struct.pack(">II", 1, 0x7FFFFFFF) + b"\0" * 16, "data length 2147483647 is out of range"),
        (struct.pack(">II", 3, 100) + b"\0" * 40, r"needs 156 bytes .* but has 48"),
    ],
)
def test_malformed_blob_framing(blob: bytes, match: str) -> None:
    header_fails(blob, match)


def test_truncated_real_header(rpmdbs: Built) -> None:
    blob = rpmdbs.blobs[0][1]
    header_fails(blob[: len(blob) // 2], "but has")


def _patch_entry(blob: bytes, tag: int, *, typ: int | None = None, offset: int | None = None,
                 count: int | None = None) -> bytes:
    """``blob`` with the index entry of ``tag`` changed."""
    il = struct.unpack_from(">I", blob)[0]
    out = bytearray(blob)
    for i in range(il):
        pos = 8 + 16 * i
        t, ty, off, cnt = struct.unpack_from(">iIiI", out, pos)
        if t == tag:
            struct.pack_into(">iIiI", out, pos, t, ty if typ is None else typ,
                             off if offset is None else offset, cnt if count is None else count)
            return bytes(out)
    raise AssertionError(f"tag {tag} not in blob")


@pytest.mark.parametrize(
    ("tag", "change", "match"),
    [
        (1000, {"offset": 10**6}, r"tag 1000: offset 1000000 is outside"),
        (1000, {"offset": -8}, r"tag 1000: offset -8 is outside"),
        (1000, {"count": 2}, r"tag 1000: string with count 2"),
        (1000, {"typ": 4}, r"tag 1000: type 4 is not a string"),
        (1022, {"typ": 8, "count": 10**9}, r"tag 1022: string count 1000000000 is out of range"),
    ],
)
def test_bad_index_entries(tag: int, change: dict[str, int], match: str) -> None:
    header_fails(_patch_entry(GOOD, tag, **change), match)


def test_unterminated_string() -> None:
    blob = build.make_header([(1000, 6, "pkg")], region=False)[:-1] + b"x"
    header_fails(blob, "tag 1000: unterminated string")


def test_integer_counts_and_alignment() -> None:
    base = build.make_header([(1000, 6, "abc"), (1003, 4, [1]), (1022, 6, "noarch")])
    assert parse_header(base).epoch == 1
    header_fails(_patch_entry(base, 1003, count=10**9), "tag 1003: count 1000000000 runs past")
    header_fails(_patch_entry(base, 1003, offset=5), "tag 1003: misaligned offset 5")
    header_fails(_patch_entry(base, 1003, typ=7), "tag 1003: type 7 is not an integer")


def test_file_lists_that_do_not_add_up() -> None:
    def files(dirs: list[str], bases: list[str], idx: list[int]) -> bytes:
        return build.make_header([
            (1000, 6, "f"), (1116, 4, idx), (1117, 8, bases), (1118, 8, dirs),
        ])

    assert parse_header(files(["/a/", "/b/"], ["x", "y"], [1, 0])).files == ("/b/x", "/a/y")
    header_fails(files(["/a/"], ["x", "y"], [0, 7]), "directory index 7 is out of range")
    header_fails(files(["/a/"], ["x", "y"], [0]), "2 file names but 1 directory indexes")


def test_header_without_name() -> None:
    header_fails(build.make_header([(1001, 6, "1.0")]), "RPM header has no NAME")


# -- SQLite -------------------------------------------------------------------------


def test_truncated_sqlite(rpmdbs: Built) -> None:
    data = rpmdbs.db_all.read_bytes()
    fails(data[:50], "rpm SQLite database is corrupt")
    fails(data[: len(data) // 2], "SQLite database is corrupt: database disk image is malformed")


def _sqlite(tmp_path: Path, *statements: str) -> bytes:
    db = tmp_path / "rpmdb.sqlite"
    con = sqlite3.connect(db)
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()
    return db.read_bytes()


def test_sqlite_without_packages_table(tmp_path: Path) -> None:
    fails(_sqlite(tmp_path, "CREATE TABLE Other (x)"), "has no Packages table")


def test_sqlite_packages_view_is_refused_not_run(tmp_path: Path) -> None:
    endless = (
        "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT x AS hnum, zeroblob(1000) AS blob FROM c"
    )
    fails(_sqlite(tmp_path, endless), "Packages is a view, not a table")


def test_sqlite_row_without_blob(tmp_path: Path) -> None:
    data = _sqlite(tmp_path, "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)",
                   "INSERT INTO Packages VALUES (1, NULL)")
    fails(data, "package 1 has no header blob")


def test_sqlite_garbage_blob(tmp_path: Path) -> None:
    data = _sqlite(tmp_path, "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)",
                   "INSERT INTO Packages VALUES (1, x'3b9aca0000000010')")
    fails(data, "index count 1000000000 is out of range")


# -- Berkeley DB ------------------------------------------------------------------------


def _bdb() -> bytearray:
    return bytearray(FIXTURE_BDB.read_bytes())


def _overflow_pages(data: bytes | bytearray) -> list[int]:
    psize = struct.unpack_from("<I", data, 20)[0]
    return [p for p in range(len(data) // psize) if data[p * psize + 25] == bdb.P_OVERFLOW]


def test_bdb_page_chain_loop() -> None:
    data = _bdb()
    page = _overflow_pages(data)[0]
    struct.pack_into("<I", data, page * 4096 + 16, page)  # next page = itself
    fails(bytes(data), f"overflow page chain loops at page {page}")


def test_bdb_two_page_loop(rpmdbs: Built, tmp_path: Path) -> None:
    import shutil

    if shutil.which("db5.3_load") is None and shutil.which("db_load") is None:
        need_command("db5.3_load", "db5.3-util")
    data = bytearray(build.make_bdb(rpmdbs.blobs, tmp_path, pagesize=512).read_bytes())
    chain = [p for p in _overflow_pages(data) if struct.unpack_from("<I", data, p * 512 + 16)[0]]
    first = chain[0]
    second = struct.unpack_from("<I", data, first * 512 + 16)[0]
    struct.pack_into("<I", data, second * 512 + 16, first)  # second -> first
    fails(bytes(data), "overflow page chain loops at page")


def test_bdb_chain_past_the_end() -> None:
    data = _bdb()
    page = _overflow_pages(data)[0]
    struct.pack_into("<I", data, page * 4096 + 16, 10**6)
    fails(bytes(data), "overflow page 1000000 is past the end")


def test_bdb_overflow_length_out_of_range() -> None:
    data = _bdb()
    page = _overflow_pages(data)[0]
    struct.pack_into("<H", data, page * 4096 + 22, 65000)
    fails(bytes(data), f"overflow page {page} length 65000 is out of range")


def test_bdb_truncated() -> None:
    data = FIXTURE_BDB.read_bytes()
    fails(data[: len(data) // 2], "rpm Berkeley DB is truncated: 8 pages")


def test_bdb_bad_hash_page_entry_count() -> None:
    data = _bdb()
    struct.pack_into("<H", data, 4096 + 20, 4001)
    fails(bytes(data), "hash page 1 has a bad entry count 4001")


def test_bdb_item_offset_out_of_bounds() -> None:
    data = _bdb()
    struct.pack_into("<H", data, 4096 + 26, 2)  # first item inside the page header
    fails(bytes(data), "hash page 1 item 0 is out of bounds")


@pytest.mark.parametrize(
    ("offset", "value", "match"),
    [
        (20, struct.pack("<I", 1000), "page size 1000 is not valid"),
        (24, b"\x01", "rpm Berkeley DB is encrypted"),
        (25, b"\x09", "page 0 has type 9, not hash metadata"),
    ],
)
def test_bdb_bad_metadata(offset: int, value: bytes, match: str) -> None:
    data = _bdb()
    data[offset:offset + len(value)] = value
    fails(bytes(data), match)


# -- NDB ------------------------------------------------------------------------------


def _ndb() -> bytearray:
    return bytearray(build.make_ndb([GOOD, build.package_header("other")]))


def test_ndb_synthetic_reads() -> None:
    assert [h.name for h in read_headers(bytes(_ndb()))] == ["pkg", "other"]


def test_ndb_checksum_mismatch() -> None:
    data = _ndb()
    data[4096 + 40] ^= 0xFF  # inside the first blob
    fails(bytes(data), "checksum mismatch for package 1")


@pytest.mark.parametrize(
    ("offset", "value", "match"),
    [
        (12, 10**9, "slot page count 1000000000 is out of range"),
        (12, 3, r"truncated: 3 slot pages need 12288 bytes"),
        (4, 7, "version 7 is not supported"),
        (32 + 8, 10**9, r"slot for package 1 points outside the file"),
        (32 + 12, 10**9, r"slot for package 1 points outside the file"),
        (32 + 4, 5, "bad blob head for package 5"),
        (4096 + 12, 10**6, "blob length 1000000 of package 1 does not fit"),
    ],
)
def test_ndb_hostile_fields(offset: int, value: int, match: str) -> None:
    data = _ndb()
    struct.pack_into("<I", data, offset, value)
    fails(bytes(data), match)


def test_real_ndb_truncated_and_flipped() -> None:
    real = FIXTURE_NDB_ERASED.read_bytes()
    fails(real[:8000], r"slot for package \d+ points outside the file")
    fails(real[:4000], "truncated: 1 slot pages need 4096 bytes")
    flipped = bytearray(real)
    flipped[4096 + 100] ^= 0x01  # inside package 1's blob, which rpm left in place
    fails(bytes(flipped), "checksum mismatch for package 1")


def test_ndb_bad_slot_magic_and_truncation() -> None:
    data = _ndb()
    data[48:52] = b"Junk"
    fails(bytes(data), "bad slot magic at byte 48")
    fails(bytes(_ndb()[:100]), "truncated")


def test_unknown_format() -> None:
    fails(b"\x00" * 600, "not an rpm database: unknown format")


# -- fuzzing: whatever the bytes, only FormatError ---------------------------------------

_FUZZ = settings(max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])


def _only_format_errors(data: bytes) -> None:
    try:
        for h in read_headers(data):
            assert h.name
    except FormatError as exc:
        assert "\n" not in str(exc)


@_FUZZ
@given(st.lists(st.tuples(st.integers(0, 32767), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_bdb(flips: list[tuple[int, int]]) -> None:
    data = _bdb()
    for pos, byte in flips:
        data[pos] = byte
    _only_format_errors(bytes(data))


@_FUZZ
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 2**20))
def test_fuzz_ndb(flips: list[tuple[int, int]], cut: int) -> None:
    data = _ndb()
    for pos, byte in flips:
        data[pos % len(data)] = byte
    _only_format_errors(bytes(data[: max(cut, 32)]))


@_FUZZ
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, 2**20))
def test_fuzz_real_ndb(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(FIXTURE_NDB_ERASED.read_bytes())
    for pos, byte in flips:
        data[pos % len(data)] = byte
    _only_format_errors(bytes(data[: max(cut, 32)]))


@_FUZZ
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, 10**6))
def test_fuzz_header_blobs(flips: list[tuple[int, int]], cut: int) -> None:
    blob = bytearray(build.package_header(
        "fuzz", t1003=(4, [3]), t1117=(8, ["a", "b"]), t1116=(4, [0, 0]), t1118=(8, ["/d/"]),
    ))
    for pos, byte in flips:
        blob[pos % len(blob)] = byte
    try:
        parse_header(bytes(blob[: max(cut, 1)]))
    except FormatError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_sqlite(rpmdbs: Built, flips: list[tuple[int, int]]) -> None:
    data = bytearray(rpmdbs.db_all.read_bytes())
    for pos, byte in flips:
        data[pos % len(data)] = byte
    _only_format_errors(bytes(data))
