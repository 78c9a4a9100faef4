"""The PostgreSQL role plan without a server: who may do what, which settings are refused
(one line, before anything is touched), and the pgpass file the passwords live in."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from adapters.settings import Settings, SettingsError
from adapters.sql import roles
from adapters.sql.engine import STORES
from adapters.sql.roles import READ, WRITE, Relation, RoleSetupRefused, ServiceRole
from cli.main import run

ADMIN = "postgresql://admin:pw@db.example:5432/shop"
TEMPLATE = "postgresql://orderflow_{service}@db.example:5432/shop"


def settings(url: str | None = TEMPLATE, prefix: str = "") -> Settings:
    environ = {"ORDERFLOW_TOPIC_PREFIX": prefix}
    if url is not None:
        environ["ORDERFLOW_DATABASE_URL"] = url
    return Settings.from_env(environ)


def test_events_are_append_only_and_the_projector_appends_nothing() -> None:
    for store in STORES:
        assert roles.privileges(store, "alembic_version") == READ
        assert roles.privileges(store, "outbox") == WRITE  # relay marks, retention, redrive
    assert roles.privileges("payment", "events") == ("SELECT", "INSERT")
    assert roles.privileges("order", "timers") == WRITE
    assert roles.privileges("projector", "events") == READ
    assert roles.privileges("projector", "timers") == READ
    assert roles.privileges("projector", "order_view") == WRITE
    assert roles.privileges("projector", "consumer_positions") == WRITE


def test_grants_start_from_nothing_and_cover_the_sequences_a_role_inserts_through() -> None:
    relations = [Relation("events", "r"), Relation("events_position_seq", "S", "events"),
                 Relation("outbox", "r"), Relation("outbox_id_seq", "S", "outbox"),
                 Relation("loose_seq", "S")]
    role = ServiceRole("projector", "p_orderflow_projector", "p_projector", ("h", "1", "d"))
    statements = roles.grants(role, relations)
    assert statements[:3] == [
        'REVOKE ALL ON ALL TABLES IN SCHEMA "p_orderflow_projector" FROM "p_projector"',
        'REVOKE ALL ON ALL SEQUENCES IN SCHEMA "p_orderflow_projector" FROM "p_projector"',
        'REVOKE ALL ON SCHEMA "p_orderflow_projector" FROM "p_projector"']
    assert statements[3:] == [
        'GRANT USAGE ON SCHEMA "p_orderflow_projector" TO "p_projector"',
        'GRANT SELECT ON TABLE "p_orderflow_projector"."events" TO "p_projector"',
        'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "p_orderflow_projector"."outbox"'
        ' TO "p_projector"',
        'GRANT USAGE, SELECT ON SEQUENCE "p_orderflow_projector"."outbox_id_seq"'
        ' TO "p_projector"']
    order = roles.grants(ServiceRole("order", "s", "r", ("h", "1", "d")), relations)
    assert 'GRANT USAGE, SELECT ON SEQUENCE "s"."events_position_seq" TO "r"' in order


def test_the_template_names_each_stores_role() -> None:
    planned = roles.plan(settings(prefix="run-1."), ADMIN)
    assert [r.store for r in planned] == list(STORES)
    inventory = planned[STORES.index("inventory")]
    assert inventory == ServiceRole("inventory", "run_1_orderflow_inventory",
                                    "orderflow_inventory", ("db.example", "5432", "shop"))


@pytest.mark.parametrize(("url", "admin", "message"), [
    (TEMPLATE, "sqlite:///x", "--admin-url: not a PostgreSQL URL"),
    (TEMPLATE, "mysql://u@h/shop", "--admin-url: not a PostgreSQL URL"),
    (None, ADMIN, "needs ORDERFLOW_DATABASE_URL to be a PostgreSQL template"),
    ("sqlite:///tmp/x", ADMIN, "needs ORDERFLOW_DATABASE_URL to be a PostgreSQL template"),
    ("postgresql://orderflow@db.example/shop", ADMIN, "has no {service}"),
    ("postgresql://o_{service}:pw@db.example/shop", ADMIN, "leave the password out"),
    ("postgresql://orderflow@db.example/shop_{service}", ADMIN, "in the user name"),
    ("postgresql://Orderflow_{service}@db.example/shop", ADMIN, "is not a role name"),
    ("postgresql://" + "x" * 60 + "_{service}@db.example/shop", ADMIN, "is not a role name"),
    ("postgresql://o_{service}@db.example/other", ADMIN, "names database 'shop', but"),
    ("postgresql://o_{service}@db.example", ADMIN, "ORDERFLOW_DATABASE_URL names None"),
])
def test_a_plan_that_cannot_work_is_refused_in_one_line(
        url: str | None, admin: str, message: str) -> None:
    with pytest.raises(RoleSetupRefused, match=message) as raised:
        roles.plan(settings(url), admin)
    assert "\n" not in str(raised.value)


def test_sqlite_has_no_role_template() -> None:
    with pytest.raises(SettingsError, match="SQLite keeps a file per service"):
        Settings.from_env({"ORDERFLOW_DATABASE_URL": "sqlite:///data/{service}"})


def test_each_store_connects_with_its_own_user() -> None:
    chosen = settings()
    assert chosen.per_service_roles and not settings(ADMIN).per_service_roles
    assert chosen.database_url_of("payment") == \
        "postgresql://orderflow_payment@db.example:5432/shop"
    assert settings(ADMIN).database_url_of("payment") == ADMIN


@pytest.mark.parametrize(("url", "argv", "needle"), [
    (TEMPLATE, ["--admin-url", "sqlite:///x"], "not a PostgreSQL URL"),
    ("postgresql://orderflow@127.0.0.1:1/shop", ["--admin-url", ADMIN], "has no {service}"),
])
def test_db_upgrade_refusals_are_one_line_exit_2_and_create_nothing(
        url: str, argv: list[str], needle: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", url.replace("db.example:5432", "127.0.0.1:1"))
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    assert run(["db", "upgrade", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not (tmp_path / "data").exists()


def test_the_pgpass_file_is_private_keeps_other_lines_and_escapes(tmp_path: Path) -> None:
    path = tmp_path / "pgpass"
    path.write_text("other.host:5432:*:someone:theirs\n")
    role = ServiceRole("order", "s", "o_order", ("fe80::1", "5432", "a\\b"))
    staged = roles._stage_pgpass(path, [role], {"o_order": "pw:1"})
    assert stat.S_IMODE(staged.stat().st_mode) == 0o600
    assert staged.read_text() == ("other.host:5432:*:someone:theirs\n"
                                  "fe80\\:\\:1:5432:a\\\\b:o_order:pw\\:1\n")
    staged.replace(path)
    assert roles._known_password(path, role) == "pw:1"
    assert roles._known_password(path, ServiceRole("order", "s", "o_x", role.server)) is None
    again = roles._stage_pgpass(path, [role], {"o_order": "new"})
    assert again.read_text().splitlines()[1:] == ["fe80\\:\\:1:5432:a\\\\b:o_order:new"]


def test_plain_upgrade_as_the_roles_says_the_admin_must_migrate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", TEMPLATE.replace("db.example:5432", "127.0.0.1:1"))
    monkeypatch.setenv("ORDERFLOW_DATA_DIR", str(tmp_path / "data"))
    assert run(["db", "upgrade"]) == 1  # nobody answers at port 1: nothing can be checked
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be checked as its role" in err
    assert "--admin-url" in err and "Traceback" not in err
