"""PostgreSQL least privilege: one login role per store, with rights on its schema only.

`orderflow db upgrade --admin-url URL` runs the migrations as the administrator, then
creates (or brings up to date) one LOGIN role per store and grants it exactly what the
code does with that store at run time, nothing more:

- The administrator owns every schema, table and sequence (the migrations ran as it), so
  a service role owns nothing: it can neither ALTER, DROP nor GRANT, only use the rights
  below. No ownership means no way to widen them.
- USAGE on its own schema only. A schema made by CREATE SCHEMA grants nothing to PUBLIC,
  so the inventory role cannot even name a table of the payment schema. CREATE on the
  `public` schema is revoked from PUBLIC (PostgreSQL 15 does so by default; older servers
  let any role create tables there). USAGE on `public` stays: it gives no table, and
  taking it away would break other users of the database (extensions' functions).
- `events` is append-only: SELECT, INSERT. A stored event is a fact; nothing updates or
  deletes one (retention prunes processed ids and published outbox rows, never events).
- The projector writes only its read models and its consumer's own bookkeeping (positions,
  processed ids, and its outbox, where its dead letters wait): its `events` and `timers`
  are read-only, since it appends nothing and owns no deadline.
- Every other table of the store: SELECT, INSERT, UPDATE, DELETE (outbox marks, positions,
  timers, retention's deletes, a projection rebuild's); `alembic_version`: SELECT (each
  command checks that its store is migrated). Sequences: USAGE, SELECT where the role may
  insert into the table that owns them.

Each run first revokes what a role had on its schema and grants again from the catalog,
so a table added by a migration is covered and nothing stale survives; the roles and all
their grants commit in ONE transaction, so a failed run leaves none half made.

Role names come from ORDERFLOW_DATABASE_URL, a template whose user name holds
`{service}`: what a service logs in as and what is created here are one string. Passwords
are `secrets.token_urlsafe(32)`, kept in a 0600 pgpass file (engine.credentials_file) that
libpq reads itself, and reused on later runs, so running services keep their logins. The
server receives only a SCRAM verifier computed on this side by libpq, so not even a
statement log (log_statement=all) sees a password; nothing here prints or logs one.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

import migrations
from adapters.settings import SERVICE_FIELD, Settings, SettingsError
from adapters.sql import migrate
from adapters.sql.engine import STORES, admin_engine, credentials_file, schema_name
from adapters.sql.tables import metadata
from domain.errors import OrderflowError

READ = ("SELECT",)
APPEND = ("SELECT", "INSERT")
WRITE = ("SELECT", "INSERT", "UPDATE", "DELETE")
# What the projector's consumer and relay write in its own store besides the read models.
PROJECTOR_BOOKKEEPING = frozenset({"outbox", "consumer_positions", "processed_messages"})
SHARED_TABLES = frozenset(metadata.tables)  # the tables every store has (tables.py)
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
TEMPLATE_HINT = "e.g. postgresql://orderflow_{service}@HOST:5432/DB"


class RoleSetupRefused(SettingsError):
    """The settings or --admin-url cannot give each store a role of its own."""


class RoleSetupFailed(OrderflowError):
    """PostgreSQL refused the role work (cannot connect, no CREATEROLE, a taken name)."""


@dataclass(frozen=True, slots=True)
class ServiceRole:
    """A store, its schema and the login role that alone may use it; `server` is the
    host, port and database the role logs in to (its pgpass line's key)."""

    store: str
    schema: str
    role: str
    server: tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Relation:
    """A table, view or sequence in a store's schema; `table` owns a sequence."""

    name: str
    kind: str  # pg_class.relkind: r table, p partitioned, v view, S sequence
    table: str | None = None


def privileges(store: str, table: str) -> tuple[str, ...]:
    """What `store`'s role may do with one of its tables (the module docstring says why)."""
    if table == migrate.VERSION_TABLE:
        return READ
    if store == "projector" and table in SHARED_TABLES - PROJECTOR_BOOKKEEPING:
        return READ  # events, timers: the projector appends nothing, owns no deadline
    if table == "events":
        return APPEND
    return WRITE


def grants(role: ServiceRole, relations: Sequence[Relation]) -> list[str]:
    """The statements that leave `role` with exactly its rights on its own schema."""
    who, schema = _quoted(role.role), _quoted(role.schema)
    statements = [f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {who}",
                  f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {who}",
                  f"REVOKE ALL ON SCHEMA {schema} FROM {who}",
                  f"GRANT USAGE ON SCHEMA {schema} TO {who}"]
    for relation in relations:
        name = f"{schema}.{_quoted(relation.name)}"
        if relation.kind != "S":
            statements.append(f"GRANT {', '.join(privileges(role.store, relation.name))}"
                              f" ON TABLE {name} TO {who}")
        elif relation.table and "INSERT" in privileges(role.store, relation.table):
            statements.append(f"GRANT USAGE, SELECT ON SEQUENCE {name} TO {who}")
    return statements


def plan(settings: Settings, admin_url: str) -> list[ServiceRole]:
    """Each store's role from ORDERFLOW_DATABASE_URL, refused before anything is touched
    when the template cannot give every store a login of its own on the admin's database."""
    admin = _admin_url(admin_url)
    _check_template(settings)
    roles = [_role_of(settings, store) for store in STORES]
    if len({r.role for r in roles}) < len(roles):
        raise RoleSetupRefused(f"ORDERFLOW_DATABASE_URL: put {SERVICE_FIELD} in the user name,"
                               f" so each store logs in as its own role ({TEMPLATE_HINT})")
    for role in roles:  # the grants hold in the admin's database only
        if role.server[2] != admin.database:
            raise RoleSetupRefused(f"--admin-url names database {admin.database!r}, but"
                                   f" ORDERFLOW_DATABASE_URL names {role.server[2] or None!r}")
    return roles


def _admin_url(value: str) -> URL:
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in _PG_SCHEMES:
        raise RoleSetupRefused("--admin-url: not a PostgreSQL URL (use"
                               " postgresql://ADMIN:PASSWORD@HOST:5432/DB)")
    return _parsed(value, "--admin-url")


def _check_template(settings: Settings) -> None:
    if not settings.is_postgres:
        raise RoleSetupRefused("--admin-url needs ORDERFLOW_DATABASE_URL to be a PostgreSQL"
                               f" template ({TEMPLATE_HINT}); SQLite keeps a file per service"
                               " and has no roles")
    assert settings.database_url is not None
    if SERVICE_FIELD not in settings.database_url:
        raise RoleSetupRefused(f"ORDERFLOW_DATABASE_URL has no {SERVICE_FIELD}: with"
                               f" --admin-url each service logs in as its own role"
                               f" ({TEMPLATE_HINT})")
    url = _parsed(settings.database_url_of("order") or "", "ORDERFLOW_DATABASE_URL")
    if url.password is not None:
        raise RoleSetupRefused("ORDERFLOW_DATABASE_URL: leave the password out of the"
                               " template; db upgrade --admin-url keeps each role's in"
                               f" {credentials_file(settings)}")


def _role_of(settings: Settings, store: str) -> ServiceRole:
    url = _parsed(settings.database_url_of(store) or "", "ORDERFLOW_DATABASE_URL")
    if url.username is None or not _ROLE.match(url.username):
        raise RoleSetupRefused(f"ORDERFLOW_DATABASE_URL: the {store} store's user name"
                               f" {url.username!r} is not a role name orderflow makes"
                               " (a-z, 0-9, _; at most 63, not starting with a digit)")
    server = (url.host or "localhost", str(url.port or 5432), url.database or "")
    return ServiceRole(store, schema_name(settings, store), url.username, server)


def _parsed(value: str, what: str) -> URL:
    try:
        return make_url(value)
    except (ValueError, sa.exc.ArgumentError):
        raise RoleSetupRefused(f"{what}: not a URL ({TEMPLATE_HINT})") from None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What a run did: each store's revision and role, and where the passwords are."""

    revisions: dict[str, str]
    roles: list[ServiceRole]
    credentials: Path


def provision(settings: Settings, admin_url: str) -> Provisioned:
    """Check, migrate as the administrator, then create the roles and grants at once."""
    roles = plan(settings, admin_url)
    engines = {role.store: admin_engine(settings, role.store, admin_url) for role in roles}
    try:
        first = engines[STORES[0]]
        where = f"{first.url.host}:{first.url.port or 5432}/{first.url.database}"
        with _failing_as(f"--admin-url: cannot connect to {where} as {first.url.username}"):
            _check_admin(first, roles)
        with _failing_as("migrating as the administrator"):
            revisions = {r.store: migrate.upgrade(engines[r.store], r.store, r.schema)
                         for r in roles}
        with _failing_as("creating the service roles (nothing was created)"):
            path = _create_roles(first, roles, credentials_file(settings))
    finally:
        for engine in engines.values():
            engine.dispose()
    return Provisioned(revisions, roles, path)


@contextmanager
def _failing_as(what: str, then: str = "") -> Iterator[None]:
    """A database error becomes one line saying which step failed, and PostgreSQL's why."""
    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise RoleSetupFailed(f"{what}: {reason}{then}") from None


def _check_admin(engine: Engine, roles: Sequence[ServiceRole]) -> None:
    with engine.connect() as connection:
        me, can = connection.execute(sa.text(
            "SELECT current_user, rolsuper OR rolcreaterole FROM pg_roles"
            " WHERE rolname = current_user")).one()
    if not can:
        raise RoleSetupFailed(f"--admin-url: role {me!r} cannot create roles"
                              f" (GRANT it CREATEROLE, or use a superuser)")
    if me in {r.role for r in roles}:
        raise RoleSetupFailed(f"ORDERFLOW_DATABASE_URL: the template names the administrator"
                              f" {me!r} as a service role; give the services roles of their own")


def _create_roles(engine: Engine, roles: Sequence[ServiceRole], path: Path) -> Path:
    """Every role and grant in one transaction; the pgpass file is written beside its
    place first and moved there only once the transaction committed. Two runs at once
    queue on a transaction lock rather than interleave their passwords."""
    staged: Path | None = None
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('orderflow roles'))")
            passwords = {r.role: _known_password(path, r) or secrets.token_urlsafe(32)
                         for r in roles}
            staged = _stage_pgpass(path, roles, passwords)
            _no_create_on_public(connection)
            _refuse_powerful(connection, list(passwords))
            for role in roles:
                _login(connection, role.role, passwords[role.role])
                for statement in grants(role, _relations(connection, role.schema)):
                    connection.exec_driver_sql(statement)
    except BaseException:
        if staged is not None:
            staged.unlink(missing_ok=True)
        raise
    assert staged is not None
    os.replace(staged, path)
    return path


