"""Least privilege on real PostgreSQL: `db upgrade --admin-url` gives each store a login
role of its own, and the roles are denied what they must not do.

Roles are cluster-wide, so each test names its roles after its own prefix and drops them
at the end. Under CI the test database's owner is no superuser; it needs CREATEROLE
(.ci/run grants it), and without it these tests fail with PostgreSQL's reason, never skip.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import migrations
from adapters.settings import Settings
from adapters.sql import roles
from adapters.sql.engine import STORES, credentials_file, make_engine, schema_name
from services.bootstrap import Orderflow, bootstrap
from tests.conftest import Env, MakeEnv
from tests.integration import saga_world as world
from tests.support import run_cli

pytestmark = [pytest.mark.postgres, pytest.mark.store("postgresql")]
DENIED = "permission denied"


@contextmanager
def admin(url: str) -> Iterator[sa.Connection]:
    """A transaction as the test database's administrator, committed at the end."""
    engine = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def role_names(tag: str) -> dict[str, str]:
    return {store: f"{tag}_{store}" for store in STORES}


def template(postgres_url: str, tag: str) -> str:
    """ORDERFLOW_DATABASE_URL of a deployment whose store S logs in as `<tag>_S`."""
    url = make_url(postgres_url)
    return f"postgresql://{tag}_{{service}}@{url.host}:{url.port or 5432}/{url.database}"


def drop_roles(postgres_url: str, settings: Settings, names: dict[str, str]) -> None:
    """Revoke what the roles were granted, then drop them: what a database owner with
    CREATEROLE may do (DROP OWNED would need membership in each role)."""
    with admin(postgres_url) as connection:
        existing = set(connection.execute(sa.text(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(:n)"),
            {"n": list(names.values())}).scalars())
        database = connection.exec_driver_sql("SELECT current_database()").scalar_one()
        schemas = set(connection.execute(sa.text(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(:s)"),
            {"s": [schema_name(settings, store) for store in STORES]}).scalars())
        for role in existing:  # on every schema of the run: a test must not leak a role
            for schema in schemas:
                for what in ("ALL TABLES IN SCHEMA", "ALL SEQUENCES IN SCHEMA", "SCHEMA"):
                    connection.exec_driver_sql(f'REVOKE ALL ON {what} "{schema}" FROM "{role}"')
            connection.exec_driver_sql(f'REVOKE ALL ON DATABASE "{database}" FROM "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')


@pytest.fixture
def tag(prefix: str) -> str:
    return prefix.rstrip(".")


@pytest.fixture
def roles_env(make_env: MakeEnv, postgres_url: str, tag: str) -> Iterator[Env]:
    """An environment whose ORDERFLOW_DATABASE_URL is a template (`{service}`), stores
    not yet migrated, roles not yet made; they are dropped at the end whatever happened."""
    base = make_env("postgresql")  # its schemas are dropped at the end
    environ = {**base.environ, "ORDERFLOW_DATABASE_URL": template(postgres_url, tag)}
    env = Env(Settings.from_env(environ), environ)
    yield env
    drop_roles(postgres_url, env.settings, role_names(tag))


@pytest.fixture
def provisioned(roles_env: Env, postgres_url: str) -> Env:
    result = run_cli(["db", "upgrade", "--admin-url", postgres_url], roles_env.environ)
    assert result.code == 0, result.stderr  # under CI: does .ci/run grant CREATEROLE?
    return roles_env


@pytest.fixture
def connect(provisioned: Env) -> Iterator[Callable[[str], sa.Connection]]:
    """A connection to a store, logged in as that store's own role (make_engine)."""
    engines: list[sa.Engine] = []

    def open_as(store: str) -> sa.Connection:
        engines.append(make_engine(provisioned.settings, store))
        return engines[-1].connect()

    yield open_as
    for engine in engines:
        engine.dispose()


def login(connection: sa.Connection) -> str:
    return str(connection.exec_driver_sql("SELECT current_user").scalar_one())


def test_admin_url_makes_one_login_role_per_store(
        roles_env: Env, postgres_url: str, tag: str) -> None:
    result = run_cli(["db", "upgrade", "--admin-url", postgres_url, "--json"], roles_env.environ)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert {s: d["role"] for s, d in document.items()} == role_names(tag)
    path = credentials_file(roles_env.settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    passwords = _passwords(path)
    assert set(passwords) == set(role_names(tag).values())
    assert not any(p in result.stdout + result.stderr for p in passwords.values())
    with admin(postgres_url) as connection:
        rows = connection.execute(sa.text(
            "SELECT rolname, rolcanlogin, rolsuper OR rolcreaterole OR rolcreatedb"
            " FROM pg_roles WHERE rolname LIKE :t"), {"t": f"{tag}\\_%"}).all()
        owners = set(connection.execute(sa.text(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname LIKE :p"
            " UNION SELECT tableowner FROM pg_tables WHERE schemaname LIKE :p"),
            {"p": f"{tag}\\_orderflow\\_%"}).scalars())
    assert sorted(rows) == sorted((r, True, False) for r in role_names(tag).values())
    assert owners == {make_url(postgres_url).username}  # the services own nothing
    again = run_cli(["db", "upgrade", "--admin-url", postgres_url], roles_env.environ)
    assert again.code == 0, again.stderr
    assert _passwords(path) == passwords  # kept: running services stay logged in


def _passwords(path: Path) -> dict[str, str]:
    """Role → password, from the pgpass lines (no field of ours holds an escaped `:`)."""
    return {line.split(":")[3]: line.split(":")[4] for line in path.read_text().splitlines()}


def test_the_servers_verifier_is_the_password_in_the_file(
        provisioned: Env, postgres_url: str, tag: str) -> None:
    """Test servers trust 127.0.0.1, so a login proves no password: check the SCRAM
    verifier itself (pg_authid: superusers only)."""
    with admin(postgres_url) as connection:
        if not connection.exec_driver_sql("SELECT rolsuper FROM pg_roles"
                                          " WHERE rolname = current_user").scalar_one():
            pytest.skip("pg_authid is readable by superusers only")
        verifiers = {str(role): str(verifier) for role, verifier in connection.execute(sa.text(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE :t"),
            {"t": f"{tag}\\_%"})}
    passwords = _passwords(credentials_file(provisioned.settings))
    assert set(verifiers) == set(passwords)
    for role, verifier in verifiers.items():
        assert _scram_matches(verifier, passwords[role]), role
        assert not _scram_matches(verifier, passwords[role] + "x")


def _scram_matches(verifier: str, password: str) -> bool:
    """RFC 5802's StoredKey from `password` and the verifier's salt and iterations."""
    _, iterations_salt, keys = verifier.split("$")
    iterations, salt = iterations_salt.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                 int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return base64.b64encode(hashlib.sha256(client_key).digest()).decode() == keys.split(":")[0]


def test_the_inventory_role_is_denied_the_payment_schema(
        connect: Callable[[str], sa.Connection], provisioned: Env, tag: str) -> None:
    payment = schema_name(provisioned.settings, "payment")
    with connect("inventory") as connection:
        assert login(connection) == f"{tag}_inventory"
        assert connection.exec_driver_sql("SELECT count(*) FROM events").scalar_one() == 0
        with pytest.raises(sa.exc.ProgrammingError, match=f"{DENIED} for schema {payment}"):
            connection.exec_driver_sql(f'SELECT * FROM "{payment}".events')


def test_events_are_append_only_for_the_owning_service(
        connect: Callable[[str], sa.Connection], tag: str) -> None:
    with connect("order") as connection:
        assert login(connection) == f"{tag}_order"
        connection.execute(sa.text(
            "INSERT INTO events (event_id, stream_id, version, type, data, occurred_at,"
            " correlation_id) VALUES ('e1', 'order-1', 1, 't', '{}', 'now', 'order-1')"))
        connection.commit()
        for statement in ("UPDATE events SET type = 'forged'", "DELETE FROM events",
                          "TRUNCATE events"):
            with pytest.raises(sa.exc.ProgrammingError, match=f"{DENIED} for table events"):
                connection.exec_driver_sql(statement)
            connection.rollback()
        assert connection.exec_driver_sql("SELECT type FROM events").scalar_one() == "t"


def test_the_projector_role_writes_only_read_models(
        connect: Callable[[str], sa.Connection], provisioned: Env) -> None:
    order = schema_name(provisioned.settings, "order")
    with connect("projector") as connection:
        connection.exec_driver_sql("INSERT INTO projected_events VALUES ('e1')")  # a read model
        connection.rollback()
        for statement in ("INSERT INTO events (event_id, stream_id, version, type, data,"
                          " occurred_at, correlation_id) VALUES ('e', 's', 1, 't', '', '', '')",
                          "INSERT INTO timers VALUES ('k', 'k', 'now')",
                          "CREATE TABLE notes (i int)",
                          f'SELECT * FROM "{order}".events'):
            with pytest.raises(sa.exc.ProgrammingError, match=DENIED):
                connection.exec_driver_sql(statement)
            connection.rollback()


def test_plain_upgrade_of_a_template_only_checks(roles_env: Env, postgres_url: str) -> None:
    """Without --admin-url the roles may not migrate: refused while a store needs it,
    a no-op once the administrator's run migrated them (as `demo` and `up` expect)."""
    result = run_cli(["db", "upgrade"], roles_env.environ)  # no role yet: no login
    assert result.code == 1
    assert result.stderr.count("\n") == 1 and "--admin-url" in result.stderr
    done = run_cli(["db", "upgrade", "--admin-url", postgres_url], roles_env.environ)
    assert done.code == 0, done.stderr
    again = run_cli(["db", "upgrade", "--json"], roles_env.environ)
    assert again.code == 0, again.stderr
    assert {d["revision"] for d in json.loads(again.stdout).values()} == {migrations.HEAD}


def _nothing_made(env: Env, postgres_url: str, tag: str) -> None:
    with admin(postgres_url) as connection:
        made = connection.execute(sa.text(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE :t UNION ALL SELECT nspname"
            " FROM pg_namespace WHERE nspname LIKE :t"), {"t": f"{tag}\\_%"}).scalars().all()
    assert made == []
    assert not credentials_file(env.settings).exists()


def test_an_admin_url_that_cannot_connect_is_one_line_and_makes_nothing(
        roles_env: Env, postgres_url: str, tag: str) -> None:
    away = make_url(postgres_url).set(port=1, password="s3cret-XYZ")
    result = run_cli(["db", "upgrade", "--admin-url", away.render_as_string(hide_password=False)],
                     roles_env.environ)
    assert result.code == 1
    assert result.stderr.count("\n") == 1 and "cannot connect to" in result.stderr
    assert "Traceback" not in result.stderr and "s3cret-XYZ" not in result.stderr
    _nothing_made(roles_env, postgres_url, tag)


def test_an_admin_who_cannot_create_roles_is_told_so_and_nothing_is_made(
        roles_env: Env, postgres_url: str, tag: str) -> None:
    weak = f"{tag}_weak"
    with admin(postgres_url) as connection:
        connection.exec_driver_sql(f"CREATE ROLE \"{weak}\" LOGIN PASSWORD 'weak-pw'")
    try:
        weak_url = make_url(postgres_url).set(username=weak, password="weak-pw")
        result = run_cli(["db", "upgrade", "--admin-url",
                          weak_url.render_as_string(hide_password=False)], roles_env.environ)
        assert result.code == 1
        assert result.stderr.count("\n") == 1 and "cannot create roles" in result.stderr
        with admin(postgres_url) as connection:
            connection.exec_driver_sql(f'DROP ROLE "{weak}"')
        _nothing_made(roles_env, postgres_url, tag)
    finally:
        with admin(postgres_url) as connection:
            connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{weak}"')


def test_a_failure_halfway_leaves_no_role_and_no_password_file(
        roles_env: Env, postgres_url: str, tag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The roles and grants are one transaction: the fifth store's grants fail, and the
    four roles made before are gone with it."""
    real = roles.grants

    def failing(role: roles.ServiceRole, relations: list[roles.Relation]) -> list[str]:
        return [*real(role, relations), *(["SELECT 1/0"] if role.store == STORES[4] else [])]

    monkeypatch.setattr(roles, "grants", failing)
    with pytest.raises(roles.RoleSetupFailed, match=r"nothing was created\): division by zero"):
        roles.provision(roles_env.settings, postgres_url)
    with admin(postgres_url) as connection:
        made = connection.execute(sa.text("SELECT rolname FROM pg_roles WHERE rolname LIKE :t"),
                                  {"t": f"{tag}\\_%"}).scalars().all()
    assert made == []
    path = credentials_file(roles_env.settings)
    assert not path.exists() and list(path.parent.iterdir()) == []


SERVICES = ("order", "inventory", "payment", "shipping", "orchestrator", "projector")


@pytest.fixture
def env(provisioned: Env, kafka: str) -> Env:
    """The saga's world, seeded through the CLI as each store's own role."""
    provisioned.environ.update(KAFKA_BOOTSTRAP_SERVERS=kafka, **world.PATIENT)
    commands = [["topics", "create"]]
    commands += [["stock", "add", sku, str(qty)] for sku, qty in world.STOCK.items()]
    commands += [["credit", "set", c, f"{cents // 100}.{cents % 100:02d}"]
                 for c, cents in world.CREDIT_CENTS.items()]
    for args in commands:
        result = run_cli(args, provisioned.environ)
        assert result.code == 0, result.stderr
    return Env(Settings.from_env(provisioned.environ), provisioned.environ)


@pytest.mark.kafka
def test_both_flows_run_with_a_role_per_service(env: Env, system: object,
                                                app: Orderflow) -> None:
    """Every service, its relay and the projector do their whole job under their own
    role; so do prune, the DLQ view and a rebuild of the read models."""
    orders = {world.place(env, "choreography", "BOOK-1=2"): ("confirmed", None),
              world.place(env, "choreography", "BOOK-1=1", customer="bob"):
                  ("rejected", "over_credit"),
              world.place(env, "orchestration", "BOOK-1=1"): ("confirmed", None),
              world.place(env, "orchestration", "BOOK-1=1", ship_to="BR"):
                  ("rejected", "country_not_served")}
    for order_id, outcome in orders.items():
        assert world.final(app, order_id) == outcome
    world.assert_conserved(app)
    for args in (["db", "prune"], ["dlq", "list"], ["sagas", "list"]):
        result = run_cli(args, env.environ)
        assert result.code == 0, (args, result.stderr)
    with app.store("projector").connect() as connection:
        assert login(connection).endswith("_projector")


def test_every_store_checks_it_is_migrated_as_its_role(provisioned: Env) -> None:
    app = bootstrap(provisioned.settings)
    try:
        for store in STORES:
            with app.store(store).connect() as connection:
                assert login(connection).endswith(f"_{store}")
    finally:
        app.close()
