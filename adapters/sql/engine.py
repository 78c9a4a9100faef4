"""Engine factory: one store (SQLite file or PostgreSQL schema) per service.

SQLite runs in WAL mode with a busy timeout and foreign keys, and every writing
transaction takes the write lock up front (BEGIN IMMEDIATE) so two writers never
deadlock on a lock upgrade. Reads use `readonly()` connections (plain BEGIN).

Inside one process, writers of the same file (a service's consumer, relay and timers)
also queue on a lock of their own before BEGIN IMMEDIATE: waiting in SQLite's busy
handler means sleeping in steps of up to 100 ms, which is most of a message's latency.

PostgreSQL: a schema per store. With `{service}` in ORDERFLOW_DATABASE_URL each store logs
in as its own role (adapters/sql/roles.py says what each may do), and libpq reads its
password from the pgpass file `db upgrade --admin-url` wrote (`credentials_file`).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from adapters import faults
from adapters.settings import PG_NAME_BYTES, Settings
from adapters.sql import fold_cache  # noqa: F401  its listeners exist before any engine

logger = logging.getLogger(__name__)

STORES = ("order", "inventory", "payment", "shipping", "orchestrator", "fraud", "projector")
READONLY = {"orderflow_readonly": True}


def sqlite_path(settings: Settings, store: str) -> Path:
    base = settings.data_dir
    if settings.database_url is not None:  # sqlite:///DIR names the directory of the files
        base = Path(make_url(settings.database_url).database or base)
    return base / f"{store}.db"


def schema_name(settings: Settings, store: str) -> str:
    """Never cut short (a cut could map two stores to one schema): the settings refuse a
    prefix that would make this name, or its NOTIFY channel `outbox_<schema>`, longer than
    PostgreSQL allows (PREFIX_MAX)."""
    raw = f"{settings.topic_prefix}orderflow_{store}".lower()
    name = re.sub(r"[^a-z0-9_]", "_", raw)
    assert len(f"outbox_{name}") <= PG_NAME_BYTES, f"schema name too long: {name!r}"
    return name


def make_engine(settings: Settings, store: str) -> Engine:
    if store not in STORES:
        raise ValueError(f"unknown store {store!r}")
    if settings.is_postgres:
        return _postgres_engine(settings, store)
    return _sqlite_engine(sqlite_path(settings, store))


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


class _QueuedWriter(sqlite3.Connection):
    """A SQLite connection that holds its file's in-process write lock from
    BEGIN IMMEDIATE until COMMIT or ROLLBACK has finished."""

    write_lock: threading.RLock | None = None
    _holds = 0

    def lock_for_write(self) -> None:
        assert self.write_lock is not None
        self.write_lock.acquire()
        self._holds += 1

    def unlock(self) -> None:
        while self._holds:
            self._holds -= 1
            try:
                self.write_lock.release()  # type: ignore[union-attr]
            except RuntimeError:  # released by another thread (a connection finalized late)
                logger.warning("sqlite write lock released from a foreign thread")

    def commit(self) -> None:
        try:
            if faults.commit_fails():
                super().rollback()
                raise sqlite3.OperationalError("disk I/O error (injected commit failure)")
            super().commit()
        finally:
            self.unlock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.unlock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.unlock()


def _write_lock(path: Path) -> threading.RLock:
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(str(path.resolve()), threading.RLock())


def _sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite+pysqlite:///{path}",
                           connect_args={"timeout": 30, "factory": _QueuedWriter})
    lock = _write_lock(path)
    event.listen(engine, "connect", lambda dbapi, _record: setattr(dbapi, "write_lock", lock))
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN itself
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON",
                   "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    if connection.get_execution_options().get("orderflow_readonly", False):
        connection.exec_driver_sql("BEGIN")
        return
    dbapi = connection.connection.dbapi_connection
    assert isinstance(dbapi, _QueuedWriter)
    dbapi.lock_for_write()
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        dbapi.unlock()
        raise


def credentials_file(settings: Settings) -> Path:
    """Where `db upgrade --admin-url` keeps the service roles' passwords: a pgpass file
    (0600) that libpq reads itself, so no password is ever part of a URL, a log or a repr."""
    return settings.data_dir / "pgpass"


def admin_engine(settings: Settings, store: str, admin_url: str) -> Engine:
    """An engine on `store`'s schema logged in as the administrator, who runs the
    migrations (and so owns the tables) and grants the service roles their rights."""
    return _pg_engine(admin_url, schema_name(settings, store), passfile=None)


def _postgres_engine(settings: Settings, store: str) -> Engine:
    url = settings.database_url_of(store)
    assert url is not None
    passfile = credentials_file(settings) if settings.per_service_roles else None
    if passfile is not None and not passfile.exists():  # libpq's own lookup (PGPASSFILE…)
        passfile = None
    return _pg_engine(url, schema_name(settings, store), passfile)


def _pg_engine(url: str, schema: str, passfile: Path | None) -> Engine:
    """The pgpass file goes in the URL's query, not connect_args: a relay's LISTEN
    connection is opened from the engine's URL and must find the password too."""
    parsed = make_url(url).set(drivername="postgresql+psycopg")
    if passfile is not None:
        parsed = parsed.update_query_dict({"passfile": str(passfile.resolve())})
    return create_engine(parsed, pool_pre_ping=True,
                         connect_args={"options": f"-csearch_path={schema}"},
                         execution_options={"schema_translate_map": None})
