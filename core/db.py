"""Engine, sessions and schema upgrades, the same code for SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Executable, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.config import get_settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_upgraded: set[str] = set()


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_savepoint_writes(conn, _name) -> None:  # type: ignore[no-untyped-def]
    """A savepoint opened outside a transaction starts one on SQLite, and a deferred one: it reads
    from a snapshot, and its first write fails at once with "database is locked" if another
    connection committed meanwhile (no busy timeout helps a stale snapshot). Units of work that use
    savepoints write, so they take the write lock first and wait their turn like any other writer (a
    savepoint that only reads would wait too: none does). Without a savepoint, the driver begins just
    before the first write: nothing stale to upgrade."""
    _begin_immediate(conn)


def _begin_immediate(conn: Any) -> None:
    driver = conn.connection.dbapi_connection
    if driver is not None and not driver.in_transaction:
        driver.execute("BEGIN IMMEDIATE")


def lock_for_write(session: Session, row: Any) -> None:
    """Read `row` again as it is now, and keep anyone else from changing it until this transaction
    ends: a check followed by a write (is this conversation still free?) cannot be raced. PostgreSQL
    locks the row (SELECT … FOR UPDATE); SQLite, which has one writer, takes the write lock first
    (BEGIN IMMEDIATE), so that the read sees the last commit and no other writer comes in between.
    This session's own pending changes are written first, so that none is lost to the reload."""
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        _begin_immediate(connection)
    session.refresh(row, with_for_update={"of": type(row)})  # its own table: not a joined relationship's


def serialize(session: Session, name: str) -> None:
    """Keep any other transaction that calls this with the same `name` waiting until this one ends:
    a check followed by a write that has no row to lock (is there already an identical campaign?)
    cannot be raced. PostgreSQL takes a transaction-level advisory lock; SQLite, which has one
    writer, takes the write lock (BEGIN IMMEDIATE) before the check reads."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        _begin_immediate(connection)
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _after_fork_in_child() -> None:
    """A forked process (an RQ work-horse, say) must never use its parent's connections: drop the
    inherited pools without closing the sockets, which still belong to the parent."""
    global _lock
    _lock = threading.Lock()
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_engine(url: str | None = None) -> Engine:
    """One engine per database URL and process."""
    url = normalize_url(url or get_settings().database_url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                path = url.split("///", 1)[-1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                       hide_parameters=True)  # an error never carries a person's data
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "savepoint", _sqlite_savepoint_writes)
            else:
                engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _upgraded.clear()


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = Session(bind=get_engine(url), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def changed(session: Session, statement: Executable, params: Any = None) -> int:
    """Run a write statement (UPDATE, DELETE, INSERT); the number of rows it changed, 0 where the
    driver cannot tell (SQLite and psycopg say -1 for some statements)."""
    result = cast("CursorResult[Any]", session.execute(statement, params))
    return max(result.rowcount or 0, 0)


def alembic_config(url: str | None = None):  # type: ignore[no-untyped-def]
    # Here, not at the top: Alembic only when the schema is checked or migrated.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url or get_settings().database_url).replace("%", "%%"))
    return cfg


def current_revision(url: str | None = None) -> str | None:
    # Here, not at the top: Alembic only when the schema is checked or migrated.
    from alembic.runtime.migration import MigrationContext

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    # Here, not at the top: Alembic only when the schema is checked or migrated.
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(url: str | None = None) -> str | None:
    """Bring the schema to the latest migration; a no-op when it is already there."""
    # Here, not at the top: Alembic only when the schema is checked or migrated.
    from alembic import command

    resolved = normalize_url(url or get_settings().database_url)
    if resolved in _upgraded:
        return head_revision()
    before = current_revision(resolved)
    head = head_revision()
    if before != head:
        log.info("Upgrading database schema from %s to %s", before, head)
        command.upgrade(alembic_config(resolved), "head")
    _upgraded.add(resolved)
    return head


def ensure_schema(url: str | None = None) -> None:
    """Called by the app and the command line before they touch the database."""
    upgrade(url)


def table_names(url: str | None = None) -> list[str]:
    return sorted(inspect(get_engine(url)).get_table_names())


SQLITE_ONLY_FOREIGN_KEYS = {"fk_recipients_campaign_id_campaigns", "fk_recipients_contact_id_contacts"}


def include_object_for(dialect_name: str):  # type: ignore[no-untyped-def]
    """Alembic filter: leave out of comparisons the indexes declared for another database only, and
    the ledger's foreign keys that SQLite keeps (migration 0006)."""

    def include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
        if type_ == "foreign_key_constraint" and dialect_name == "sqlite" and reflected and compare_to is None \
                and name in SQLITE_ONLY_FOREIGN_KEYS:
            return False
        ddl_if = getattr(obj, "_ddl_if", None)
        return not (type_ == "index" and ddl_if is not None and ddl_if.dialect not in (None, dialect_name))

    return include_object


def insert_for(session: Session) -> Any:
    """The INSERT of the session's database, with its ON CONFLICT clauses (PostgreSQL or SQLite)."""
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert
