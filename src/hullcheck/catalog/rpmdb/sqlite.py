"""The SQLite rpm database (rpm >= 4.16: RHEL 9, Fedora 33+, Amazon Linux 2023).

The header blobs are the ``blob`` column of table ``Packages(hnum, blob)``. The bytes are
opened in memory (``sqlite3`` ``deserialize``), so nothing is written to disk and the
image's file cannot be changed. The database is hostile input: ``Packages`` must be a
plain table (a view could be an endless recursive query), and a deadline aborts any
statement that runs too long.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

from hullcheck.errors import FormatError

MAGIC = b"SQLite format 3\x00"
DEADLINE_SECONDS = 30.0


def is_sqlite(data: bytes) -> bool:
    return data.startswith(MAGIC)


def _open(data: bytes) -> sqlite3.Connection:
    if len(data) >= 100 and data[18] == 2 and data[19] == 2:
        # A WAL-mode database: mark it rollback-journal so the in-memory copy opens without
        # a -wal/-shm file (rpm checkpoints the WAL when it closes the database).
        data = data[:18] + b"\x01\x01" + data[20:]
    con = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        con.deserialize(data)
        con.execute("PRAGMA query_only = ON")
        con.execute("PRAGMA cell_size_check = ON")
    except Exception:
        con.close()
        raise
    return con


def read_blobs(data: bytes) -> Iterator[bytes]:
    """Every header blob in the database, in ``hnum`` order."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        con = _open(data)
    except (sqlite3.Error, MemoryError, OverflowError, UnicodeDecodeError) as exc:
        raise FormatError(f"rpm SQLite database cannot be opened: {exc}") from None
    con.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    try:
        row = con.execute(
            "SELECT type, sql FROM sqlite_master WHERE name = 'Packages'"
        ).fetchone()
        if row is None:
            raise FormatError("rpm SQLite database has no Packages table")
        if row[0] != "table" or str(row[1] or "").upper().startswith("CREATE VIRTUAL"):
            raise FormatError(f"rpm SQLite database: Packages is a {row[0]}, not a table")
        for hnum, blob in con.execute("SELECT hnum, blob FROM Packages ORDER BY hnum"):
            if not isinstance(blob, bytes):
                raise FormatError(f"rpm SQLite database: package {hnum} has no header blob")
            yield blob
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # text columns of a corrupt schema
        reason = "took too long" if time.monotonic() > deadline else str(exc)
        raise FormatError(f"rpm SQLite database is corrupt: {reason}") from None
    finally:
        con.close()
