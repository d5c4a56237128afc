"""Migrations: from empty, from the previous revision holding data, concurrently; a newer
database refused; bad URLs and unreachable or corrupt databases as one-line errors."""

from __future__ import annotations

import datetime as dt
import socket
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hullcheck import fleet
from hullcheck.errors import DatabaseError, UsageError
from hullcheck.fleet import db, schema
from tests.fleet.conftest import DIGEST_A, deb, finding, image

HEAD = "0008"


def test_head_is_the_newest_shipped_revision():
    assert db.head() == HEAD
    shipped = sorted(p.name for p in (db.MIGRATIONS / "versions").glob("0*.py"))
    assert shipped == ["0001_initial.py", "0002_daily_counts.py", "0003_pages.py",
                       "0004_image_summary.py", "0005_layer_cache.py",
                       "0006_package_entry_hash.py", "0007_findings_by_purl.py",
                       "0008_rematch_pending.py"]


def test_from_empty_the_database_is_exactly_the_schema(db_url: str):
    with fleet.open(db_url) as store, store.engine.connect() as conn:
        assert db.current(conn) == HEAD
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": db.VERSION_TABLE})
        assert compare_metadata(context, schema.metadata) == []


def test_opening_again_applies_nothing(db_url: str):
    fleet.open(db_url).close()
    with fleet.open(db_url) as store, store.write() as conn:
        assert db.current(conn) == HEAD
        conn.execute(schema.daily_counts.insert().values(
            day=dt.date(2025, 1, 1), severity="high", open=1, new=1, fixed=0))
    with fleet.open(db_url) as store:
        assert len(store.trend(days=100000)) == 1


def test_upgrade_from_0001_keeps_the_data_and_backfills_the_trend(db_url: str):
    engine = db.connect(db_url)
    assert db.migrate(engine, to="0001") == "0001"
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("daily_counts")
    engine.dispose()
    # A store at 0001 holding an image with findings (two open high, one suppressed), written
    # as rows: the code of today would also write 0002's table.
    xz, ssl = deb("xz-utils", "5.6.0"), deb("openssl", "3.0.11")
    then = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    with fleet.Store(db.connect(db_url)) as old, old.write() as conn:
        conn.execute(schema.images.insert().values(
            digest=DIGEST_A, repository="registry.example/app", status="scanned", labels={},
            signatures=[], first_seen=then, first_scanned=then, last_scanned=then))
        for i, (pkg, suppressed) in enumerate(((xz, False), (ssl, False), (ssl, True)), 1):
            f = finding(f"CVE-{i}", pkg, suppressed=suppressed)
            conn.execute(schema.findings.insert().values(
                image_digest=DIGEST_A, advisory_id=f.advisory_id, package_purl=f.package_purl,
                aliases=[], severity="high", cvss=None, kev=False, fixed_versions=[],
                status="not-fixed", suppressed=suppressed, suppressed_reason="", data=f.data,
                state="open", first_seen=then, updated_at=then))
    before = dt.datetime.now(dt.UTC).date()
    with fleet.open(db_url) as store:
        after = dt.datetime.now(dt.UTC).date()
        with store.read() as conn:
            assert db.current(conn) == HEAD
        detail = store.image(DIGEST_A)
        assert detail is not None
        assert sorted(f.finding.advisory_id for f in detail.findings) == [
            "CVE-1", "CVE-2", "CVE-3"]
        (row,) = store.trend(days=2)
        assert (row.severity, row.open, row.new, row.fixed) == ("high", 2, 0, 0)
        assert before <= row.day <= after
        # and the upgraded store works on: CVE-2 (open, unsuppressed) is fixed by a rescan.
        changes = store.record_scan(image(), [xz, ssl], [
            finding("CVE-1", xz), finding("CVE-3", ssl, suppressed=True)])
        assert [c.advisory_id for c in changes.fixed] == ["CVE-2"] and not changes.new
        assert [(r.open, r.fixed) for r in store.trend(days=2)][-1] == (1, 1)


def test_a_newer_database_is_refused_in_one_line(db_url: str):
    with fleet.open(db_url) as store, store.write() as conn:
        conn.execute(sa.text(f"UPDATE {db.VERSION_TABLE} SET version_num = '0099'"))
    with pytest.raises(DatabaseError) as err:
        fleet.open(db_url)
    message = str(err.value)
    assert f"schema revision '0099', newer than this hullcheck knows (newest: {HEAD})" in message
    assert "\n" not in message and "upgrade hullcheck" in err.value.hint


def test_two_processes_opening_an_empty_database_migrate_it_once(db_url: str):
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            fleet.open(db_url).close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with fleet.open(db_url) as store, store.read() as conn:
        versions = conn.execute(sa.text(f"SELECT version_num FROM {db.VERSION_TABLE}")).all()
    assert versions == [(HEAD,)]


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://u@h/db", "scheme 'mysql' is not supported"),
    ("sqlite://", "in-memory SQLite store would vanish"),
    ("sqlite:///:memory:", "in-memory SQLite store would vanish"),
    ("::not a url::", "is not a URL"),
])
def test_bad_urls_are_usage_errors(url: str, message: str):
    with pytest.raises(UsageError, match=message):
        fleet.open(url)


def test_postgres_urls_run_on_psycopg3():
    assert db.parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert db.parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "fleet.db").write_bytes(b"\x1b[31mnot a database\n" * 100)
    with pytest.raises(DatabaseError) as err:
        fleet.open(fleet.data_dir_url(data))
    assert "cannot use the fleet database sqlite" in str(err.value)
    assert "file is not a database" in str(err.value) and "\n" not in str(err.value)


def test_an_unreachable_server_is_one_line_without_the_password():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DatabaseError) as err:
        fleet.open(f"postgresql://hullcheck:s3cret-pw@127.0.0.1:{port}/fleet")
    message = str(err.value)
    assert message.startswith(f"cannot use the fleet database postgresql+psycopg://hullcheck:***@"
                              f"127.0.0.1:{port}/fleet: ")
    assert "s3cret-pw" not in message and "\n" not in message


def test_opening_waits_for_another_writer_to_switch_a_new_database_to_wal(tmp_path: Path) -> None:
    # SQLite refuses the switch to WAL at once ("database is locked", no busy handler) while
    # another connection writes to the new file: two processes starting on one empty data
    # dir met it now and then. Opening waits like a writer instead.
    path = tmp_path / "fleet.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE busy (a INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO busy VALUES (1)")
    done = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    done.start()
    try:
        store = fleet.open(f"sqlite:///{path}")
        try:
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert db.current(conn) == HEAD
        finally:
            store.close()
    finally:
        done.join()
        other.close()
