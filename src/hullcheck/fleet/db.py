"""Opening the store's database: URLs, engines and migrations.

    engine = db.connect("sqlite:////var/lib/hullcheck/fleet.db")   # or postgresql://...
    db.migrate(engine)                                               # forward-only, to head

SQLite: one file (usually ``DATA_DIR/fleet.db``), WAL (readers never wait for the writer),
foreign keys on, a busy timeout. Write transactions start with ``BEGIN IMMEDIATE``: they
take the write lock first, so two writers queue on the busy timeout instead of one failing
with "database is locked" when it upgrades a read lock. Reads start with a plain ``BEGIN``.

PostgreSQL: ``postgresql://`` URLs run on psycopg 3 (``postgresql+psycopg://``).

Migrations are alembic revisions shipped in ``migrations/versions``; every command that
opens the database applies the missing ones, one transaction, under a lock (PostgreSQL: an
advisory lock; SQLite: the write lock), so two processes starting at once migrate once. A
database whose revision this code does not know (a newer hullcheck wrote it) is refused.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine

from hullcheck.errors import DatabaseError, UsageError

DATABASE_FILE = "fleet.db"  # inside the data dir
VERSION_TABLE = "hullcheck_schema"
MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT = 30.0  # seconds a SQLite writer waits for the write lock
CONNECT_TIMEOUT = 10  # seconds to reach a PostgreSQL server
_MIGRATION_LOCK = 0x68_63_66_6C  # "hcfl": the PostgreSQL advisory lock key for migrating
READ = {"fleet_read": True}  # execution option: a read transaction (SQLite: plain BEGIN)

_HINT_UNREACHABLE = "check --database-url, that the server runs, and the network"


def data_dir_url(data_dir: Path) -> str:
    """The SQLite URL of the store in ``data_dir``."""
    return f"sqlite:///{(data_dir / DATABASE_FILE).absolute()}"


def parse_url(url: str) -> URL:
    """``sqlite:///PATH`` or ``postgresql://...`` (run on psycopg 3); anything else is a
    one-line usage error."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise UsageError(f"database URL {_redacted(url)!r} is not a URL; "
                         "use sqlite:///PATH or postgresql://USER@HOST/DB") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.get_driver_name() in ("pysqlite", ""):
        if not parsed.database or parsed.database == ":memory:":
            raise UsageError("an in-memory SQLite store would vanish with the process; "
                             "give a file (sqlite:///PATH) or use --data-dir")
        return parsed.set(drivername="sqlite+pysqlite")
    raise UsageError(f"database URL scheme {parsed.drivername!r} is not supported; "
                     "use sqlite:///PATH or postgresql://USER@HOST/DB")


def _redacted(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparsable URL>"


def describe(engine: Engine) -> str:
    """The engine's URL for messages, password hidden."""
    return engine.url.render_as_string(hide_password=True)


def connect(url: str) -> Engine:
    """An engine for ``url`` (nothing is opened yet)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = sa.create_engine(
            parsed, connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True,
                            connect_args={"connect_timeout": CONNECT_TIMEOUT})


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN (pysqlite's own is deferred and late).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        _to_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    finally:
        cursor.close()


def _to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting like a writer: switching a new database to WAL
    needs it alone, and SQLite answers "database is locked" at once (no busy handler) when
    another connection opening it at the same moment holds it (two processes starting on
    an empty data dir)."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn: Connection) -> None:
    read = conn.get_execution_options().get("fleet_read", False)
    conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")


def unreachable(engine: Engine, error: sa.exc.DBAPIError) -> DatabaseError:
    """A one-line error for a database we cannot open or talk to."""
    reason = " ".join(str(error.orig).split()) or type(error.orig).__name__
    return DatabaseError(f"cannot use the fleet database {describe(engine)}: {reason[:300]}",
                         hint=_HINT_UNREACHABLE)


# -- migrations ------------------------------------------------------------------------------


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(conn: Connection) -> str | None:
    """The database's revision (None: never migrated)."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def migrate(engine: Engine, *, to: str = "head") -> str:
    """Apply the missing migrations up to ``to`` (tests stop at older revisions); the
    database's revision after. Refuses a database newer than this code."""
    cfg = _config()
    script = ScriptDirectory.from_config(cfg)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            revision = current(conn)
            _check_known(script, revision, engine)
            target = script.get_current_head() if to == "head" else to
            if revision == target:
                return revision or ""
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, to)
            return current(conn) or ""
    except sa.exc.DBAPIError as error:
        raise unreachable(engine, error) from None


def _check_known(script: ScriptDirectory, revision: str | None, engine: Engine) -> None:
    if revision is None:
        return
    try:
        script.get_revision(revision)
    except (RevisionError, CommandError):  # alembic wraps the former in the latter
        raise DatabaseError(
            f"the fleet database {describe(engine)} has schema revision {revision!r}, newer "
            f"than this hullcheck knows (newest: {script.get_current_head()})",
            hint="upgrade hullcheck to the version that wrote it; migrations only go forward",
        ) from None