def _no_create_on_public(connection: Connection) -> None:
    if connection.exec_driver_sql("SELECT 1 FROM pg_namespace WHERE nspname = 'public'").first():
        connection.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")


def _refuse_powerful(connection: Connection, names: list[str]) -> None:
    """An existing role with administrative rights is never turned into a service login."""
    powerful = connection.execute(sa.text(
        "SELECT rolname FROM pg_roles WHERE rolname = ANY(:names) AND (rolsuper OR"
        " rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)"),
        {"names": names}).scalars().all()
    if powerful:
        raise RoleSetupFailed(f"role {powerful[0]!r} already exists with administrative"
                              " rights; orderflow will not make it a service login")


def _login(connection: Connection, role: str, password: str) -> None:
    """Create the role, or give an existing one (checked powerless) its login and password:
    ALTER names no SUPERUSER attribute, which only a superuser may even mention."""
    pgconn = connection.connection.dbapi_connection.pgconn  # type: ignore[union-attr]
    verifier = pgconn.encrypt_password(password.encode(), role.encode(),
                                       b"scram-sha-256").decode()  # base64, `$` and `:`
    exists = connection.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                                {"r": role}).first()
    rights = "LOGIN" if exists else "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
    connection.exec_driver_sql(f"{'ALTER' if exists else 'CREATE'} ROLE {_quoted(role)}"
                               f" {rights} PASSWORD '{verifier}'")
    database = connection.exec_driver_sql("SELECT current_database()").scalar_one()
    connection.exec_driver_sql(f"GRANT CONNECT ON DATABASE {_quoted(database)}"
                               f" TO {_quoted(role)}")


