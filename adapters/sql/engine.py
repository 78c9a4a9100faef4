"""Engine factory: one store (SQLite file or PostgreSQL schema) per service.

SQLite runs in WAL mode with a busy timeout and foreign keys, and every writing
transaction takes the write lock up front (BEGIN IMMEDIATE) so two writers never
deadlock on a lock upgrade. Reads use `readonly()` connections (plain BEGIN).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from adapters.settings import Settings

STORES = ("order", "inventory", "payment", "shipping", "orchestrator", "projector")
READONLY = {"orderflow_readonly": True}


def sqlite_path(settings: Settings, store: str) -> Path:
    base = settings.data_dir
    if settings.database_url is not None:  # sqlite:///DIR names the directory of the files
        base = Path(make_url(settings.database_url).database or base)
    return base / f"{store}.db"


def schema_name(settings: Settings, store: str) -> str:
    raw = f"{settings.topic_prefix}orderflow_{store}".lower()
    return re.sub(r"[^a-z0-9_]", "_", raw)[:63]


def make_engine(settings: Settings, store: str) -> Engine:
    if store not in STORES:
        raise ValueError(f"unknown store {store!r}")
    if settings.is_postgres:
        return _postgres_engine(settings, store)
    return _sqlite_engine(sqlite_path(settings, store))


def _sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite+pysqlite:///{path}", connect_args={"timeout": 30})
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
    readonly = connection.get_execution_options().get("orderflow_readonly", False)
    connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _postgres_engine(settings: Settings, store: str) -> Engine:
    assert settings.database_url is not None
    url = make_url(settings.database_url).set(drivername="postgresql+psycopg")
    schema = schema_name(settings, store)
    return create_engine(url, pool_pre_ping=True,
                         connect_args={"options": f"-csearch_path={schema}"},
                         execution_options={"schema_translate_map": None})