def _relations(connection: Connection, schema: str) -> list[Relation]:
    """The schema's tables and views, and its sequences with the table that owns each."""
    rows = connection.execute(sa.text("""
        SELECT c.relname, c.relkind, t.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_depend d ON c.relkind = 'S' AND d.objid = c.oid
             AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
             AND d.deptype IN ('a', 'i')
        LEFT JOIN pg_class t ON t.oid = d.refobjid
        WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v', 'S')
        ORDER BY c.relname"""), {"schema": schema})
    return [Relation(name, kind, table) for name, kind, table in rows]


# The pgpass file: host:port:database:user:password, `:` and `\` escaped with `\`.

def _pgpass_key(role: ServiceRole) -> list[str]:
    return [*role.server, role.role]


def _escape(field: str) -> str:
    return field.replace("\\", "\\\\").replace(":", "\\:")


def _fields(line: str) -> list[str]:
    fields: list[str] = []
    current, escaped = "", False
    for char in line:
        if escaped or char not in "\\:":
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        else:
            fields, current = [*fields, current], ""
    return [*fields, current]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _known_password(path: Path, role: ServiceRole) -> str | None:
    """The password a previous run gave `role` on this server and database, if any."""
    key = _pgpass_key(role)
    for line in _lines(path):
        fields = _fields(line)
        if fields[:4] == key and len(fields) == 5:
            return fields[4]
    return None


def _stage_pgpass(path: Path, roles: Sequence[ServiceRole], passwords: dict[str, str]) -> Path:
    """The new file beside `path`, 0600 from its first byte: other lines (other servers,
    databases, roles) stay, this run's roles get one line each."""
    keys = {tuple(_pgpass_key(role)): passwords[role.role] for role in roles}
    kept = [line for line in _lines(path) if tuple(_fields(line)[:4]) not in keys]
    lines = kept + [":".join(map(_escape, (*key, password))) for key, password in keys.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.unlink(missing_ok=True)  # a leftover of a killed run: its mode is not ours
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write("\n".join(lines) + "\n")
    return staged


def checked_as_service(engine: Engine, store: str, schema: str) -> str:
    """`db upgrade` as a service role (ORDERFLOW_DATABASE_URL holds `{service}`): a role
    owns nothing and may create nothing, so it only checks that the administrator's
    `db upgrade --admin-url` left its store at the head revision, and says so if not."""
    hint = (f"with {SERVICE_FIELD} in ORDERFLOW_DATABASE_URL (a role per service) migrations"
            " run as the administrator: `orderflow db upgrade --admin-url"
            " postgresql://ADMIN@HOST/DB`")
    with _failing_as(f"the {store} store cannot be checked as its role", then=f"; {hint}"):
        revision = migrate.current_revision(engine, schema)
    if revision != migrations.HEAD:
        raise RoleSetupRefused(f"the {store} store is not migrated; {hint}")
    return revision
